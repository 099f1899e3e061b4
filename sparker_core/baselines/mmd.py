"""Kernel two-sample test: unbiased Gaussian-kernel MMD^2 with batched permutations.

MMD^2_u = sum_{i!=j in R} k_ij / (m(m-1)) + sum_{i!=j in D} k_ij / (n(n-1)) - 2 sum_{i in R, j in D} k_ij / (mn)
(Gretton et al., JMLR 2012, eq. 3), with m = N_R, n = N_D and k_ij = exp(-|x_i - x_j|^2 / (2 bandwidth^2)).

For a split of the pool given by the 0/1 data indicator e, with K0 the pooled kernel matrix with
its diagonal removed, r = K0 1 and S = 1' K0 1 (both the same for every split):

    sum_DD = e' K0 e = q,   sum_RD = r'e - q,   sum_RR = S - 2 r'e + q,

so every permutation needs one quadratic form, and a batch of B permutations is the matrix
product K0 E with E the (N, B) matrix of indicators. K0 is never held whole: it is recomputed in
square blocks (only the blocks on and above the diagonal, as K0 is symmetric) once per batch of
permutations. MMD^2_u is unchanged when a constant is added to k, so each block is shifted by the
kernel value at the median distance; this keeps the float32 sums small where they cancel.

Why recompute rather than keep K0: at N = 20,000 a float32 K0 is 1.6 GB, while the blocks need
16 MiB. Measured on this 2-core CPU at N_R = 18,000, N_D = 2,000, d = 384: 1,000 permutations in
one pass (batch=1000, the default) took 24 s; in four passes (batch=250) 56 s, the kernel being
recomputed each pass. So keep ``batch`` as large as memory allows (O(batch * N)).
"""

from __future__ import annotations

import numpy as np
import torch

from ..calibration import TestResult, combined_statistics, make_result
from ..config import distance_percentiles
from ._common import BLOCK_ROWS, blocks, check_common, check_count, check_pair, pooled, role_columns, squared_distances

BANDWIDTHS = ("median", "aggregate")
# "aggregate": the median pairwise distance times these factors (2^-3 .. 2^2), as in MMDAgg.
AGGREGATE_FACTORS = tuple(2.0**k for k in range(-3, 3))


def _check_bandwidth(bandwidth) -> None:
    if isinstance(bandwidth, str) and bandwidth in BANDWIDTHS:
        return
    number = isinstance(bandwidth, (int, float, np.integer, np.floating)) and not isinstance(bandwidth, bool)
    if not number or not np.isfinite(bandwidth) or bandwidth <= 0:
        raise ValueError(f"`bandwidth` must be a positive number, 'median' or 'aggregate'; got {bandwidth!r}.")


def mmd_statistics(points: torch.Tensor, roles: np.ndarray, bandwidths, shifts=None, block_rows: int = BLOCK_ROWS) -> np.ndarray:
    """Unbiased MMD^2 of every split and bandwidth: array of shape (n_bandwidths, n_splits).

    points: (N, d) pooled sample; roles: (N, B) 0/1 with 1 on the data-role rows (every column has
    the same number of ones); bandwidths: (J,). ``shifts`` (J,) are constants subtracted from the
    kernel (they leave MMD^2_u unchanged; default 0). Memory is O(B * N + block_rows^2).
    """
    n_pool = points.shape[0]
    n_data = int(roles[:, 0].sum())
    n_ref = n_pool - n_data
    bandwidths = np.asarray(bandwidths, dtype=float)
    shifts = np.zeros(bandwidths.size) if shifts is None else np.asarray(shifts, dtype=float)
    gammas = 0.5 / bandwidths**2
    sq = (points.double() ** 2).sum(1).to(points.dtype)  # (N,)
    e = torch.from_numpy(np.ascontiguousarray(roles, dtype=points.numpy().dtype))  # (N, B)
    q = torch.zeros(bandwidths.size, e.shape[1], dtype=torch.float64)  # e' K0 e per bandwidth and split
    r = torch.zeros(bandwidths.size, n_pool, dtype=torch.float64)  # K0 1
    parts = blocks(n_pool, block_rows)
    # One kernel block buffer, reused: fresh 16 MiB temporaries per block and bandwidth cost more in
    # page faults than the exp itself. Sums within a block are float32 (at most block_rows terms of
    # |k| <= 1), accumulated across blocks in float64.
    buffer = torch.empty(min(block_rows, n_pool) ** 2, dtype=points.dtype)
    for i, rows in enumerate(parts):
        for cols in parts[i:]:
            d2 = squared_distances(points[rows], sq[rows], points[cols], sq[cols])  # (b_i, b_j)
            twice = 1.0 if cols == rows else 2.0  # blocks above the diagonal stand for their mirror too
            k = buffer[: d2.numel()].view(d2.shape)
            for j in range(bandwidths.size):
                torch.mul(d2, -gammas[j], out=k).exp_().sub_(shifts[j])  # (b_i, b_j)
                if cols == rows:
                    k.fill_diagonal_(0.0)
                q[j] += twice * (e[rows] * (k @ e[cols])).sum(0).double()
                r[j, rows] += k.sum(1).double()
                if cols != rows:
                    r[j, cols] += k.sum(0).double()
    re = r @ e.double()  # (J, B) r'e
    total = r.sum(1, keepdim=True)  # (J, 1) S
    sum_dd, sum_rd = q, re - q
    sum_rr = total - 2.0 * re + q
    mmd2 = sum_rr / (n_ref * (n_ref - 1)) + sum_dd / (n_data * (n_data - 1)) - 2.0 * sum_rd / (n_ref * n_data)
    return mmd2.numpy()


def mmd_permutation_test(
    reference,
    data,
    n_permutations: int = 1000,
    bandwidth="median",
    seed: int = 0,
    batch: int = 1000,
    dtype: str = "float32",
) -> TestResult:
    """Permutation test of the unbiased Gaussian-kernel MMD^2 between ``reference`` and ``data``.

    reference: array of shape (n_reference, n_features); data: (n_data, n_features).
    bandwidth: a positive number (the sigma of exp(-|x - y|^2 / (2 sigma^2))); "median": the median
    pairwise distance of up to 1,000 pooled rows drawn with ``seed``; or "aggregate": the median
    times 2^-3 .. 2^2 (six kernels), whose permutation p-values are combined by their minimum and
    that minimum calibrated on the same permutations (``calibration.combined_statistics``: the
    observed split and each permutation get their per-bandwidth p-values as ranks among all of
    them), as in MMDAgg (Schrab et al., JMLR 2023) / MMD-FUSE.
    Permutations reassign the pooled points to samples of the original sizes; the observed split is
    not among them, and p = (1 + #{t_perm >= t_obs}) / (1 + n_permutations), never 0.
    batch: permutations per pass over the pooled kernel matrix, which is recomputed in blocks for
    each pass; memory is O(batch * n) with n = n_reference + n_data (plus one 2048 x 2048 block),
    and results do not depend on ``batch``. dtype: of the kernel blocks ("float32" or "float64";
    sums are accumulated in float64 across blocks).
    The result's ``t_obs`` is MMD^2_u (or -log of the minimum p-value for "aggregate"), its
    ``method`` "mmd/permutation" (or "mmd/permutation+minp") and its ``label`` the bandwidth(s).
    """
    reference, data = check_pair(reference, data)
    check_count("n_permutations", n_permutations)
    _check_bandwidth(bandwidth)
    check_common(seed, batch, dtype)

    points = pooled(reference, data, dtype)  # (N, d)
    n_pool, n_data = points.shape[0], data.shape[0]
    median = float(distance_percentiles(points.numpy(), seed, [50.0])[0])
    if isinstance(bandwidth, str):
        bandwidths = np.array([median]) if bandwidth == "median" else median * np.array(AGGREGATE_FACTORS)
    else:
        bandwidths = np.array([float(bandwidth)])
    shifts = np.exp(-0.5 * (median / bandwidths) ** 2)  # kernel value at the median distance

    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(3,)))
    observed = np.zeros((n_pool, 1), dtype=dtype)
    observed[n_pool - n_data :] = 1.0
    parts = []
    for i, size in enumerate(np.diff(np.r_[0:n_permutations:batch, n_permutations])):
        roles = role_columns(rng, [np.arange(n_pool)], [n_data], size, n_pool, dtype)  # (N, size)
        if i == 0:  # the observed split rides along with the first batch: one pass fewer
            roles = np.concatenate([observed, roles], axis=1)
        parts.append(mmd_statistics(points, roles, bandwidths, shifts))
    t_obs, parts[0] = parts[0][:, 0], parts[0][:, 1:]  # (J,)
    null = np.concatenate(parts, axis=1)  # (J, n_permutations)

    if bandwidths.size == 1:
        return make_result(t_obs[0], null[0], "mmd/permutation", n_permutations, label=f"bandwidth={bandwidths[0]:.4g}")
    stat_obs, stat_perm = combined_statistics(t_obs, null, "minp")
    label = "bandwidths=" + ",".join(f"{b:.4g}" for b in bandwidths)
    return make_result(stat_obs, stat_perm, "mmd/permutation+minp", n_permutations, label=label, with_tail=False)
