"""Null pseudo-experiments, calibrated p-values, tail extrapolation and multi-scale aggregation.

Every pseudo-experiment ("toy") is a full SparKer fit with the same epochs, schedule and t rule
as the observed fit, trained through the same ``train_iter``. Toys share the pool of points
[reference rows; data rows] and differ only in their per-point loss weights and initial centres,
so a batch of toys is one tensor program.

Two null constructions:

- ``"permutation"``: pool reference and data, and give each toy a random split with the original
  sizes (user weights travel with their points). Exactly valid when reference and data points are
  exchangeable under the null. The observed t is the fit's own.
- ``"reference"`` (NPLM-style): hold out ``2 * N_D`` reference rows as a pool of pseudo-data; the
  observed fit is redone with the remaining rows as reference, and each toy draws N_D rows from the
  held-out pool and the data together against that same reference: a permutation test between the
  data and the held-out rows with the fitted reference fixed, exact under the null. (Drawn from
  the held-out rows alone, shared by every toy, the toys vary less than fresh data would and the
  test was liberal.) ``poisson=True`` draws a Poisson(N_D) number from the held-out rows alone, as
  NPLM does: approximate, not exact. Needs N_R >= 4 * N_D (the fit keeps at least 2 N_D reference rows).

Roles of the points (observed and toys) come from ``roles``; p-values and the combination of
several scales from ``significance``. p-value: (1 + #{t_null >= t_obs}) / (1 + n_toys), never 0.

With ``fixed_kernels`` > 0 (the default) the observed fit and every toy also get the t of the
fixed-centre companion test (``companion``) on the same roles, and the p-value is that of the
scales' combined statistic and the companion's t combined by min p (``companion_statistics``).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass, replace

import numpy as np
import torch

from ._validation import check_choice, check_int
from .config import SparKerConfig, auto_sigmas, distance_percentiles, sigma_schedule
from .companion import fixed_t
from .exceptions import NotFittedError
from .executors import resolve_executor  # imports ray only when a Ray executor runs
from .problem import Problem
from .roles import HELD_OUT_FACTOR, METHODS, NullDesign, check_method_sizes, null_design, observed_roles, toy_roles
from .significance import (
    COMBINES,
    MIN_TOYS_FOR_TAIL_FIT,
    MultiScaleResult,
    TailFit,
    TestResult,
    clopper_pearson,
    combined_statistics,
    companion_statistics,
    empirical_pvalue,
    fit_tail,
    make_result,
    toys_needed,
)
from .threads import adaptive_iterator
from .training import FitState, train_iter

__all__ = [  # the calibration's own functions, and the significance names callers import from here
    "COMBINES", "HELD_OUT_FACTOR", "METHODS", "MIN_TOYS_FOR_TAIL_FIT", "MultiScaleResult", "TailFit", "TestResult",
    "calibrate_iter", "check_method_sizes", "clopper_pearson", "combined_statistics", "empirical_pvalue", "fit_tail",
    "companion_label", "companion_statistics", "make_result", "observed_statistics", "scale_labels", "toy_statistics",
    "toys_needed",
]


# Companion fits solved together: at most 16, and their (fits, points, kernels) matrices within
# COMPANION_ELEMENTS entries when a fit's own allows (one fit needs n_points * fixed_kernels).
COMPANION_BATCH = 16
COMPANION_ELEMENTS = 2**26


def companion_batch(problem: Problem) -> int:
    """Companion fits solved together for this problem (results do not depend on it)."""
    return int(np.clip(COMPANION_ELEMENTS // max(1, problem.n_points * problem.companion_kernels), 1, COMPANION_BATCH))


def _train_columns(problem: Problem, roles, scales: list, config: SparKerConfig) -> np.ndarray:
    """t of one fit per (role, scale): roles, a list of (A, B, initial rows (len(scales), M));
    scales, the ``_Scale``s trained from each role's rows, all in one batched program.
    Returns an array of shape (len(scales), len(roles))."""
    k = len(scales)
    a = problem.tensor(np.repeat(np.stack([r[0] for r in roles], axis=1), k, axis=1))  # (N, T) role-major, scale-minor
    b = problem.tensor(np.repeat(np.stack([r[1] for r in roles], axis=1), k, axis=1))  # (N, T)
    rows = torch.as_tensor(np.concatenate([r[2] for r in roles]), device=problem.device)  # (T, M)
    centers = problem.pool_aug[rows][:, :, : problem.n_features]  # (T, M, d)
    sigmas = np.tile(np.stack([s.sigmas for s in scales], axis=1), (1, len(roles)))  # (E+1, T)
    *_, last = train_iter(problem.pool_aug, a, b, centers, problem.tensor(sigmas), config, every=None)
    return last.t.reshape(len(roles), k).T


# --------------------------------------------------------------------------------- scales
@dataclass(frozen=True)
class _Scale:
    label: str
    overrides: dict
    config: SparKerConfig
    sigmas: np.ndarray  # (E+1,)


def _resolve_scales(problem: Problem, scale: int, configs: Sequence[dict] | None) -> list[_Scale]:
    """The fitted scales (``configs`` None), or the settings of fitted scale ``scale`` with each entry's overrides."""
    base: SparKerConfig = problem.configs[scale]
    if configs is None:  # the fitted scales (one, or the ladder of a multi-scale fit)
        if problem.n_scales == 1:
            return [_Scale("fitted", {}, base, problem.sigmas[:, 0])]
        return [_Scale(f"sigma_final={c.sigma_final:.4g}", {"sigma_final": c.sigma_final}, c, problem.sigmas[:, j])
                for j, c in enumerate(problem.configs)]
    if len(configs) < 1:
        raise ValueError("`configs` must hold at least one configuration; got an empty list.")
    scales = []
    reference = problem.reference.cpu().numpy()  # a view on the CPU (a GPU copies it whole); only a subsample is copied further
    for spec in configs:
        if not isinstance(spec, dict) or not set(spec) <= {"sigma_final", "n_kernels"} or not spec:
            raise ValueError(
                f"each entry of `configs` must be a dict with keys 'sigma_final' and/or 'n_kernels'; got {spec!r}."
            )
        overrides = {}
        if "n_kernels" in spec:
            check_int("n_kernels", spec["n_kernels"], 1)
            if spec["n_kernels"] > problem.n_data:
                raise ValueError(f"`n_kernels` in `configs` must not exceed the number of data rows; got {spec['n_kernels']}.")
            overrides["n_kernels"] = int(spec["n_kernels"])
        if "sigma_final" in spec:
            overrides["sigma_final"] = _resolve_sigma(spec["sigma_final"], reference, problem.seed)
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


def check_calibration(fit: FitState | None, problem: Problem | None, n_toys, method, batch, seed, combine=None) -> None:
    """The calibration's arguments, and a fit trained to completion."""
    if fit is None or problem is None:
        raise NotFittedError("This SparKer instance is not fitted yet; call `fit` before `calibrate`.")
    if not fit.complete:
        raise ValueError(
            f"`calibrate` needs a fit trained to completion; this one stopped at epoch {fit.epoch} "
            f"of {problem.config.max_epochs}. Refit before calibrating."
        )
    check_int("n_toys", n_toys, 1)
    check_choice("method", method, METHODS)
    check_int("batch", batch, 1)
    check_int("seed", seed, 0)
    if combine is not None:
        check_choice("combine", combine, COMBINES)


# --------------------------------------------------------------------------------- driver
@adaptive_iterator
def calibrate_iter(
    problem: Problem,
    fit: FitState,
    n_toys: int = 100,
    method: str = "permutation",
    batch: int = 32,
    seed: int = 0,
    poisson: bool = False,
    configs: Sequence[dict] | None = None,
    combine: str = "minp",
    scale: int = 0,
    executor="local",
) -> Iterator[TestResult | MultiScaleResult]:
    """Train the toys ``batch`` at a time; after each batch yield the result so far.

    problem: the fit's ``Problem``; fit: its ``FitState``. Without ``configs`` the results are for
    the fitted scales (a ``TestResult`` for one without the companion test, else a ``MultiScaleResult``); ``configs``
    (dicts overriding ``sigma_final`` and/or ``n_kernels`` of fitted scale ``scale``) give
    ``MultiScaleResult``s. Memory is O(batch * n_points * n_kernels) beyond the pool itself, and
    n_points * fixed_kernels floats at least for the companion test (``companion_batch``).
    Results do not depend on ``batch``: toy i's randomness comes from (seed, i) alone. executor: where
    the batches run, "local", "ray" or an executor object (``sparker_core.executors``); the null is
    the same wherever they run.
    """
    check_calibration(fit, problem, n_toys, method, batch, seed, combine)
    executor = resolve_executor(executor, problem.device)
    scales = _resolve_scales(problem, scale, configs)
    design = null_design(problem, method, seed, poisson)

    multi = len(scales) > 1 or configs is not None or problem.companion_kernels > 0
    t_obs = _observed(problem, fit, design, scales, own_fit=configs is None)  # the companion's last, when it runs
    if not np.isfinite(t_obs).all():
        raise ValueError("the observed statistic t is not finite; no p-value is reported: rescale the inputs or use dtype='float64'.")
    null = np.zeros((t_obs.shape[0], 0))
    blocks = [range(start, min(start + batch, n_toys)) for start in range(0, n_toys, batch)]
    # the toy loop: the executor trains each block (here or on Ray) and hands them back in order
    with closing(executor.map_blocks(_toys_t, (problem, design, scales), blocks)) as results:
        for toys, done in zip(blocks, results):
            if not np.isfinite(done).all():  # an undefined toy would count as never >= t_obs: refuse, never a p-value
                toy = toys[int(np.nonzero(~np.isfinite(done).all(axis=0))[0][0])]
                raise ValueError(f"the statistic t of toy {toy} is not finite (its training diverged); no p-value is reported: "
                                 "rescale the inputs or use dtype='float64'.")
            null = np.concatenate([null, done], axis=1)
            yield _assemble(problem, scales, t_obs, null, method, n_toys, combine, multi)


def _observed(problem: Problem, fit: FitState, design: NullDesign, scales: list[_Scale], own_fit: bool) -> np.ndarray:
    """Observed t of every scale: the fit's own when the scales are the fitted ones (``own_fit``) and
    the permutation null keeps the fit's roles, else trained by the toys' code: shape (n_scales,)."""
    if own_fit and design.method == "permutation":
        t = np.asarray(fit.t, dtype=float)
    else:
        t = np.zeros(len(scales))
        for group in _group_by_kernels(scales):
            roles = observed_roles(problem, *_start_rule(scales, group), design=design)
            t[group] = _train_columns(problem, [roles], [scales[j] for j in group], scales[group[0]].config)[:, 0]
    if problem.companion_kernels:
        roles = observed_roles(problem, problem.companion_kernels, design=design)
        t = np.append(t, fixed_t(problem, problem.companion_sigma, [roles])[0])
    return t


def _toys_t(problem: Problem, design: NullDesign, scales: list[_Scale], toys) -> np.ndarray:
    """t of the null toys ``toys`` (indices) of every scale, trained together, and of the companion test
    (its row last) when it runs: shape (n_scales [+ 1], len(toys))."""
    t = np.zeros((len(scales) + (problem.companion_kernels > 0), len(toys)))
    for group in _group_by_kernels(scales):
        roles = [toy_roles(problem, design, toy, *_start_rule(scales, group)) for toy in toys]
        t[group] = _train_columns(problem, roles, [scales[j] for j in group], scales[group[0]].config)
    if problem.companion_kernels:
        step = companion_batch(problem)
        for start in range(0, len(toys), step):
            roles = [toy_roles(problem, design, toy, problem.companion_kernels) for toy in toys[start : start + step]]
            t[-1, start : start + step] = fixed_t(problem, problem.companion_sigma, roles)[0]
    return t


def _fitted(model) -> tuple[Problem | None, FitState | None]:
    """A fitted estimator's public ``problem_`` and ``fit_state_`` (None before ``fit``)."""
    return getattr(model, "problem_", None), getattr(model, "fit_state_", None)


def toy_statistics(model, toys, method: str = "permutation", seed: int = 0, poisson: bool = False) -> np.ndarray:
    """t of null toys ``toys`` (indices) of every fitted scale, exactly as ``calibrate(method=, seed=, poisson=)``
    trains them (toy i depends on (seed, i) alone), and the companion test's t (row last) when it runs:
    array of shape (n_scales [+ 1], len(toys)). For checking a
    saved null (``verify_bundle``) without rerunning every toy."""
    toys = [int(i) for i in toys]
    problem, fit = _fitted(model)
    check_calibration(fit, problem, max(1, len(toys)), method, 1, seed)
    return _toys_t(problem, null_design(problem, method, seed, poisson), _resolve_scales(problem, 0, None), toys)


def scale_labels(model) -> list[str]:
    """The labels ``calibrate`` gives the fitted widths (those of ``MultiScaleResult.per_config``)."""
    problem, fit = _fitted(model)
    check_calibration(fit, problem, 1, "permutation", 1, 0)
    return [scale.label for scale in _resolve_scales(problem, 0, None)]


def observed_statistics(model, method: str = "permutation", seed: int = 0) -> np.ndarray:
    """Observed t of every fitted scale as ``calibrate`` takes it: the fit's own (permutation), or the fit
    redone on the reference left after holding out the pseudo-data pool (reference), and the companion
    test's (last) when it runs: shape (n_scales [+ 1],)."""
    problem, fit = _fitted(model)
    check_calibration(fit, problem, 1, method, 1, seed)
    return _observed(problem, fit, null_design(problem, method, seed, False), _resolve_scales(problem, 0, None), own_fit=True)


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


def companion_label(problem: Problem) -> str:
    return f"fixed-centre companion ({problem.companion_kernels} kernels, sigma={problem.companion_sigma:.4g})"


def _assemble(problem, scales, t_obs, null, method, n_toys, combine, multi):
    k = len(scales)
    per_config = tuple(make_result(t_obs[j], null[j], method, n_toys, scales[j].label) for j in range(k))
    if not multi:
        return per_config[0]
    companion = None
    if problem.companion_kernels:
        companion = make_result(t_obs[k], null[k], method, n_toys, companion_label(problem))
        stat_obs, stat_toys = companion_statistics(t_obs[:k], null[:k], combine, t_obs[k], null[k])
    else:
        stat_obs, stat_toys = combined_statistics(t_obs, null, combine)
    combined = make_result(stat_obs, stat_toys, f"{method}+{combine}", n_toys, "combined", with_tail=False)
    return MultiScaleResult(combined=combined, per_config=per_config, configs=tuple(s.overrides for s in scales),
                            companion=companion)
