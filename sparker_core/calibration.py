"""Null pseudo-experiments, calibrated p-values, tail extrapolation and multi-scale aggregation.

Every pseudo-experiment ("toy") is a full SparKer fit with the same epochs, schedule and t rule
as the observed fit, trained through the same ``train_iter``. Toys share the pool of points
[reference rows; data rows] and differ only in their per-point loss weights and initial centres,
so a batch of toys is one tensor program.

Two null constructions:

- ``"permutation"``: pool reference and data, and give each toy a random split with the original
  sizes (user weights travel with their points). Exactly valid when reference and data points are
  exchangeable under the null. The observed t is the fitted model's own ``t_obs_``.
- ``"reference"`` (NPLM-style): hold out ``2 * N_D`` reference rows as a pool of pseudo-data; the
  observed fit is redone with the remaining rows as reference, and each toy draws N_D rows from the
  held-out pool and the data together against that same reference: a permutation test between the
  data and the held-out rows with the fitted reference fixed, exact under the null. (Drawn from
  the held-out rows alone, shared by every toy, the toys vary less than fresh data would and the
  test was liberal.) ``poisson=True`` draws a Poisson(N_D) number from the held-out rows alone, as
  NPLM does: approximate, not exact. Needs N_R >= 4 * N_D (the fit keeps at least 2 N_D reference rows).

p-value: (1 + #{t_null >= t_obs}) / (1 + n_toys), never 0.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import torch
from scipy import special, stats

from .config import SparKerConfig, auto_sigmas, check_choice, check_int, distance_percentiles, sigma_schedule
from .data import NotFittedError
from .neighbours import initial_rows
from .training import train_iter

METHODS = ("permutation", "reference")
COMBINES = ("minp", "fisher")
# The reference method holds out this many times N_D reference rows as the pseudo-data pool,
# and needs as many again left for the fit's own reference.
HELD_OUT_FACTOR = 2
# Null distributions with fewer toys than this get no tail fit.
MIN_TOYS_FOR_TAIL_FIT = 20


@dataclass(frozen=True)
class TailFit:
    """A 3-parameter gamma fitted to the null toys by maximum likelihood; for extrapolation only."""

    shape: float  # gamma shape k (a scaled chi-square with 2k degrees of freedom)
    loc: float  # shift
    scale: float  # scale
    ks_pvalue: float  # Kolmogorov-Smirnov goodness of fit (optimistic: parameters fitted on the same toys)
    pvalue: float  # EXTRAPOLATED p-value of t_obs under the fitted gamma
    zscore: float  # EXTRAPOLATED Z of t_obs

    def sf(self, t) -> np.ndarray:
        """Extrapolated P(t_null >= t)."""
        return stats.gamma.sf(t, self.shape, loc=self.loc, scale=self.scale)


@dataclass(frozen=True)
class TestResult:
    """Calibrated significance of an observed t against its null toys."""

    __test__ = False  # not a pytest class

    t_obs: float  # observed test statistic
    null_distribution: np.ndarray  # (n_toys,) t of the toys finished so far
    pvalue: float  # (1 + #{t_null >= t_obs}) / (1 + n_toys); never 0
    pvalue_ci: tuple[float, float]  # Clopper-Pearson 95% interval of the exceedance probability
    zscore: float  # Phi^-1(1 - pvalue)
    tail_fit: TailFit | None  # extrapolation beyond the toys (None with < 20 toys or a failed fit)
    method: str  # "permutation", "reference", or the combination rule for aggregated results
    n_toys_requested: int  # toys asked for; n_toys < n_toys_requested after an early stop
    label: str = ""  # which configuration this is (multi-scale runs)

    @property
    def n_toys(self) -> int:
        return int(self.null_distribution.size)

    @property
    def complete(self) -> bool:
        return self.n_toys >= self.n_toys_requested

    @property
    def n_exceeding(self) -> int:
        return int(np.sum(self.null_distribution >= self.t_obs))


@dataclass(frozen=True)
class MultiScaleResult:
    """Aggregated significance over several configurations (scales) calibrated on the same toys.

    The p-value, its interval, Z, t_obs and the null are those of the combined statistic, so a
    multi-scale result reads like a ``TestResult``; ``per_config`` holds each scale's own result
    and ``scale`` the index of the one with the smallest p-value (the scale that detected).
    """

    combined: TestResult  # -log(min p) or Fisher's -2 sum log p, calibrated on the toys (combined_statistics)
    per_config: tuple[TestResult, ...]  # one result per configuration, same toys
    configs: tuple[dict, ...] = field(default_factory=tuple)  # resolved overrides of each configuration

    @property
    def scale(self) -> int:
        """Index of the configuration with the smallest p-value; ties go to the larger standardised t."""
        def key(j):
            r = self.per_config[j]
            null = r.null_distribution
            spread = float(null.std()) if null.size > 1 and null.std() > 0 else 1.0
            return (r.pvalue, -(r.t_obs - float(np.median(null)) if null.size else 0.0) / spread)
        return min(range(len(self.per_config)), key=key)

    def __getattr__(self, name):  # pvalue, pvalue_ci, zscore, t_obs, null_distribution, n_toys, ... of `combined`
        if name in TestResult.__dataclass_fields__ or name in ("n_toys", "complete", "n_exceeding"):
            return getattr(self.combined, name)
        raise AttributeError(name)


def empirical_pvalue(t_obs: float, null: np.ndarray) -> float:
    null = np.asarray(null, dtype=float)
    return float((1 + np.sum(null >= t_obs)) / (1 + null.size))


def clopper_pearson(k: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Exact binomial interval for the probability of k successes in n trials."""
    alpha = 1.0 - confidence
    low = 0.0 if k == 0 else float(stats.beta.ppf(alpha / 2, k, n - k + 1))
    high = 1.0 if k == n else float(stats.beta.ppf(1 - alpha / 2, k + 1, n - k))
    return low, high


def toys_needed(zscore: float) -> int:
    """Fewest toys with which p = 1 / (1 + n_toys) reaches ``zscore`` (no toy above t_obs)."""
    return max(1, math.ceil(1.0 / stats.norm.sf(zscore) - 1.0 - 1e-9))


def fit_tail(null: np.ndarray, t_obs: float) -> TailFit | None:
    """Gamma fit of the null toys; None when there are too few toys or they are all equal."""
    null = np.asarray(null, dtype=float)
    if null.size < MIN_TOYS_FOR_TAIL_FIT or np.ptp(null) <= 0:
        return None
    with np.errstate(all="ignore"):
        shape, loc, scale = stats.gamma.fit(null)
    if not all(np.isfinite([shape, loc, scale])) or scale <= 0 or shape <= 0:
        return None
    ks = stats.kstest(null, stats.gamma(shape, loc=loc, scale=scale).cdf).pvalue
    log_p = stats.gamma.logsf(t_obs, shape, loc=loc, scale=scale)
    return TailFit(
        shape=float(shape),
        loc=float(loc),
        scale=float(scale),
        ks_pvalue=float(ks),
        pvalue=float(np.exp(log_p)),
        zscore=float(-special.ndtri_exp(log_p)),  # Z from log p: exact where exp(log p) underflows
    )


def make_result(
    t_obs: float, null, method: str, n_toys_requested: int, label: str = "", with_tail: bool = True
) -> TestResult:
    null = np.asarray(null, dtype=float).copy()
    k = int(np.sum(null >= t_obs))
    pvalue = (1 + k) / (1 + null.size)
    return TestResult(
        t_obs=float(t_obs),
        null_distribution=null,
        pvalue=float(pvalue),
        pvalue_ci=clopper_pearson(k, null.size) if null.size else (0.0, 1.0),
        zscore=float(stats.norm.isf(pvalue)),
        tail_fit=fit_tail(null, t_obs) if with_tail else None,
        method=method,
        n_toys_requested=int(n_toys_requested),
        label=label,
    )


# --------------------------------------------------------------------------------- toy designs
@dataclass(frozen=True)
class _Design:
    """The pool and the role rules shared by the observed fit and every toy."""

    pool_aug: torch.Tensor  # (N, d_pad), reference rows first
    n_features: int
    n_reference: int
    n_data: int
    weight: np.ndarray  # (N,) per-point user weights (ones when none were given)
    method: str
    seed: int
    observed_seed: int  # the estimator's seed: initial centres of the observed fit
    poisson: bool
    fit_rows: np.ndarray  # pool rows that serve as reference
    held_rows: np.ndarray  # reference method: pool rows of the pseudo-data pool


def _rng(seed: int, *key: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=key))


def _weights(design: _Design, ref_rows: np.ndarray, data_rows: np.ndarray, scale_to: float | None = None):
    """(A, B) over the pool: A = w_R * weight on reference rows, B = weight on data rows."""
    n = design.pool_aug.shape[0]
    a, b = np.zeros(n), np.zeros(n)
    ref_total = design.weight[ref_rows].sum()
    data_total = design.weight[data_rows].sum() if scale_to is None else scale_to
    a[ref_rows] = design.weight[ref_rows] * data_total / ref_total
    b[data_rows] = design.weight[data_rows]
    return a, b


def _points(design: _Design) -> torch.Tensor:
    return design.pool_aug[:, : design.n_features]


def _observed_roles(design: _Design, n_kernels: int, init: str = "random", sigma_finals=(0.0,)):
    """(A, B, initial centre rows (len(sigma_finals), M)) of the observed fit; the rule of ``SparKer.fit_iter``."""
    data_rows = design.n_reference + np.arange(design.n_data)
    a, b = _weights(design, design.fit_rows, data_rows)
    rng = np.random.default_rng(design.observed_seed)
    return a, b, initial_rows(_points(design), a, b, design.fit_rows, data_rows, n_kernels, init, rng, sigma_finals)


def _toy_roles(design: _Design, toy: int, n_kernels: int, init: str = "random", sigma_finals=(0.0,)):
    """(A, B, initial centre rows (len(sigma_finals), M)) of toy ``toy``: a function of (seed, toy) alone."""
    rng = _rng(design.seed, 0, toy)
    if design.method == "permutation":
        order = rng.permutation(design.n_reference + design.n_data)
        data_rows, ref_rows = order[: design.n_data], order[design.n_data :]
        a, b = _weights(design, ref_rows, data_rows)
    else:
        size = design.n_data
        if design.poisson:  # NPLM's fluctuating pseudo-data size, from the held-out pool alone: approximate
            size = int(np.clip(rng.poisson(design.n_data), n_kernels, design.held_rows.size))
            data_rows = rng.choice(design.held_rows, size, replace=False)
        else:
            # N_D rows of the held-out pool and the data together. Under the null the observed data are then
            # one of the equally likely N_D-subsets of that pool, so the observed fit and the toys are
            # exchangeable and p is exact; drawn from the held-out rows alone (2 N_D of them, shared by
            # every toy) the toys vary less than fresh data and the test rejected too often (0.110 at
            # alpha 0.05 over 300 no-signal datasets: benchmarks/bench_type_one.py, README).
            pool = np.concatenate([design.held_rows, design.n_reference + np.arange(design.n_data)])
            data_rows = rng.choice(pool, size, replace=False)
        # w_R stays N_D / N_R_fit, as in the observed fit: only the pseudo-data size fluctuates
        a, b = _weights(design, design.fit_rows, data_rows, scale_to=float(design.n_data))
        ref_rows = design.fit_rows
    rng = _rng(design.seed, 1, toy)
    return a, b, initial_rows(_points(design), a, b, ref_rows, data_rows, n_kernels, init, rng, sigma_finals)


def _train_columns(design: _Design, roles, scales: list, config: SparKerConfig) -> np.ndarray:
    """t of one fit per (role, scale): roles, a list of (A, B, initial rows (len(scales), M));
    scales, the ``_Scale``s trained from each role's rows, all in one batched program.
    Returns an array of shape (len(scales), len(roles))."""
    dtype, device = design.pool_aug.dtype, design.pool_aug.device
    as_tensor = lambda x: torch.as_tensor(np.asarray(x), dtype=dtype, device=device)  # noqa: E731
    k = len(scales)
    a = as_tensor(np.repeat(np.stack([r[0] for r in roles], axis=1), k, axis=1))  # (N, T) role-major, scale-minor
    b = as_tensor(np.repeat(np.stack([r[1] for r in roles], axis=1), k, axis=1))  # (N, T)
    rows = torch.as_tensor(np.concatenate([r[2] for r in roles]), device=device)  # (T, M)
    centers = design.pool_aug[rows][:, :, : design.n_features]  # (T, M, d)
    sigmas = np.tile(np.stack([s.sigmas for s in scales], axis=1), (1, len(roles)))  # (E+1, T)
    *_, last = train_iter(design.pool_aug, a, b, centers, as_tensor(sigmas), config, every=None)
    return last.t.reshape(len(roles), k).T


# --------------------------------------------------------------------------------- driver
@dataclass(frozen=True)
class _Scale:
    label: str
    overrides: dict
    config: SparKerConfig
    sigmas: np.ndarray  # (E+1,)


def _resolve_scales(model, configs: Sequence[dict] | None) -> list[_Scale]:
    problem = model._problem
    base: SparKerConfig = model.config_  # the shown scale: configs override its settings
    if configs is None:  # the fitted scales (one, or the ladder of a multi-scale fit)
        if problem.n_scales == 1:
            return [_Scale("fitted", {}, base, problem.sigmas[:, 0])]
        return [_Scale(f"sigma_final={c.sigma_final:.4g}", {"sigma_final": c.sigma_final}, c, problem.sigmas[:, j])
                for j, c in enumerate(problem.configs)]
    if len(configs) < 1:
        raise ValueError("`configs` must hold at least one configuration; got an empty list.")
    scales = []
    reference = model._problem.reference.cpu().numpy()  # a view; only a subsample is ever copied
    for spec in configs:
        if not isinstance(spec, dict) or not set(spec) <= {"sigma_final", "n_kernels"} or not spec:
            raise ValueError(
                f"each entry of `configs` must be a dict with keys 'sigma_final' and/or 'n_kernels'; got {spec!r}."
            )
        overrides = {}
        if "n_kernels" in spec:
            check_int("n_kernels", spec["n_kernels"], 1)
            if spec["n_kernels"] > model._problem.data.shape[0]:
                raise ValueError(f"`n_kernels` in `configs` must not exceed the number of data rows; got {spec['n_kernels']}.")
            overrides["n_kernels"] = int(spec["n_kernels"])
        if "sigma_final" in spec:
            overrides["sigma_final"] = _resolve_sigma(spec["sigma_final"], reference, model.seed)
            if base.schedule != "constant" and overrides["sigma_final"] > base.sigma_init:
                raise ValueError(
                    f"`sigma_final` in `configs` must not exceed sigma_init ({base.sigma_init:.6g}); got {overrides['sigma_final']:.6g}."
                )
        config = replace(base, **overrides)
        sigmas = sigma_schedule(config.sigma_init, config.sigma_final, config.schedule, config.max_epochs, config.anneal_fraction)
        label = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in overrides.items())
        scales.append(_Scale(label, overrides, config, sigmas))
    return scales


def _resolve_sigma(value, reference: np.ndarray, seed: int) -> float:
    """A number, 'auto' (as in fit) or 'pNN' (NN-th percentile of pairwise reference distances)."""
    if value == "auto":
        return auto_sigmas(reference, seed)[1]
    if isinstance(value, str) and value[:1] == "p" and _is_percent(value[1:]):
        return float(distance_percentiles(reference, seed, [float(value[1:])])[0])
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value > 0:
        return float(value)
    raise ValueError(f"`sigma_final` in `configs` must be a positive number, 'auto' or 'pNN' (a percentile); got {value!r}.")


def _is_percent(text: str) -> bool:
    try:
        return 0 < float(text) < 100
    except ValueError:
        return False


def check_method_sizes(method: str, n_reference: int, n_data: int) -> None:
    """The sizes a null construction needs: ``"reference"`` holds out HELD_OUT_FACTOR x N_D reference rows
    as pseudo-data and fits on the rest, so it needs N_R >= 2 HELD_OUT_FACTOR N_D."""
    if method == "reference" and n_reference < 2 * HELD_OUT_FACTOR * n_data:
        raise ValueError(
            f"`method='reference'` needs a reference at least {2 * HELD_OUT_FACTOR} times the data "
            f"(N_R >= {2 * HELD_OUT_FACTOR} N_D); got N_R={n_reference}, N_D={n_data}."
        )


def _design(model, method: str, seed: int, poisson: bool) -> _Design:
    problem = model._problem
    n_ref, n_data = problem.reference.shape[0], problem.data.shape[0]
    weight = np.ones(n_ref + n_data)
    if problem.reference_weight is not None:
        weight[:n_ref] = problem.reference_weight
    if problem.data_weight is not None:
        weight[n_ref:] = problem.data_weight
    fit_rows, held_rows = np.arange(n_ref), np.arange(0)
    if method == "reference":
        if problem.reference_weight is not None or problem.data_weight is not None:
            raise ValueError("`method='reference'` does not support per-point weights; use method='permutation'.")
        check_method_sizes(method, n_ref, n_data)
        n_held = HELD_OUT_FACTOR * n_data
        order = _rng(seed, 2).permutation(n_ref)
        held_rows, fit_rows = np.sort(order[:n_held]), np.sort(order[n_held:])
    return _Design(
        pool_aug=problem.pool_aug,
        n_features=problem.reference.shape[1],
        n_reference=n_ref,
        n_data=n_data,
        weight=weight,
        method=method,
        seed=seed,
        observed_seed=model.seed,
        poisson=poisson,
        fit_rows=fit_rows,
        held_rows=held_rows,
    )


def _check_calibration_args(model, n_toys, method, batch, seed, combine=None) -> None:
    if not hasattr(model, "t_obs_"):
        raise NotFittedError("This SparKer instance is not fitted yet; call `fit` before `calibrate`.")
    if getattr(model, "stopped_early_", False):
        raise ValueError(
            f"`calibrate` needs a fit trained to completion; this one stopped at epoch {model.n_epochs_} "
            f"of {model._problem.config.max_epochs}. Refit before calibrating."
        )
    check_int("n_toys", n_toys, 1)
    check_choice("method", method, METHODS)
    check_int("batch", batch, 1)
    check_int("seed", seed, 0)
    if combine is not None:
        check_choice("combine", combine, COMBINES)


def combined_statistics(t_obs: np.ndarray, null: np.ndarray, combine: str) -> tuple[float, np.ndarray]:
    """Combine J statistics into one, calibrated on the same toys: (observed value, toys' values).

    t_obs: (J,) observed statistics; null: (J, n) the toys' statistics, toy i in column i.
    The observed split and the n toys are n + 1 exchangeable draws under the null, so each of the
    n + 1 gets its J p-values from the same rule, its rank among all n + 1 (itself included):
    p_j = #{k: t_kj >= t_j} / (n + 1). The combination is -log(min_j p_j) ("minp") or Fisher's
    -2 sum_j log p_j ("fisher"), a symmetric function of the n + 1, so the usual
    (1 + #{toys >= observed}) / (1 + n) is a valid p-value. (Ranking the toys only among the other
    toys, with denominator n, gives the observed a systematic edge: an observed rank 1 beats every
    toy's rank 1; ``tests/test_calibration.py::test_combined_statistics_is_exact`` shows that rule
    rejecting too often at alpha = 0.01.) Min p takes few values, k / (n + 1),
    and ties make the test conservative, so ties are broken by the second-smallest p-value, weighted
    too little to reorder distinct minima. Every toy's value depends on the observed fit and on all
    other toys, so the values of a partial run (``calibrate_iter``) are not a prefix of the final ones.
    """
    everything = np.concatenate([np.asarray(t_obs, dtype=float)[:, None], np.asarray(null, dtype=float)], axis=1)
    everything[np.isnan(everything)] = -np.inf  # an undefined statistic is the least extreme (sorting puts NaN last)
    m = everything.shape[1]  # n + 1
    p = np.empty_like(everything)  # (J, n + 1)
    for j, row in enumerate(everything):
        p[j] = (m - np.searchsorted(np.sort(row), row, side="left")) / m  # share of all that are >= it
    if combine == "minp":
        ordered = np.sort(p, axis=0)
        stat = -np.log(ordered[0])
        if ordered.shape[0] > 1:  # distinct minima differ by more than log((n + 1) / n) > 1 / m
            stat = stat - np.log(ordered[1]) / (2.0 * m * max(np.log(m), 1.0))
    else:
        stat = -2.0 * np.log(p).sum(axis=0)
    return float(stat[0]), stat[1:]


def calibrate_iter(
    model,
    n_toys: int = 100,
    method: str = "permutation",
    batch: int = 32,
    seed: int = 0,
    poisson: bool = False,
    configs: Sequence[dict] | None = None,
    combine: str = "minp",
) -> Iterator[TestResult | MultiScaleResult]:
    """Train the toys ``batch`` at a time; after each batch yield the result so far.

    Without ``configs`` the results are ``TestResult``s for the fitted configuration; with
    ``configs`` (dicts overriding ``sigma_final`` and/or ``n_kernels``) they are
    ``MultiScaleResult``s. Memory is O(batch * n_points * n_kernels) beyond the pool itself.
    Results do not depend on ``batch``: toy i's randomness comes from (seed, i) alone.
    """
    _check_calibration_args(model, n_toys, method, batch, seed, combine)
    scales = _resolve_scales(model, configs)
    design = _design(model, method, seed, poisson)

    multi = len(scales) > 1 or configs is not None
    t_obs = _observed(model, design, scales, own_fit=configs is None)
    if not np.isfinite(t_obs).all():
        raise ValueError("the observed statistic t is not finite; no p-value is reported: rescale the inputs or use dtype='float64'.")
    null = np.zeros((len(scales), 0))
    for start in range(0, n_toys, batch):
        toys = range(start, min(start + batch, n_toys))
        done = _toys_t(design, scales, toys)
        if not np.isfinite(done).all():  # an undefined toy would count as never >= t_obs: refuse, never a p-value
            toy = toys[int(np.nonzero(~np.isfinite(done).all(axis=0))[0][0])]
            raise ValueError(f"the statistic t of toy {toy} is not finite (its training diverged); no p-value is reported: "
                             "rescale the inputs or use dtype='float64'.")
        null = np.concatenate([null, done], axis=1)
        yield _assemble(scales, t_obs, null, method, n_toys, combine, multi)


def _observed(model, design: _Design, scales: list[_Scale], own_fit: bool) -> np.ndarray:
    """Observed t of every scale: the fit's own when the scales are the fitted ones (``own_fit``) and
    the permutation null keeps the fit's roles, else trained by the toys' code: shape (n_scales,)."""
    if own_fit and design.method == "permutation":
        return np.asarray(model.t_scales_, dtype=float)
    t = np.zeros(len(scales))
    for group in _group_by_kernels(scales):
        roles = _observed_roles(design, *_start_rule(scales, group))
        t[group] = _train_columns(design, [roles], [scales[j] for j in group], scales[group[0]].config)[:, 0]
    return t


def _toys_t(design: _Design, scales: list[_Scale], toys) -> np.ndarray:
    """t of the null toys ``toys`` (indices) of every scale, trained together: shape (n_scales, len(toys))."""
    t = np.zeros((len(scales), len(toys)))
    for group in _group_by_kernels(scales):
        roles = [_toy_roles(design, toy, *_start_rule(scales, group)) for toy in toys]
        t[group] = _train_columns(design, roles, [scales[j] for j in group], scales[group[0]].config)
    return t


def toy_statistics(model, toys, method: str = "permutation", seed: int = 0, poisson: bool = False) -> np.ndarray:
    """t of null toys ``toys`` (indices) of every fitted scale, exactly as ``calibrate(method=, seed=, poisson=)``
    trains them (toy i depends on (seed, i) alone): array of shape (n_scales, len(toys)). For checking a
    saved null (``verify_bundle``) without rerunning every toy."""
    toys = [int(i) for i in toys]
    _check_calibration_args(model, max(1, len(toys)), method, 1, seed)
    return _toys_t(_design(model, method, seed, poisson), _resolve_scales(model, None), toys)


def scale_labels(model) -> list[str]:
    """The labels ``calibrate`` gives the fitted widths (those of ``MultiScaleResult.per_config``)."""
    return [scale.label for scale in _resolve_scales(model, None)]


def observed_statistics(model, method: str = "permutation", seed: int = 0) -> np.ndarray:
    """Observed t of every fitted scale as ``calibrate`` takes it: the fit's own (permutation), or the fit
    redone on the reference left after holding out the pseudo-data pool (reference): shape (n_scales,)."""
    _check_calibration_args(model, 1, method, 1, seed)
    return _observed(model, _design(model, method, seed, False), _resolve_scales(model, None), own_fit=True)


def _group_by_kernels(scales: list[_Scale]) -> list[list[int]]:
    """Scales whose toys share roles and one neighbour search: the same n_kernels and init (their
    starts differ only by the spread, in units of each scale's sigma_final)."""
    groups: dict[tuple, list[int]] = {}
    for j, scale in enumerate(scales):
        groups.setdefault((scale.config.n_kernels, scale.config.init), []).append(j)
    return list(groups.values())


def _start_rule(scales: list[_Scale], group: list[int]) -> tuple:
    """(n_kernels, init, sigma_finals) of a group of scales: the arguments of the roles' starts."""
    config = scales[group[0]].config
    return config.n_kernels, config.init, [scales[j].config.sigma_final for j in group]


def _assemble(scales, t_obs, null, method, n_toys, combine, multi):
    per_config = tuple(make_result(t_obs[j], null[j], method, n_toys, scales[j].label) for j in range(len(scales)))
    if not multi:
        return per_config[0]
    stat_obs, stat_toys = combined_statistics(t_obs, null, combine)
    combined = make_result(stat_obs, stat_toys, f"{method}+{combine}", n_toys, "combined", with_tail=False)
    return MultiScaleResult(combined=combined, per_config=per_config, configs=tuple(s.overrides for s in scales))
