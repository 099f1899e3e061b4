"""What the baselines share: validation at their public edge, the pooled sample, role draws.

Every baseline pools the two samples as [reference rows; data rows] and calibrates by giving
the pooled points random roles with the original sizes. A role matrix holds one 0/1 column per
split (1 marks a data-role point), so a batch of permutations is one matrix product.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy import special, stats

from .._validation import check_choice, check_count, check_int  # noqa: F401  (check_count re-exported for the baselines)
from ..calibration import TestResult
from ..data import check_points, check_same_width
from ..neighbours import BLOCK_ROWS, blocks, squared_distances  # noqa: F401  (re-exported for the baselines)

DTYPES = ("float32", "float64")


def check_pair(reference, data) -> tuple[np.ndarray, np.ndarray]:
    """Validated float arrays of shape (n_reference, n_features) and (n_data, n_features)."""
    reference = check_points(reference, "reference")
    data = check_points(data, "data")
    check_same_width(data, reference)
    return reference, data


def check_common(seed, batch, dtype) -> None:
    check_int("seed", seed, 0)
    check_count("batch", batch)
    check_choice("dtype", dtype, DTYPES)


def pooled(reference: np.ndarray, data: np.ndarray, dtype: str) -> torch.Tensor:
    """(N, d) tensor [reference; data] centred on the reference mean (no distance changes, but the
    one-GEMM expansion |x|^2 + |y|^2 - 2 x.y stays accurate in float32)."""
    mean = reference.mean(0, dtype=np.float64)
    out = np.empty((reference.shape[0] + data.shape[0], reference.shape[1]), dtype=dtype)
    out[: reference.shape[0]] = reference - mean
    out[reference.shape[0] :] = data - mean
    return torch.from_numpy(out)


def role_columns(rng: np.random.Generator, groups: list[np.ndarray], n_data: list[int], n_columns: int,
                 n_pool: int, dtype) -> np.ndarray:
    """``n_columns`` random role splits, as a 0/1 matrix of shape (n_pool, n_columns).

    Within each group of pool rows, ``n_data[g]`` rows get the data role, uniformly at random.
    The uniform keys are drawn as one (n_columns, n_pool) block from ``rng``; numpy fills it in
    order, so drawing 7 columns then 5 gives the same 12 splits as drawing 12 (results do not
    depend on ``batch``). Memory is O(n_columns * n_pool).
    """
    keys = rng.random((n_columns, n_pool))  # (B, N)
    out = np.zeros((n_pool, n_columns), dtype=dtype)
    cols = np.arange(n_columns)[:, None]
    for rows, k in zip(groups, n_data):
        if k == 0:
            continue
        picked = np.argpartition(keys[:, rows], k - 1, axis=1)[:, :k] if k < rows.size else np.tile(np.arange(rows.size), (n_columns, 1))
        out[rows[picked], cols] = 1.0  # (B, k) pool rows -> column b
    return out


def analytic_result(t_obs: float, log_pvalue: float, method: str, label: str = "") -> TestResult:
    """A ``TestResult`` whose p-value comes from an exact null distribution, not from toys.

    No toys: ``null_distribution`` is empty, ``n_toys_requested`` is 0 and ``pvalue_ci`` is the
    point (p, p). p is clipped at the smallest positive double, so it is never 0; Z comes from
    log p and stays finite and exact beyond that.
    """
    log_pvalue = min(float(log_pvalue), 0.0)
    pvalue = max(float(np.exp(log_pvalue)), np.finfo(float).tiny)
    return TestResult(
        t_obs=float(t_obs),
        null_distribution=np.zeros(0),
        pvalue=pvalue,
        pvalue_ci=(pvalue, pvalue),
        zscore=float(-special.ndtri_exp(log_pvalue)),
        tail_fit=None,
        method=method,
        n_toys_requested=0,
        label=label,
    )


def binomial_log_sf(k: int, n: int, p: float = 0.5) -> float:
    """log P(X >= k) for X ~ Binomial(n, p)."""
    return float(stats.binom.logsf(k - 1, n, p))
