"""Per-kernel regions: which points a kernel claims, how far they depart from the reference, and
how much of t the kernel carries."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from scipy import special, stats

from .kernels import evaluate, log_kernels, nearest_kernel
from .loss import np_loss, t_from_loss
from .problem import Problem
from .roles import pool_weights
from .training import FitState

# Members lie within this many sigmas of their nearest centre: the kernel's half-height radius,
# sqrt(2 ln 2) (k >= 1/2 there), where the kernel carries at least half its amplitude. A wider
# radius makes a wide kernel claim hundreds of points it barely touches.
MEMBER_RADIUS = float(np.sqrt(2.0 * np.log(2.0)))


def binomial_z(n_data: np.ndarray, n_reference: np.ndarray, data_share: float) -> np.ndarray:
    """Signed Z of the exact binomial test of a member split.

    Under the null each of the n_data + n_reference members is a data point with probability
    ``data_share`` = N_D / (N_D + N_R). Positive Z: more data members than expected (upper tail),
    negative: fewer (lower tail). The test is local and pre-trial: the kernel was placed using
    these very points, so this Z is optimistic; only the calibrated global p-value is not.
    """
    n_data = np.asarray(n_data, dtype=np.int64)
    total = n_data + np.asarray(n_reference, dtype=np.int64)
    z = np.zeros(n_data.shape)
    for i, (k, n) in enumerate(zip(n_data, total)):
        if n == 0:
            continue
        if k >= data_share * n:
            log_p = stats.binom.logsf(k - 1, n, data_share)  # P(X >= k)
            z[i] = -special.ndtri_exp(min(log_p, 0.0))
        else:
            log_p = stats.binom.logcdf(k, n, data_share)  # P(X <= k)
            z[i] = special.ndtri_exp(min(log_p, 0.0))
    return z


def removal_t(
    pool_aug: torch.Tensor,
    reference_weight: torch.Tensor,
    data_weight: torch.Tensor,
    centers: torch.Tensor,
    amplitudes: torch.Tensor,
    sigma: torch.Tensor,
    temperature: float,
    competition: str,
) -> np.ndarray:
    """t of the fit with kernel i silenced (a_i = 0, everything else unchanged), for each i.

    Silencing keeps the SoftMax shares of the other kernels as fitted, so the region the kernel
    claimed reverts to f ~ 0 (no departure from the reference) instead of being handed to
    neighbours whose amplitudes were never fitted there.
    pool_aug: (N, d_pad); weights: (N,); centers (M, d); amplitudes (M,); sigma scalar tensor.
    """
    n_kernels = centers.shape[0]
    silenced = amplitudes[None].repeat(n_kernels, 1)  # (M, M): row i has a_i = 0
    silenced.fill_diagonal_(0.0)
    f = evaluate(
        pool_aug, centers[None].expand(n_kernels, -1, -1), silenced, sigma.expand(n_kernels), temperature, competition
    )  # (N, M)
    weights = (reference_weight[:, None].expand(-1, n_kernels), data_weight[:, None].expand(-1, n_kernels))
    return t_from_loss(np_loss(f.T, *weights).cpu().numpy())


def explain_kernels(
    problem: Problem, fit: FitState, scale: int, n_exemplars: int = 5, member_radius: float = MEMBER_RADIUS
) -> pd.DataFrame:
    """One row per kernel of scale ``scale`` of the fit, ranked by ``rank_regions``: active excesses,
    then deficits, each by the strength of its local evidence (``significance``), then inactive kernels.

    Members of kernel i are the points whose SoftMax argmax is i (their nearest centre) and that lie
    within ``member_radius * sigma`` of it (default: the half-height radius, where k >= 1/2); points
    farther from every centre belong to no kernel. Member indices and exemplar indices refer to rows
    of the data (or reference) as passed to fit.

    Columns: kernel, kind ("excess", "deficit" or "inactive"), active (|a| >= the threshold and at
    least one member point), amplitude, sigma, center (input space), n_data (data members, summed
    weights), n_reference, expected (w_R * reference members), excess (n_data - expected),
    significance (signed local Z of the exact binomial test of the member split; pre-trial,
    optimistic), delta_t (t minus t with the kernel silenced, a_i = 0), exemplars_nearest and
    exemplars_top_score (data row indices: closest to the centre, and highest f, among the members),
    members_data and members_reference (row indices).
    """
    config, n_reference, pool_aug = problem.config, problem.n_reference, problem.pool_aug
    temperature, competition, active_threshold = config.temperature, config.competition, config.active_threshold
    centers, amplitudes, sigma = fit.kernels(problem, scale)
    snap = fit.histories[scale][-1]
    t_obs, centers_input = snap.t, snap.centers
    reference_weight, data_weight = (problem.tensor(w) for w in pool_weights(problem, np.arange(n_reference), problem.data_rows))
    n_kernels = centers.shape[0]
    nearest, z_nearest = nearest_kernel(pool_aug, centers, sigma)
    # a point is a member of its nearest kernel if it lies within member_radius * sigma of it
    members = torch.where(z_nearest >= -0.5 * member_radius**2, nearest, -1).cpu().numpy()
    ref_members, data_members = members[:n_reference], members[n_reference:]
    data_aug = pool_aug[n_reference:]
    f_data = evaluate(data_aug, centers[None], amplitudes[None], sigma.reshape(1), temperature, competition)[:, 0]
    f_data = f_data.double().cpu().numpy()
    # squared distances to every centre, for the nearest exemplars: (n_data, M)
    sigma_value = float(sigma.item())  # one device sync, not one per kernel
    dist2 = -2.0 * sigma_value**2 * log_kernels(data_aug, centers, sigma).double().cpu().numpy()
    ref_w = reference_weight[:n_reference].double().cpu().numpy()
    data_w = data_weight[n_reference:].double().cpu().numpy()
    n_data_rows = pool_aug.shape[0] - n_reference
    data_share = n_data_rows / (n_data_rows + n_reference)
    t_without = removal_t(pool_aug, reference_weight, data_weight, centers, amplitudes, sigma, temperature, competition)
    amps = amplitudes.double().cpu().numpy()

    rows = []
    for i in range(n_kernels):
        data_idx = np.flatnonzero(data_members == i)
        ref_idx = np.flatnonzero(ref_members == i)
        nearest = data_idx[np.argsort(dist2[data_idx, i], kind="stable")[:n_exemplars]]
        top = data_idx[np.argsort(-f_data[data_idx], kind="stable")[:n_exemplars]]
        n_data = float(data_w[data_idx].sum())
        expected = float(ref_w[ref_idx].sum())
        rows.append(
            {
                "kernel": i,
                "active": bool(abs(amps[i]) >= active_threshold),
                "amplitude": float(amps[i]),
                "sigma": sigma_value,
                "center": centers_input[i].copy(),
                "n_data": n_data,
                "n_reference": int(ref_idx.size),
                "expected": expected,
                "excess": n_data - expected,
                "significance": 0.0,
                "delta_t": float(t_obs - t_without[i]),
                "exemplars_nearest": nearest,
                "exemplars_top_score": top,
                "members_data": data_idx,
                "members_reference": ref_idx,
            }
        )
    table = pd.DataFrame(rows)
    table["significance"] = binomial_z(
        table["members_data"].map(len).to_numpy(), table["n_reference"].to_numpy(), data_share
    )
    return rank_regions(table)


KINDS = ("excess", "deficit", "inactive")


def rank_regions(table: pd.DataFrame) -> pd.DataFrame:
    """The one ranking of regions that every view shares: active excess kernels first, by decreasing
    local significance (the binomial Z of their member split); then active deficits, most negative Z
    first; then inactive kernels by decreasing ``delta_t``. Ties go to the larger ``delta_t``.

    A kernel is active when |a| reaches the threshold AND it has member points (a kernel that claims
    no point explains nothing); its ``kind`` is "excess" (a > 0: more data than reference expects),
    "deficit" (a < 0) or "inactive". Users look for what the data hold that the reference does not,
    so excesses come first even when a deficit carries more of t. Within a kind, the local Z puts
    first the region whose members depart most from the reference: on the evaluation panel it puts
    more anomalies in the first region than ``delta_t`` does (benchmarks/bench_localisation.py).
    """
    table = table.copy()
    has_members = (table["members_data"].map(len) + table["members_reference"].map(len)) > 0
    table["active"] = table["active"] & has_members
    table["kind"] = np.where(~table["active"], "inactive", np.where(table["amplitude"] > 0, "excess", "deficit"))
    order = table["kind"].map({k: i for i, k in enumerate(KINDS)})
    evidence = np.select([table["kind"] == "excess", table["kind"] == "deficit"],
                         [table["significance"], -table["significance"]], default=0.0)
    table = table.assign(_order=order, _evidence=evidence).sort_values(
        ["_order", "_evidence", "delta_t"], ascending=[True, False, False], kind="stable")
    return table.drop(columns=["_order", "_evidence"]).reset_index(drop=True)
