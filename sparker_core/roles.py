"""Roles of the pooled points: which rows act as reference and as data in the observed fit and in
each null pseudo-experiment ("toy"), with their loss weights and initial centre rows.

The pool is that of a ``Problem``: reference rows first, then data rows. A role is a triple
(A, B, rows): A, B of shape (N,) are the per-point coefficients of exp(f) - 1 and of -f
(``loss.role_weights``), rows of shape (len(sigma_finals), M) the pool rows of the initial
centres (``neighbours.initial_rows``). The null constructions are described in ``calibration``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .loss import role_weights
from .neighbours import initial_rows
from .problem import Problem

METHODS = ("permutation", "reference")
# The reference method holds out this many times N_D reference rows as the pseudo-data pool,
# and needs as many again left for the fit's own reference.
HELD_OUT_FACTOR = 2


@dataclass(frozen=True)
class NullDesign:
    """The role rules shared by the observed fit and every toy of one calibration."""

    method: str  # "permutation" or "reference"
    seed: int  # the toys' seed: toy i depends on (seed, i) alone
    poisson: bool  # reference method: Poisson(N_D) pseudo-data drawn from the held-out rows alone
    fit_rows: np.ndarray  # pool rows that serve as reference
    held_rows: np.ndarray  # reference method: pool rows of the pseudo-data pool (empty otherwise)


def role_rng(seed: int, *key: int) -> np.random.Generator:
    """The generator of one stream of a calibration: a function of (seed, key) alone."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=key))


def check_method_sizes(method: str, n_reference: int, n_data: int) -> None:
    """The sizes a null construction needs: ``"reference"`` holds out HELD_OUT_FACTOR x N_D reference rows
    as pseudo-data and fits on the rest, so it needs N_R >= 2 HELD_OUT_FACTOR N_D."""
    if method == "reference" and n_reference < 2 * HELD_OUT_FACTOR * n_data:
        raise ValueError(
            f"`method='reference'` needs a reference at least {2 * HELD_OUT_FACTOR} times the data "
            f"(N_R >= {2 * HELD_OUT_FACTOR} N_D); got N_R={n_reference}, N_D={n_data}."
        )


def null_design(problem: Problem, method: str = "permutation", seed: int = 0, poisson: bool = False) -> NullDesign:
    """The role rules of ``method``; the reference method holds out 2 N_D reference rows drawn with ``seed``."""
    fit_rows, held_rows = np.arange(problem.n_reference), np.arange(0)
    if method == "reference":
        if problem.reference_weight is not None or problem.data_weight is not None:
            raise ValueError("`method='reference'` does not support per-point weights; use method='permutation'.")
        check_method_sizes(method, problem.n_reference, problem.n_data)
        n_held = HELD_OUT_FACTOR * problem.n_data
        order = role_rng(seed, 2).permutation(problem.n_reference)
        held_rows, fit_rows = np.sort(order[:n_held]), np.sort(order[n_held:])
    return NullDesign(method=method, seed=seed, poisson=poisson, fit_rows=fit_rows, held_rows=held_rows)


def pool_weights(problem: Problem, ref_rows: np.ndarray, data_rows: np.ndarray, data_total: float | None = None):
    """(A, B) over the pool for the given roles, by ``loss.role_weights`` (user weights travel with their points)."""
    weight = problem.weight
    a_roles, b_roles = role_weights(ref_rows.size, data_rows.size, weight[ref_rows], weight[data_rows], data_total)
    a, b = np.zeros(problem.n_points), np.zeros(problem.n_points)
    a[ref_rows] = a_roles[: ref_rows.size]
    b[data_rows] = b_roles[ref_rows.size :]
    return a, b


def observed_roles(problem: Problem, n_kernels: int, init: str = "random", sigma_finals=(0.0,),
                   design: NullDesign | None = None):
    """(A, B, initial centre rows (len(sigma_finals), M)) of the observed fit: the reference rows of
    ``design`` (all of them without one) against the data, centres drawn with the problem's seed."""
    fit_rows = np.arange(problem.n_reference) if design is None else design.fit_rows
    a, b = pool_weights(problem, fit_rows, problem.data_rows)
    rng = np.random.default_rng(problem.seed)
    return a, b, initial_rows(problem.points, a, b, fit_rows, problem.data_rows, n_kernels, init, rng, sigma_finals,
                             problem.neighbours)


def toy_roles(problem: Problem, design: NullDesign, toy: int, n_kernels: int, init: str = "random", sigma_finals=(0.0,)):
    """(A, B, initial centre rows (len(sigma_finals), M)) of toy ``toy``: a function of (seed, toy) alone.
    Poisson pseudo-data hold at least max(n_kernels, the companion test's kernels) rows, so that SparKer's
    toys and the companion's share their pseudo-data."""
    rng = role_rng(design.seed, 0, toy)
    n_data = problem.n_data
    if design.method == "permutation":
        order = rng.permutation(problem.n_points)
        data_rows, ref_rows = order[:n_data], order[n_data:]
        a, b = pool_weights(problem, ref_rows, data_rows)
    else:
        if design.poisson:  # NPLM's fluctuating pseudo-data size, from the held-out pool alone: approximate
            size = int(np.clip(rng.poisson(n_data), max(n_kernels, problem.companion_kernels), design.held_rows.size))
            data_rows = rng.choice(design.held_rows, size, replace=False)
        else:
            # N_D rows of the held-out pool and the data together: under the null the observed data are
            # one of the equally likely N_D-subsets of that pool, so the observed fit and the toys are
            # exchangeable and p is exact (benchmarks/bench_type_one.py measures the type-I error).
            pool = np.concatenate([design.held_rows, problem.data_rows])
            data_rows = rng.choice(pool, n_data, replace=False)
        # w_R stays N_D / N_R_fit, as in the observed fit: only the pseudo-data size fluctuates
        a, b = pool_weights(problem, design.fit_rows, data_rows, data_total=float(n_data))
        ref_rows = design.fit_rows
    rng = role_rng(design.seed, 1, toy)
    return a, b, initial_rows(problem.points, a, b, ref_rows, data_rows, n_kernels, init, rng, sigma_finals,
                             problem.neighbours)
