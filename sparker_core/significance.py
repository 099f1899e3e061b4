"""Calibrated significance from null toys: p-values, their intervals, the tail extrapolation, and the
combination of several statistics calibrated on the same toys.

p-value: (1 + #{t_null >= t_obs}) / (1 + n_toys), never 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy import special, stats

COMBINES = ("minp", "fisher")
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
    ``companion``, when the fixed-centre companion test ran, is its own result; the combined
    statistic then includes it (``companion_statistics``).
    """

    combined: TestResult  # -log(min p) or Fisher's -2 sum log p, calibrated on the toys (combined_statistics)
    per_config: tuple[TestResult, ...]  # one result per configuration, same toys
    configs: tuple[dict, ...] = field(default_factory=tuple)  # resolved overrides of each configuration
    companion: TestResult | None = None  # the fixed-centre companion test on the same toys (``companion``), if run

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


def companion_statistics(t_obs: np.ndarray, null: np.ndarray, combine: str, companion_obs: float,
                         companion_null: np.ndarray) -> tuple[float, np.ndarray]:
    """The scales' statistics combined by ``combine`` (one scale: its t), then that and the companion's
    t combined by min p, both levels calibrated on the same toys: (observed value, toys' values).

    t_obs: (J,), null: (J, n) of the scales; companion_obs: the companion's observed t, companion_null:
    its (n,) toys. The first level is a symmetric function of the n + 1 draws (``combined_statistics``),
    so its n + 1 values are exchangeable under the null and the second level is exact as well. SparKer's
    widths together and the companion weigh equally, however many widths there are.
    """
    t_obs, null = np.asarray(t_obs, dtype=float), np.asarray(null, dtype=float)
    if t_obs.shape[0] == 1:
        first_obs, first_null = float(t_obs[0]), null[0]
    else:
        first_obs, first_null = combined_statistics(t_obs, null, combine)
    return combined_statistics(np.array([first_obs, float(companion_obs)]),
                               np.vstack([first_null, np.asarray(companion_null, dtype=float)]), "minp")
