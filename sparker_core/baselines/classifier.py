"""Classifier two-sample test (C2ST; Lopez-Paz & Oquab 2017; Kim et al. 2021), cross-fitted.

The pooled points are split into ``n_folds`` stratified folds; for each fold a fresh copy of the
classifier is trained on the other folds (reference = class 0, data = class 1, the two classes
weighted equally) and scores the held-out fold, so every point is scored once by a model that
never saw it. Two statistics:

- ``"accuracy"``: accuracy on a class-balanced held-out set (in each fold all points of the
  smaller class and as many points of the larger class, drawn at random). Under the null a
  held-out point's label is independent of the prediction made for it and either label has
  probability 1/2, so within a fold (given the other folds) the number of correct predictions is
  at most as spread as Binomial(n_fold, 1/2); the default calibration is the one-sided binomial
  test of the total over folds. That total ignores the dependence between folds (fold j's model
  was trained on fold k's labels and vice versa), so it is exact only up to that dependence:
  measured on 30 no-signal re-splits of the wiki sample (2,000 reference and 400 data sentences,
  logistic regression), 1 rejection at 0.05.
- ``"auc"``: the area under the ROC curve of all held-out scores pooled (the Mann-Whitney U of
  the data scores against the reference scores, divided by N_R N_D). It uses every held-out point
  and the whole ranking, so it is the stronger statistic for rare anomalies; it needs
  ``n_permutations``.

With ``n_permutations``, either statistic is calibrated by permutation with refitting: the whole
procedure (stratified folds, one fit per fold, the statistic) is rerun on randomly relabelled
pooled points with the original sizes, so the test is exact. That costs n_folds fits per
permutation, a loop over fits (each is a scikit-learn ``fit``, like each SparKer toy is a
training). Permuting the held-out labels with the fitted models kept would cost no refit but is
anti-conservative after cross-fitting: with a symmetric smoother, fold j's agreement with model j
and fold k's with model k are the same bilinear form of their labels, so they are positively
correlated; measured on the same 30 wiki re-splits (AUC, 99 permutations), 5 of 30 no-signal
splits were rejected at 0.05 (p = 0.01, 0.01, 0.04, 0.05, 0.05). So this module does not offer it.
"""

from __future__ import annotations

import inspect

import numpy as np
from scipy import stats

from ..calibration import TestResult, make_result
from .._validation import check_choice, check_int
from ._common import analytic_result, binomial_log_sf, check_count, check_pair, role_columns

STATISTICS = ("accuracy", "auc")


def default_classifier(seed: int):
    """Standardised L2 logistic regression, class-balanced.

    Measured on the 6,000 x 384 wiki sample on this 2-core CPU: about 0.06 s per fold, and the
    binomial accuracy test detects the rare topic (p = 0.007), while
    ``HistGradientBoostingClassifier(max_iter=100)`` took 11 s per fold on one thread and 90 s on
    two contended ones (OpenMP spinning). A linear score cannot isolate a bump inside the bulk
    of a low-dimensional sample: pass a non-linear ``classifier`` for such problems.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression(class_weight="balanced", max_iter=1000, random_state=seed))


def _takes_sample_weight(model) -> bool:
    return "sample_weight" in inspect.signature(model.fit).parameters


def _scores(model, x: np.ndarray) -> np.ndarray:
    """A larger-is-more-data score: the class-1 probability, or the decision function."""
    if hasattr(model, "predict_proba"):
        return model.predict_proba(x)[:, 1]
    return np.asarray(model.decision_function(x), dtype=float)


def cross_fitted_scores(x: np.ndarray, y: np.ndarray, classifier, n_folds: int, seed: int):
    """Held-out score and 0/1 prediction of every row, and its fold: three arrays of shape (N,)."""
    from sklearn.base import clone
    from sklearn.model_selection import StratifiedKFold

    folds = np.empty(y.size, dtype=np.int64)
    scores, predicted = np.empty(y.size), np.empty(y.size)
    splitter = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    for fold, (train, test) in enumerate(splitter.split(x, y)):
        model = clone(classifier)
        counts = np.bincount(y[train], minlength=2)
        weight = (0.5 * y[train].size / counts)[y[train]]  # both classes weigh the same in training
        if _takes_sample_weight(model):
            model.fit(x[train], y[train], sample_weight=weight)
        else:
            model.fit(x[train], y[train])
        folds[test] = fold
        scores[test] = _scores(model, x[test])
        predicted[test] = np.asarray(model.predict(x[test])) == 1
    return scores, predicted, folds


def held_out_statistic(x: np.ndarray, y: np.ndarray, classifier, n_folds: int, seed: int, statistic: str):
    """The cross-fitted statistic of labels y (0 reference, 1 data): (value, n_correct, n_eval).

    A deterministic function of (x, y, classifier, n_folds, seed): the folds, the models and the
    balanced evaluation rows all come from ``seed``. n_correct and n_eval are None for "auc".
    """
    scores, predicted, folds = cross_fitted_scores(x, y, classifier, n_folds, seed)
    if statistic == "auc":
        n_data = int(y.sum())
        rank_sum = stats.rankdata(scores)[y == 1].sum()  # U + n_D (n_D + 1) / 2
        return (rank_sum - n_data * (n_data + 1) / 2.0) / ((y.size - n_data) * n_data), None, None
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(5,)))
    rows = _balanced_rows(rng, y, folds, n_folds)  # evaluation set: balanced within each fold
    correct = int(np.sum(predicted[rows] == y[rows]))
    return correct / rows.size, correct, rows.size


def classifier_two_sample_test(
    reference,
    data,
    classifier=None,
    n_folds: int = 5,
    seed: int = 0,
    n_permutations: int | None = None,
    statistic: str = "accuracy",
) -> TestResult:
    """Cross-fitted classifier two-sample test between ``reference`` and ``data``.

    reference: array of shape (n_reference, n_features); data: (n_data, n_features).
    classifier: an unfitted scikit-learn classifier, cloned for each fold and trained with
    class-balancing sample weights when its ``fit`` takes ``sample_weight`` (a Pipeline does not:
    balance it inside, as the default does with ``class_weight="balanced"``); default standardised
    logistic regression (see ``default_classifier``). statistic: "accuracy" (class-balanced
    held-out accuracy) or "auc" (held-out ROC AUC over all points; needs ``n_permutations``).
    Calibration: with ``n_permutations=None`` the one-sided binomial test of the accuracy (method
    "c2st/binomial"; no toys, ``pvalue_ci`` is the point p; approximate after cross-fitting, see
    the module docstring); with a number, exact permutations with refitting (method
    "c2st/permutation"; (1 + n_permutations) * n_folds fits, memory O(n) beyond one fit),
    p = (1 + #{t_perm >= t_obs}) / (1 + n_permutations). scikit-learn is imported only here.
    """
    reference, data = check_pair(reference, data)
    check_int("n_folds", n_folds, 2)
    smaller = min(reference.shape[0], data.shape[0])
    if n_folds > smaller:
        raise ValueError(f"`n_folds` must not exceed the size of the smaller sample ({smaller}); got {n_folds}.")
    check_int("seed", seed, 0)
    check_choice("statistic", statistic, STATISTICS)
    if n_permutations is not None:
        check_count("n_permutations", n_permutations)
    elif statistic == "auc":
        raise ValueError("`statistic='auc'` has no exact null here; give `n_permutations` (e.g. 1000).")
    if classifier is None:
        classifier = default_classifier(seed)
    elif not (hasattr(classifier, "fit") and hasattr(classifier, "predict")):
        raise TypeError(f"`classifier` must be a scikit-learn classifier with fit and predict; got {type(classifier).__name__}.")

    x = np.concatenate([reference, data])
    y = np.r_[np.zeros(reference.shape[0], dtype=np.int64), np.ones(data.shape[0], dtype=np.int64)]
    t_obs, correct, n_eval = held_out_statistic(x, y, classifier, n_folds, seed, statistic)
    label = f"statistic={statistic}, folds={n_folds}, classifier={type(classifier).__name__}"
    if n_permutations is None:
        return analytic_result(t_obs, binomial_log_sf(correct, n_eval), "c2st/binomial", label)
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(6,)))
    roles = role_columns(rng, [np.arange(y.size)], [data.shape[0]], n_permutations, y.size, np.int8)  # (N, P)
    null = np.array([held_out_statistic(x, roles[:, b].astype(np.int64), classifier, n_folds, seed, statistic)[0]
                     for b in range(n_permutations)])  # one cross-fit per permutation: a loop over fits
    return make_result(t_obs, null, "c2st/permutation", n_permutations, label=label)


def _balanced_rows(rng: np.random.Generator, y: np.ndarray, folds: np.ndarray, n_folds: int) -> np.ndarray:
    """Rows of a class-balanced evaluation set: per fold, the smaller class whole and an equal random
    draw of the larger one."""
    keep = []
    for fold in range(n_folds):
        ref, dat = np.flatnonzero((folds == fold) & (y == 0)), np.flatnonzero((folds == fold) & (y == 1))
        size = min(ref.size, dat.size)
        keep += [rng.choice(ref, size, replace=False), rng.choice(dat, size, replace=False)]
    return np.sort(np.concatenate(keep))
