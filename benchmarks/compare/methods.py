"""The registry of compared methods: each one object with a name, how it tests one realisation, and
what it reports.

Two kinds. A shared-null method (SparKer and the fixed-centre kernel NPLM) is a full fit per test, so
``statistic`` gives the t of one fit (a list, one per width of a multi-scale fit) and the run
calibrates every realisation on one shared null per case (run.py); ``complete_test`` is the test as
a user runs it, with its own toys, which the run times. The other methods calibrate themselves
cheaply on every realisation: ``complete_test`` only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from sparker_core import SparKer
from sparker_core.baselines import (
    classifier_two_sample_test,
    fixed_centers_np_statistic,
    fixed_centers_np_test,
    knn_two_sample_test,
    mmd_permutation_test,
)
from sparker_core.config import AUTO_SIGMA_FINAL_FRACTION, auto_sigmas

MULTI_FRACTIONS = (0.2, 0.35, 0.6)
LADDER_FRACTIONS = (0.15, 0.2, 0.3, 0.45, 0.6, 0.75, 0.9)
# Variants of "sparker-ladder" with other settings, for choosing the default's other parameters the
# same way (benchmarks/choose_widths.py --method NAME).
LADDER_VARIANTS = {
    "sparker-ladder": {},
    "sparker-ladder-l1": {"sparsity": 1.0},
    "sparker-ladder-l3": {"sparsity": 3.0},
    "sparker-ladder-k16-l1": {"n_kernels": 16, "sparsity": 1.0},
    "sparker-ladder-e100": {"max_epochs": 100},
}


def n_centers(data) -> int:
    return min(200, len(data))


def widths(reference, seed: int, fractions) -> list[float]:
    """Final widths: ``fractions`` times the median pairwise reference distance that SparKer's "auto"
    widths use (default preprocessing "none": the raw reference)."""
    median = auto_sigmas(np.asarray(reference, dtype=np.float64), seed)[0]
    return [f * median for f in fractions]


@dataclass(frozen=True)
class SparkerMethod:
    """A SparKer estimator: ``fractions`` None keeps its own widths (the default "auto", several widths
    combined by min p); else the final widths are these fractions of the median reference distance."""

    name: str
    fractions: tuple | None = None
    options: dict = field(default_factory=dict)  # other SparKer arguments
    shared_null = True
    reports_regions = True  # a fit has regions: the run records its top region's share of signal rows

    def estimator(self, reference, seed: int) -> SparKer:
        if self.fractions is None:
            return SparKer(seed=seed, **self.options)
        values = widths(reference, seed, self.fractions)
        return SparKer(seed=seed, sigma_final=values if len(values) > 1 else values[0], **self.options)

    def statistic(self, reference, data, seed: int) -> tuple[list[float], SparKer]:
        """The t of one fit, one per width, and the fitted model."""
        model = self.estimator(reference, seed).fit(reference, data)
        return [float(t) for t in model.t_scales_], model

    def complete_test(self, reference, data, seed: int, n_toys: int):
        return self.estimator(reference, seed).fit(reference, data).calibrate(n_toys=n_toys, seed=seed)

    def calibration(self, n_toys: int) -> str:
        return f"{n_toys} permutations"

    @staticmethod
    def top_region_shares(model: SparKer, is_signal: np.ndarray) -> list[float]:
        """Per width: the share of the top region's data members (``explain()`` row 0, the first excess
        region) that are signal rows."""
        shares = []
        for scale in range(len(model.t_scales_)):
            members = np.asarray(model.show_scale(scale).explain().iloc[0]["members_data"], dtype=int)
            shares.append(float(is_signal[members].mean()) if members.size else np.nan)
        return shares


@dataclass(frozen=True)
class FixedCentresMethod:
    """The kernel NPLM with fixed centres on data rows (at most one centre per data row, 200 at most)."""

    name: str = "fixed"
    shared_null = True
    reports_regions = False

    def statistic(self, reference, data, seed: int) -> tuple[list[float], None]:
        return [float(fixed_centers_np_statistic(reference, data, n_centers=n_centers(data), seed=seed))], None

    def complete_test(self, reference, data, seed: int, n_toys: int):
        return fixed_centers_np_test(reference, data, n_centers=n_centers(data), n_toys=n_toys, seed=seed)

    def calibration(self, n_toys: int) -> str:
        return f"{n_toys} permutations"


@dataclass(frozen=True)
class OwnCalibrationMethod:
    """A test calibrated per realisation: ``test(reference, data, n_toys, seed)`` gives its result."""

    name: str
    test: Callable
    permutations: bool = True  # False: an exact test, no permutations
    shared_null = False
    reports_regions = False

    def complete_test(self, reference, data, seed: int, n_toys: int):
        return self.test(reference, data, n_toys, seed)

    def calibration(self, n_toys: int) -> str:
        return f"{n_toys} permutations" if self.permutations else "binomial"


def _mmd(reference, data, n_toys, seed):
    return mmd_permutation_test(reference, data, n_permutations=n_toys, seed=seed)


def _mmd_agg(reference, data, n_toys, seed):
    return mmd_permutation_test(reference, data, n_permutations=n_toys, bandwidth="aggregate", seed=seed)


def _c2st(reference, data, n_toys, seed):  # the exact one-sided binomial test of the held-out accuracy
    return classifier_two_sample_test(reference, data, statistic="accuracy", seed=seed)


def _knn(reference, data, n_toys, seed):
    return knn_two_sample_test(reference, data, n_permutations=n_toys, seed=seed)


# "sparker" is the default SparKer(seed=...): with sigma_final="auto" it fits the final widths
# AUTO_SIGMA_FINAL_FRACTIONS (times the median pairwise reference distance) together, and its p-value
# combines the per-width p-values by their minimum over the same null draws, as ``calibrate()`` does
# with its toys. "sparker-random": the default with init="random". "sparker-multi": the widths
# MULTI_FRACTIONS. "sparker-single": one width, 0.35 x median. "sparker-ladder" (and its variants):
# every width of LADDER_FRACTIONS in one fit, for choosing the default's widths offline on the panel's
# tuning half (benchmarks/choose_widths.py): a width's t in a multi-scale fit is the t of a single fit
# at that width (the same starts and training).
REGISTRY = {
    method.name: method
    for method in (
        SparkerMethod("sparker"),
        OwnCalibrationMethod("mmd", _mmd),
        OwnCalibrationMethod("mmd-agg", _mmd_agg),
        OwnCalibrationMethod("c2st", _c2st, permutations=False),
        OwnCalibrationMethod("knn", _knn),
        FixedCentresMethod(),
        SparkerMethod("sparker-random", options={"init": "random"}),
        SparkerMethod("sparker-multi", MULTI_FRACTIONS),
        SparkerMethod("sparker-single", (AUTO_SIGMA_FINAL_FRACTION,)),
        *[SparkerMethod(name, LADDER_FRACTIONS, options) for name, options in LADDER_VARIANTS.items()],
    )
}
METHODS = tuple(REGISTRY)
DEFAULT_METHODS = METHODS[:6]  # the others on request (--methods)


def shared_null(methods) -> list[str]:
    """The names among ``methods`` calibrated on the case's shared null."""
    return [m for m in methods if REGISTRY[m].shared_null]
