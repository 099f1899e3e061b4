"""The companion statistic of SparKer's test: kernel NPLM with many fixed centres (the Falkon line:
Letizia et al., EPJC 82, 879, 2022), fitted on the same ``Problem`` and the same roles as SparKer's
observed fit and toys.

f(x) = sum_j a_j exp(-|x - c_j|^2 / (2 sigma^2)) with centres c_j on data rows (drawn as SparKer's
``init="random"`` starts: the observed fit's with the estimator's seed, each toy's from its own
data-role rows) and never moved; only the amplitudes are trained, on the Neyman-Pearson loss

    L(a) = sum_R w_R (e^f - 1) - sum_D f,   w_R = N_D / N_R,   t = -2 L(a*),

plus L2 * |a|^2 in the objective (not in t). The objective is convex in a and is minimised by
Newton's method with a backtracking line search, for a batch of fits at once (one (M, M) Hessian
per fit). Many small local kernels add up the evidence of a rare group that SparKer's few moving
kernels, whose null t grows with the dimension, can miss (benchmarks/README.md, "Defaults").
``baselines.fixed_centers`` runs the same statistic as a test of its own.
"""

from __future__ import annotations

import numpy as np
import torch

from .kernels import ROW_CHUNK, pack_kernels
from .problem import Problem

# The penalty L2 * |a|^2 of the training objective (in units of L, whose scale is N_D), and the most
# Newton steps per fit; the defaults of the fixed-centre baseline.
L2 = 1e-2
MAX_ITER = 50

# Newton stops for a fit when half its squared Newton decrement, the predicted decrease of the
# objective, falls below TOLERANCE times N_D (the scale of L), or below the rounding noise of L
# in the kernels' dtype (10 eps N_D): beyond that no step can be told apart from no step.
TOLERANCE = 1e-9
_ARMIJO = 1e-4
_MAX_HALVINGS = 20


def _kernel_matrices(pool_aug: torch.Tensor, centers: torch.Tensor, sigma: float) -> torch.Tensor:
    """k(x_n, c_tj) for every fit: centers (T, M, d) -> (T, N, M), by row chunks of one GEMM each."""
    n_fits, n_centers, _ = centers.shape
    packed = pack_kernels(centers, torch.full((n_fits,), sigma, dtype=centers.dtype, device=centers.device), pool_aug.shape[1])  # (M*T, d_pad)
    out = torch.empty(n_fits, pool_aug.shape[0], n_centers, dtype=pool_aug.dtype, device=pool_aug.device)
    for start in range(0, pool_aug.shape[0], ROW_CHUNK):
        z = (pool_aug[start : start + ROW_CHUNK] @ packed.T).view(-1, n_centers, n_fits)  # (n, M, T)
        out[:, start : start + ROW_CHUNK] = z.clamp_(max=0.0).exp_().permute(2, 0, 1)
    return out


def _objective(k: torch.Tensor, a: torch.Tensor, ref_w: torch.Tensor, data_w: torch.Tensor, l2: float):
    """(NP loss L (T,), L + l2 |a|^2 (T,), f (T, N)) in float64 sums."""
    f = torch.bmm(k, a.to(k.dtype)[:, :, None])[:, :, 0]  # (T, N)
    loss = (ref_w * torch.expm1(f) - data_w * f).sum(1, dtype=torch.float64)
    return loss, loss + l2 * (a * a).sum(1), f


def newton_fit(k: torch.Tensor, ref_w: torch.Tensor, data_w: torch.Tensor, l2: float, max_iter: int):
    """Minimise L(a) + l2 |a|^2 for each fit: k (T, N, M), weights (T, N) -> (a (T, M) float64, L (T,), converged (T,)).

    Fits are independent: each stops on its own Newton decrement, and the numbers do not depend
    on which other fits share the batch.
    """
    n_fits, _, n_centers = k.shape
    a = torch.zeros(n_fits, n_centers, dtype=torch.float64, device=k.device)
    tol = max(TOLERANCE, 10.0 * torch.finfo(k.dtype).eps) * data_w.sum(1, dtype=torch.float64)  # (T,)
    eye = torch.eye(n_centers, dtype=torch.float64, device=k.device)
    loss, objective, f = _objective(k, a, ref_w, data_w, l2)
    active = torch.ones(n_fits, dtype=torch.bool, device=k.device)
    for _ in range(max_iter):
        expf = torch.exp(f) * ref_w  # (T, N): w_R e^f on reference-role rows
        residual = (expf - data_w).to(k.dtype)
        grad = torch.bmm(k.transpose(1, 2), residual[:, :, None])[:, :, 0].double() + 2.0 * l2 * a  # (T, M)
        hess = torch.zeros(n_fits, n_centers, n_centers, dtype=torch.float64, device=k.device)
        for start in range(0, k.shape[1], ROW_CHUNK):
            block = k[:, start : start + ROW_CHUNK]  # (T, n, M)
            hess += torch.bmm(block.transpose(1, 2), block * expf[:, start : start + ROW_CHUNK, None].to(k.dtype)).double()
        hess += 2.0 * l2 * eye
        step = -torch.cholesky_solve(grad[:, :, None], torch.linalg.cholesky(hess))[:, :, 0]  # (T, M)
        decrement = -(grad * step).sum(1)  # g'H^-1 g >= 0
        active &= 0.5 * decrement > tol
        if not active.any():
            break
        # backtracking line search, vectorised over the fits still moving
        scale = torch.where(active, 1.0, 0.0).double()  # (T,)
        pending = active.clone()
        for _ in range(_MAX_HALVINGS):
            trial = a + scale[:, None] * step
            t_loss, t_objective, t_f = _objective(k, trial, ref_w, data_w, l2)
            ok = pending & (t_objective <= objective - _ARMIJO * scale * decrement)
            a = torch.where(ok[:, None], trial, a)
            loss, objective = torch.where(ok, t_loss, loss), torch.where(ok, t_objective, objective)
            f = torch.where(ok[:, None], t_f, f)
            pending &= ~ok
            if not pending.any():
                break
            scale = torch.where(pending, 0.5 * scale, 0.0)
        active &= ~pending  # no acceptable step: at the optimum to working precision
    return a, loss, ~active



def fixed_t(problem: Problem, sigma: float, roles, l2: float = L2, max_iter: int = MAX_ITER) -> tuple[np.ndarray, int]:
    """t of a batch of fits, one per (A, B, centre rows) triple of ``roles`` (``roles.observed_roles`` /
    ``toy_roles`` with ``init="random"``), at width ``sigma``: (t (T,), fits not converged)."""
    ref_w, data_w = problem.tensor(np.stack([r[0] for r in roles])), problem.tensor(np.stack([r[1] for r in roles]))  # (T, N)
    rows = torch.as_tensor(np.stack([r[2][0] for r in roles]), device=problem.device)  # (T, M): one start set per role
    centers = problem.pool_aug[rows][:, :, : problem.n_features]  # (T, M, d)
    k = _kernel_matrices(problem.pool_aug, centers, sigma)  # (T, N, M)
    _, loss, converged = newton_fit(k, ref_w, data_w, float(l2), int(max_iter))
    return (-2.0 * loss).cpu().numpy(), int((~converged).sum())
