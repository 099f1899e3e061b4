"""Kernel NPLM with fixed centres (the Falkon line: Letizia et al., EPJC 82, 879, 2022), calibrated
like SparKer.

f(x) = sum_j a_j exp(-|x - c_j|^2 / (2 sigma^2)) with many centres c_j drawn from the data rows and
never moved; only the amplitudes a are trained, on the same Neyman-Pearson loss as SparKer,

    L(a) = sum_R w_R (e^f - 1) - sum_D f,   w_R = N_D / N_R,   t = -2 L(a*),

plus an L2 penalty l2 * |a|^2 in the training objective (not in t). The objective is convex in a,
so it is minimised by Newton's method with a backtracking line search, for a batch of toys at once
(one (M, M) Hessian per toy; M = n_centers). Toys are SparKer's permutation toys: the roles of the
pooled points and the centre rows come from ``sparker_core.roles`` (``toy_roles``: toy i depends
on (seed, i) alone) over the same ``Problem`` as SparKer's (``problem.build_problem``), and the
kernels from ``sparker_core.kernels`` (the same augmented one-GEMM distances).

Unlike Falkon, the centres are drawn from the data rows of each fit (as SparKer's initial centres
with ``init="random"``), not from the pooled sample, so they are denser where the data have an
excess; and the penalty is on |a|^2 rather than on the RKHS norm a'K_MM a.

``fixed_centers_np_statistic`` returns the observed t alone (one fit, the test's own code path),
for studies that build the null distribution of t themselves.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from .._validation import check_choice, check_count, check_int, check_positive
from ..calibration import TestResult, make_result
from ..config import AUTO_SIGMA_FINAL_FRACTION, default_params
from ..companion import L2, MAX_ITER, fixed_t, newton_fit  # noqa: F401  (newton_fit: importable from here)
from ..problem import Problem, build_problem
from ..roles import NullDesign, null_design, observed_roles, toy_roles
from ._common import DTYPES, check_pair

@dataclass(frozen=True)
class _Setup:
    """What every fit of one (reference, data) pair shares: SparKer's Problem (its one scale is the
    width), and the permutation roles' rules."""

    problem: Problem
    design: NullDesign

    @property
    def sigma(self) -> float:
        return self.problem.config.sigma_final


def _validate(reference, data, n_centers, sigma, l2, max_iter, seed, dtype) -> tuple[np.ndarray, np.ndarray]:
    """The checks both public functions share; returns the validated float arrays."""
    reference, data = check_pair(reference, data)
    check_count("n_centers", n_centers)
    if n_centers > data.shape[0]:
        raise ValueError(f"`n_centers` must not exceed the number of data rows; got {n_centers} > {data.shape[0]}.")
    check_positive("sigma", sigma, allow_auto=True)
    check_positive("l2", l2)
    check_count("max_iter", max_iter)
    check_int("seed", seed, 0)
    check_choice("dtype", dtype, DTYPES)
    return reference, data


def _prepare(reference: np.ndarray, data: np.ndarray, n_centers: int, sigma, seed: int, dtype: str) -> _Setup:
    """SparKer's Problem with one constant width ``sigma`` ("auto": AUTO_SIGMA_FINAL_FRACTION x the median
    pairwise reference distance), random data-row centres, and the permutation design of ``seed``."""
    params = {**default_params(), "n_kernels": n_centers, "sigma_init": sigma, "sigma_final": sigma,
              "schedule": "constant", "init": "random", "seed": seed, "dtype": dtype, "fixed_kernels": 0}
    problem = build_problem(reference, data, params, auto_finals=lambda median: (AUTO_SIGMA_FINAL_FRACTION * median,))
    return _Setup(problem=problem, design=null_design(problem, "permutation", seed))


def _fit_t(setup: _Setup, roles, l2: float, max_iter: int) -> tuple[np.ndarray, int]:
    """t of a batch of fits, one per (A, B, centre rows) triple of ``roles``: (t (T,), fits not converged)."""
    return fixed_t(setup.problem, setup.sigma, roles, l2, max_iter)


def _observed_t(setup: _Setup, n_centers: int, l2: float, max_iter: int) -> tuple[float, int]:
    """t of the observed fit (centres: ``n_centers`` data rows drawn with the seed), and 1 if it did not converge."""
    t, unconverged = _fit_t(setup, [observed_roles(setup.problem, n_centers, design=setup.design)], l2, max_iter)
    return float(t[0]), unconverged


def _warn_unconverged(caller: str, unconverged: int, max_iter: int) -> None:
    if unconverged:
        warnings.warn(f"{caller}: {unconverged} fit(s) did not converge in {max_iter} Newton steps; raise `max_iter`.",
                      RuntimeWarning, stacklevel=3)


def fixed_centers_np_statistic(
    reference,
    data,
    n_centers: int = 200,
    sigma="auto",
    l2: float = L2,
    seed: int = 0,
    max_iter: int = MAX_ITER,
    dtype: str = "float32",
) -> float:
    """The observed t of ``fixed_centers_np_test`` with the same arguments, without its toys.

    One fit: the same validation, centres (``n_centers`` data rows drawn with ``seed``), width and
    Newton solve as the test's observed fit, so the number equals ``fixed_centers_np_test(...).t_obs``.
    For studies that calibrate t themselves (e.g. against t of many no-signal samples);
    a ``RuntimeWarning`` says when the fit did not converge in ``max_iter`` Newton steps.
    """
    reference, data = _validate(reference, data, n_centers, sigma, l2, max_iter, seed, dtype)
    t_obs, unconverged = _observed_t(_prepare(reference, data, n_centers, sigma, seed, dtype), n_centers, l2, max_iter)
    _warn_unconverged("fixed_centers_np_statistic", unconverged, max_iter)
    return t_obs


def fixed_centers_np_test(
    reference,
    data,
    n_centers: int = 200,
    sigma="auto",
    l2: float = L2,
    n_toys: int = 100,
    seed: int = 0,
    batch: int = 16,
    max_iter: int = MAX_ITER,
    dtype: str = "float32",
) -> TestResult:
    """Neyman-Pearson two-sample test with many fixed Gaussian kernels (kernel NPLM), permutation-calibrated.

    reference: array of shape (n_reference, n_features); data: (n_data, n_features).
    n_centers: kernels, centred on distinct data rows drawn with ``seed`` (each toy draws its own
    from its data-role rows); sigma: their common width, a positive number or "auto" (SparKer's
    ``sigma_final="auto"``: 0.35 times the median pairwise reference distance); l2: the penalty
    l2 * |a|^2 of the training objective (in units of L, whose scale is N_D); n_toys: permutation
    toys, made exactly as SparKer's (``SparKer.calibrate(method="permutation")``); batch: toys
    fitted together, memory is O(batch * n * n_centers), n = n_reference + n_data; results do not
    depend on it. max_iter: Newton steps per fit (one ``RuntimeWarning`` counts the fits that did not
    converge). dtype: of the kernel matrices; Newton systems are solved in float64.
    t = -2 L at the penalised optimum (``fixed_centers_np_statistic`` alone);
    p = (1 + #{t_toy >= t_obs}) / (1 + n_toys), never 0.
    ``method`` of the result is "fixed-centers/permutation".
    """
    reference, data = _validate(reference, data, n_centers, sigma, l2, max_iter, seed, dtype)
    check_count("n_toys", n_toys)
    check_count("batch", batch)

    setup = _prepare(reference, data, n_centers, sigma, seed, dtype)
    t_obs, unconverged = _observed_t(setup, n_centers, l2, max_iter)
    null = []
    for start in range(0, n_toys, batch):
        roles = [toy_roles(setup.problem, setup.design, toy, n_centers) for toy in range(start, min(start + batch, n_toys))]
        t, missed = _fit_t(setup, roles, l2, max_iter)
        null.append(t)
        unconverged += missed
    _warn_unconverged("fixed_centers_np_test", unconverged, max_iter)
    label = f"n_centers={n_centers}, sigma={setup.sigma:.4g}, l2={l2:g}"
    return make_result(t_obs, np.concatenate(null), "fixed-centers/permutation", n_toys, label=label)
