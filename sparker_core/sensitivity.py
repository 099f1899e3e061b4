"""Sensitivity: would this test have found k anomalies of this kind?

The kind is a set of candidate rows (rows chosen on the map, rows with a metadata value, or a
separate array). For each count k, pseudo-experiments are built from the user's reference alone:
each draws a pseudo-reference and pseudo-data from disjoint background rows (the reference without
the candidates) and puts k candidate rows, drawn without replacement, in place of k pseudo-data
rows, so no real row appears twice in one pseudo-experiment and every pseudo-experiment has the
same sizes. Every pseudo-experiment is one fit; all are calibrated on one shared null of ``n_null``
no-injection pseudo-experiments: p = (1 + #{t_null >= t}) / (1 + n_null), several widths combined
by min p over the same null draws (``combined_statistics``), and SparKer's fixed-centre companion
test with them as ``calibrate`` does (``companion_statistics``). With no injection a pseudo-experiment
and the null draws are exchangeable, so p is valid, and the null is paid once for every k.

The power at k is the rejection rate at ``alpha`` over the pseudo-experiments, with its
Clopper-Pearson interval; the same curve is measured for the MMD baseline (median bandwidth) with
the same shared null and the same draws.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ._validation import check_int, fail, in_range, is_int
from .baselines import mmd_permutation_test
from .data import check_points, check_same_width
from .estimator import SparKer
from .executors import resolve_executor  # imports ray only when a Ray executor runs
from .problem import resolve_device
from .calibration import observed_statistics
from .config import default_params
from .significance import clopper_pearson, combined_statistics, companion_statistics, empirical_pvalue

METHODS = ("sparker", "mmd")
LEVELS = (0.5, 0.9)  # the powers whose smallest count is reported
_NULL_KEY, _TEST_KEY = 0, 1  # spawn keys: null draw j is (0, j), pseudo-experiment r at count k is (1, k, r)


# ------------------------------------------------------------------------------ pseudo-experiments
@dataclass(frozen=True)
class Experiment:
    """The rows of one pseudo-experiment: disjoint background rows and distinct candidate rows."""

    reference_rows: np.ndarray  # (n_reference,) rows of the background forming the pseudo-reference
    data_rows: np.ndarray  # (n_data - k,) rows of the background in the pseudo-data
    injected_rows: np.ndarray  # (k,) rows of the candidates in the pseudo-data (its last k rows)


def draw_experiment(seed: int, n_background: int, n_candidates: int, n_reference: int, n_data: int, k: int) -> Experiment:
    """One pseudo-experiment's rows, from ``numpy.random.default_rng(seed)``: a permutation of the
    background gives the pseudo-reference (its first ``n_reference``) and the pseudo-data's
    ``n_data - k`` background rows (the next ones); then ``k`` candidates without replacement."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(n_background)
    injected = rng.choice(n_candidates, k, replace=False)
    return Experiment(order[:n_reference], order[n_reference : n_reference + n_data - k], injected)


def shared_null_test(t, null, companion: bool = False) -> tuple[float, float]:
    """(statistic, p) of one test against a shared null of separate no-signal fits.

    t: the test's statistic, one per width (array of shape (n_widths,)); null: the null fits'
    statistics, array of shape (n_null, n_widths). One width: t itself and
    p = (1 + #{t_null >= t}) / (1 + n_null); several: -log(min p) of the widths, calibrated on the
    same null draws (``combined_statistics``), and its p. ``companion``: the last entry is the
    fixed-centre companion's t, combined with the widths' statistic as ``calibrate`` does
    (``companion_statistics``).
    """
    t = np.atleast_1d(np.asarray(t, dtype=float))
    null = np.asarray(null, dtype=float).reshape(-1, t.size)
    if companion:
        stat, stat_null = companion_statistics(t[:-1], null[:, :-1].T, "minp", t[-1], null[:, -1])
        return stat, empirical_pvalue(stat, stat_null)
    if t.size == 1:
        return float(t[0]), empirical_pvalue(t[0], null[:, 0])
    stat, stat_null = combined_statistics(t, null.T, "minp")
    return stat, empirical_pvalue(stat, stat_null)


def _seed(seed: int, *key: int) -> int:
    """An independent seed for one pseudo-experiment: its draw and the fit's own randomness."""
    return int(np.random.SeedSequence(seed, spawn_key=key).generate_state(1)[0])


def _sparker_t(reference, data, seed: int, options: dict) -> list[float]:
    """t of every width of one fit, then the companion test's t when it runs, as ``calibrate`` takes them."""
    return [float(t) for t in observed_statistics(SparKer(seed=seed, **options).fit(reference, data))]


def _mmd_t(reference, data, seed: int, options: dict) -> list[float]:
    return [float(mmd_permutation_test(reference, data, n_permutations=1, seed=seed).t_obs)]


STATISTICS = {"sparker": _sparker_t, "mmd": _mmd_t}  # method -> t of one fit, one per width


# ------------------------------------------------------------------------------ the plan
@dataclass(frozen=True)
class SensitivityPlan:
    """Checked inputs of a sensitivity run (``plan_sensitivity``)."""

    background: np.ndarray  # (n_background, d) reference rows that are not candidates
    candidates: np.ndarray  # (n_candidates, d) rows of the kind
    counts: tuple[int, ...]  # injected candidate rows per pseudo-experiment, increasing
    n_reference: int  # pseudo-reference rows
    n_data: int  # pseudo-data rows (k of them candidates)
    n_experiments: int  # pseudo-experiments per count
    n_null: int  # no-injection fits in the shared null
    methods: tuple[str, ...]  # of METHODS
    alpha: float  # level of each test
    seed: int
    options: dict = field(default_factory=dict)  # SparKer arguments other than seed

    @property
    def companion(self) -> bool:
        """Whether SparKer's statistic includes the fixed-centre companion test (``fixed_kernels`` > 0)."""
        return self.options.get("fixed_kernels", default_params()["fixed_kernels"]) > 0

    @property
    def n_fits(self) -> int:
        """Fits per method: the shared null and every pseudo-experiment."""
        return self.n_null + len(self.counts) * self.n_experiments

    def units(self) -> list[tuple]:
        """The fits in run order: ("null", j) first (every p needs the whole null), then (k, r) count
        by count, so each point of the curve is final as soon as its count is done."""
        tests = [(k, r) for k in self.counts for r in range(self.n_experiments)]
        return [("null", j) for j in range(self.n_null)] + tests

    def experiment(self, unit: tuple) -> Experiment:
        k, index = (0, unit[1]) if unit[0] == "null" else unit
        key = (_NULL_KEY, index) if unit[0] == "null" else (_TEST_KEY, k, index)
        return draw_experiment(_seed(self.seed, *key), len(self.background), len(self.candidates),
                               self.n_reference, self.n_data, k)

    def statistics(self, unit: tuple) -> dict[str, list[float]]:
        """t of every method on one pseudo-experiment (one list per method, one value per width)."""
        rows = self.experiment(unit)
        reference = self.background[rows.reference_rows]
        data = np.concatenate([self.background[rows.data_rows], self.candidates[rows.injected_rows]])
        key = (_NULL_KEY, unit[1]) if unit[0] == "null" else (_TEST_KEY, *unit)
        seed = _seed(self.seed, *key, 1)
        return {m: STATISTICS[m](reference, data, seed, self.options) for m in self.methods}


def default_null(n_experiments: int, alpha: float) -> int:
    """Twice the pseudo-experiments per count, and at least enough for p = 1 / (1 + n_null) to reach alpha / 2."""
    return max(2 * n_experiments, math.ceil(2.0 / alpha) - 1)


def plan_sensitivity(reference, candidates, counts: Sequence[int], n_data: int, n_reference: int | None = None,
                     n_experiments: int = 20, n_null: int | None = None, methods: Sequence[str] = METHODS,
                     alpha: float = 0.05, seed: int = 0, options: dict | None = None) -> SensitivityPlan:
    """Check the inputs of a sensitivity run, at the public edge.

    reference: the background, array of shape (n_background, n_features): reference rows without
    the candidates (``split_kind`` builds it); candidates: array of shape (n_candidates, n_features).
    counts: candidate rows injected per pseudo-experiment (0 measures the type-I error).
    n_data: pseudo-data rows; n_reference: pseudo-reference rows (default: the background left after n_data).
    n_null: no-injection fits in the shared null (default ``default_null``). options: SparKer arguments.
    """
    background = check_points(reference, "reference")
    candidates = check_points(candidates, "candidates", min_rows=1)
    check_same_width(candidates, background)
    check_int("n_data", n_data, 2)
    if n_reference is None:
        n_reference = len(background) - n_data
    check_int("n_reference", n_reference, 2)
    if n_reference + n_data > len(background):
        fail("n_reference + n_data", f"at most the {len(background)} background rows (each pseudo-experiment uses "
             "disjoint rows)", None, got=f"{n_reference} + {n_data}")
    if isinstance(counts, (str, bytes)) or not isinstance(counts, Sequence) or not counts \
            or not all(is_int(k) and k >= 0 for k in counts) or len(set(counts)) < len(counts):
        fail("counts", "a non-empty list of distinct integers >= 0", counts)
    if max(counts) > min(len(candidates), n_data - 2):
        fail("counts", f"at most {min(len(candidates), n_data - 2)} (the candidates, and n_data - 2)", max(counts),
             got=f"a count of {max(counts)}")
    check_int("n_experiments", n_experiments, 1)
    if not in_range(alpha, 0.0, 0.5):
        fail("alpha", "in (0, 0.5]", alpha)
    n_null = default_null(n_experiments, alpha) if n_null is None else n_null
    floor = math.ceil(1.0 / alpha - 1.0 - 1e-9)
    check_int("n_null", n_null, floor)  # p = 1 / (1 + n_null) must reach alpha
    if isinstance(methods, str) or not methods or any(m not in METHODS for m in methods):
        fail("methods", f"a non-empty list of {', '.join(map(repr, METHODS))}", methods)
    check_int("seed", seed, 0)
    options = dict(options or {})
    if "seed" in options:
        fail("options", "SparKer arguments other than `seed` (each fit gets its own)", options)
    SparKer(**options)  # the estimator's own checks run at fit; an unknown name fails here
    return SensitivityPlan(background, candidates, tuple(sorted(int(k) for k in counts)), int(n_reference),
                           int(n_data), int(n_experiments), int(n_null), tuple(methods), float(alpha), int(seed), options)


def split_kind(reference, data, reference_mask=None, data_rows=None) -> tuple[np.ndarray, np.ndarray]:
    """(background, candidates) from a loaded pair: the candidates are the reference rows where
    ``reference_mask`` is True and the data rows ``data_rows`` (indices or a bool mask); the
    background is the other reference rows, so no candidate is also drawn as background."""
    reference, data = np.asarray(reference), np.asarray(data)
    mask = np.zeros(len(reference), bool) if reference_mask is None else np.asarray(reference_mask, bool)
    rows = np.arange(len(data))[np.asarray(data_rows)] if data_rows is not None else np.zeros(0, int)
    return reference[~mask], np.concatenate([reference[mask], data[rows]])


# ------------------------------------------------------------------------------ results
@dataclass(frozen=True)
class SensitivityCurve:
    """The power curve so far: every finished pseudo-experiment's p-value, per method and count."""

    counts: tuple[int, ...]
    methods: tuple[str, ...]
    alpha: float
    n_experiments: int  # pseudo-experiments per count, when complete
    n_null: int  # fits in the shared null, when complete
    null_done: int  # null fits finished
    pvalues: dict  # method -> array of shape (n_counts, n_experiments); NaN where not yet run
    seconds: float  # since the run started

    @property
    def complete(self) -> bool:
        return self.null_done == self.n_null and all(not np.isnan(p).any() for p in self.pvalues.values())

    def power(self, method: str = "sparker") -> pd.DataFrame:
        """Per count: experiments done, rejections at alpha, the rate and its 95% Clopper-Pearson interval."""
        rows = []
        for k, p in zip(self.counts, self.pvalues[method]):
            done = p[~np.isnan(p)]
            rejected = int(np.sum(done <= self.alpha))
            low, high = clopper_pearson(rejected, done.size) if done.size else (0.0, 1.0)
            rows.append((k, done.size, rejected, rejected / done.size if done.size else np.nan, low, high))
        return pd.DataFrame(rows, columns=["count", "n_done", "n_rejected", "power", "low", "high"])

    def smallest_count(self, level: float, method: str = "sparker") -> int | None:
        """The smallest count whose measured power (all its pseudo-experiments done) is at least ``level``; None if none."""
        table = self.power(method)
        reached = table[(table.n_done == self.n_experiments) & (table.power >= level)]
        return int(reached["count"].iloc[0]) if len(reached) else None


@dataclass(frozen=True)
class SensitivityCost:
    """What a run will cost, measured on one pseudo-experiment at the largest count."""

    n_fits: int  # fits per method: the shared null and every pseudo-experiment
    seconds_per_fit: dict  # method -> seconds of one fit
    seconds: float  # n_fits times the sum over methods

    def describe(self) -> str:
        each = ", ".join(f"{m} {s:.2f} s" for m, s in self.seconds_per_fit.items())
        return f"{self.n_fits} fits per method ({each} each): about {self.seconds / 60:.1f} min"


def estimate_cost(plan: SensitivityPlan) -> SensitivityCost:
    """Time one pseudo-experiment at the largest count with every method, times the number of fits."""
    rows = plan.experiment((max(plan.counts), 0))
    reference = plan.background[rows.reference_rows]
    data = np.concatenate([plan.background[rows.data_rows], plan.candidates[rows.injected_rows]])
    seconds = {}
    for m in plan.methods:
        start = time.perf_counter()
        STATISTICS[m](reference, data, plan.seed, plan.options)
        seconds[m] = time.perf_counter() - start
    return SensitivityCost(plan.n_fits, seconds, plan.n_fits * sum(seconds.values()))


def _curve(plan: SensitivityPlan, null: dict, tests: dict, start: float) -> SensitivityCurve:
    pvalues = {}
    for m in plan.methods:
        p = np.full((len(plan.counts), plan.n_experiments), np.nan)
        if len(null[m]) == plan.n_null:
            for (k, r), t in tests[m].items():
                p[plan.counts.index(k), r] = shared_null_test(t, null[m], companion=m == "sparker" and plan.companion)[1]
        pvalues[m] = p
    return SensitivityCurve(plan.counts, plan.methods, plan.alpha, plan.n_experiments, plan.n_null,
                            len(null[plan.methods[0]]), pvalues, time.perf_counter() - start)


def _unit_statistics(plan: SensitivityPlan, unit: tuple) -> dict[str, list[float]]:
    """One fit unit, as an executor runs it (a module-level function, so Ray can ship it)."""
    return plan.statistics(unit)


def sensitivity_iter(plan: SensitivityPlan, executor="local") -> Iterator[SensitivityCurve]:
    """Run the plan's fits (``SensitivityPlan.units``); after each yield the curve so far.

    Closing the generator stops the run after the fit in progress (a Ray executor cancels the fits
    it has queued). The curve's p-values exist once the shared null is complete, so the null fits
    yield curves without p-values (their progress is ``null_done``). executor: where the fits run,
    "local", "ray" or an executor object (``sparker_core.executors``); each unit's draw and fit
    depend on (``plan.seed``, unit) alone, so the curve is the same wherever they run and however
    early the run is stopped.
    """
    runner = resolve_executor(executor, resolve_device(plan.options.get("device", "cpu")))
    return _run(plan, runner)


def _run(plan: SensitivityPlan, runner) -> Iterator[SensitivityCurve]:
    start = time.perf_counter()
    null = {m: [] for m in plan.methods}
    tests = {m: {} for m in plan.methods}
    units = plan.units()
    with closing(runner.map_blocks(_unit_statistics, (plan,), units)) as results:
        for unit, statistics in zip(units, results):
            for m, t in statistics.items():
                if unit[0] == "null":
                    null[m].append(t)
                else:
                    tests[m][unit] = t
            yield _curve(plan, null, tests, start)


def sensitivity(plan: SensitivityPlan, executor="local") -> SensitivityCurve:
    """The complete curve: ``sensitivity_iter`` drained."""
    curve = None
    for curve in sensitivity_iter(plan, executor):
        pass
    return curve
