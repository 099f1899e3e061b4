"""Baseline two-sample tests, calibrated like SparKer and returning the same ``TestResult``.

- ``mmd_permutation_test``: unbiased Gaussian-kernel MMD^2 (median bandwidth, or an aggregated grid).
- ``classifier_two_sample_test``: cross-fitted classifier (C2ST), exact binomial or permutations.
- ``knn_two_sample_test``: nearest-neighbour statistic (Schilling/Henze, or its data-only variant).
- ``fixed_centers_np_test``: kernel NPLM with many fixed centres, SparKer's loss and toys;
  ``fixed_centers_np_statistic``: its observed t alone (one fit), for a null built elsewhere.

All validate their inputs at this edge, take ``seed`` as an argument (no global RNG), and bound
memory with ``batch``. scikit-learn is imported only by the classifier test, when it is called.
"""

from .classifier import classifier_two_sample_test
from .fixed_centers import fixed_centers_np_statistic, fixed_centers_np_test
from .knn import knn_two_sample_test
from .mmd import mmd_permutation_test

__all__ = [
    "classifier_two_sample_test",
    "fixed_centers_np_statistic",
    "fixed_centers_np_test",
    "knn_two_sample_test",
    "mmd_permutation_test",
]
