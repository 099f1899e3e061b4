"""Pure tensor functions for the kernel ensemble: distances, competition, f(x), loss and gradients.

Every function here works on a leading axis of independent fits ("toys"). Points are shared by
all fits; what differs between fits is the parameters and the per-point loss weights.

Squared distances are never formed as a broadcast difference. Each point is augmented once to
``[x, |x|^2, 1, 0...]`` and each kernel's parameters to ``[2 c x mu, -c, -c |mu|^2, 0...]`` with
``c = 1 / (2 sigma^2)``, so one GEMM yields the log-kernel ``z = -|x - mu|^2 / (2 sigma^2)`` directly.
The same augmented matrix makes the centre gradient a single GEMM whose extra column is the sum
of the per-kernel weights.

The hand-written backward pass below is checked against autograd in the tests (see
``sparker_core.model.KernelEnsemble``, which computes the same f with plain autograd-able ops).
"""

from __future__ import annotations

import numpy as np
import torch

# Rows of points processed at once: (ROW_CHUNK, fits * kernels) temporaries stay in cache.
ROW_CHUNK = 2048
# Feature columns are padded to a multiple of this so the GEMMs run on aligned panels.
_PAD_MULTIPLE = 8


def augmented_width(n_features: int) -> int:
    return -(-(n_features + 2) // _PAD_MULTIPLE) * _PAD_MULTIPLE


def augment(points: torch.Tensor) -> torch.Tensor:
    """Augment points for the one-GEMM distance: array of shape (n, d) -> (n, d_pad)."""
    n, d = points.shape
    out = torch.zeros(n, augmented_width(d), dtype=points.dtype, device=points.device)
    for start in range(0, n, ROW_CHUNK):
        rows = points[start : start + ROW_CHUNK]
        out[start : start + ROW_CHUNK, :d] = rows
        out[start : start + ROW_CHUNK, d] = (rows.double() ** 2).sum(1).to(points.dtype)  # |x|^2
    out[:, d + 1] = 1.0
    return out


def augment_pool(blocks, mean: np.ndarray, scale: np.ndarray, dtype: torch.dtype, device) -> torch.Tensor:
    """Stack numpy blocks of shape (n_k, d), map them to (x - mean) / scale and augment, chunk by chunk.

    Peak memory is the output plus one chunk: a large reference is never copied whole in float64.
    """
    d = mean.shape[0]
    n = sum(block.shape[0] for block in blocks)
    out = torch.zeros(n, augmented_width(d), dtype=dtype, device=device)
    row = 0
    for block in blocks:
        for start in range(0, block.shape[0], ROW_CHUNK * 8):
            work = (np.asarray(block[start : start + ROW_CHUNK * 8], dtype=np.float64) - mean) / scale
            end = row + work.shape[0]
            out[row:end, :d] = torch.as_tensor(work, dtype=dtype)
            out[row:end, d] = torch.as_tensor((work**2).sum(1), dtype=dtype)
            row = end
    out[:, d + 1] = 1.0
    return out


def pack_kernels(centers: torch.Tensor, sigma: torch.Tensor, width: int) -> torch.Tensor:
    """Kernel side of the distance GEMM, rows ordered kernel-major: (M * T, d_pad).

    centers: (T, M, d); sigma: (T,). Row ``i * T + t`` belongs to kernel i of fit t, so that the
    GEMM output viewed as (n, M, T) reduces over kernels along a strided axis and vectorises over fits.
    """
    n_fits, n_kernels, d = centers.shape
    c = 0.5 / sigma**2  # (T,)
    mu = centers.transpose(0, 1)  # (M, T, d)
    packed = torch.zeros(n_kernels, n_fits, width, dtype=centers.dtype, device=centers.device)
    packed[:, :, :d] = mu * (2.0 * c)[None, :, None]
    packed[:, :, d] = -c
    packed[:, :, d + 1] = -(mu * mu).sum(2) * c
    return packed.view(n_kernels * n_fits, width)


def _activations(z: torch.Tensor, temperature: float, competition: str):
    """In place on z (n, M, T) holding log-kernels; returns (e, s).

    e = k * s (competition) or k (no competition), s = SoftMax over kernels of z / temperature
    (None without competition). z's storage is reused for s.
    """
    if competition == "none":
        return z.clamp_(max=0.0).exp_(), None
    m = z.amax(1, keepdim=True)  # (n, 1, T)
    if temperature == 1.0:
        p = z.sub_(m).exp_()  # exp(z - m)
        total = p.sum(1, keepdim=True)
        s = p.div_(total)
        # k * s = exp(z) * s = s * s * total * exp(m); exp(m) clipped at 1 so k <= 1 exactly.
        e = s * s
        e.mul_(total * m.clamp_(max=0.0).exp_())
        return e, s
    shifted = z.sub_(m)  # z - m <= 0
    k = torch.exp(shifted).mul_(m.clamp(max=0.0).exp_())  # exp(z)
    p = shifted.div_(temperature).exp_()
    s = p.div_(p.sum(1, keepdim=True))
    return k.mul_(s), s


def _expand_weights(values: torch.Tensor) -> torch.Tensor:
    """(n, T) -> (n, 1, T) for broadcasting against (n, M, T)."""
    return values[:, None, :]


def evaluate(
    points_aug: torch.Tensor,
    centers: torch.Tensor,
    amplitudes: torch.Tensor,
    sigma: torch.Tensor,
    temperature: float = 1.0,
    competition: str = "softmax",
) -> torch.Tensor:
    """f for every point and fit: (n, T). No gradients."""
    n_fits, n_kernels, _ = centers.shape
    packed = pack_kernels(centers, sigma, points_aug.shape[1])
    amp = amplitudes.T.contiguous()  # (M, T)
    out = torch.empty(points_aug.shape[0], n_fits, dtype=points_aug.dtype, device=points_aug.device)
    for start in range(0, points_aug.shape[0], ROW_CHUNK):
        chunk = points_aug[start : start + ROW_CHUNK]
        z = (chunk @ packed.T).view(-1, n_kernels, n_fits)  # (n, M, T)
        e, _ = _activations(z, temperature, competition)
        out[start : start + ROW_CHUNK] = (e * amp).sum(1)
    return out


def log_kernels(points_aug: torch.Tensor, centers: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """z = -|x - mu|^2 / (2 sigma^2) for one fit: centers (M, d), sigma scalar tensor -> (n, M)."""
    packed = pack_kernels(centers[None], sigma.reshape(1), points_aug.shape[1])
    return points_aug @ packed.T


def loss_and_grad(
    points_aug: torch.Tensor,
    centers: torch.Tensor,
    amplitudes: torch.Tensor,
    sigma: torch.Tensor,
    reference_weight: torch.Tensor,
    data_weight: torch.Tensor,
    temperature: float = 1.0,
    competition: str = "softmax",
    with_grad: bool = True,
    with_loss: bool = True,
):
    """Neyman-Pearson loss of each fit and its gradients, by a hand-written backward pass.

    L_t = sum_n [ A_nt (exp(f_t(x_n)) - 1) - B_nt f_t(x_n) ]

    points_aug: (N, d_pad) from ``augment``; centers: (T, M, d); amplitudes: (T, M); sigma: (T,);
    reference_weight A and data_weight B: (N, T). Returns (loss (T,) float64, grad_centers
    (T, M, d), grad_amplitudes (T, M)); the gradients are None when ``with_grad`` is False, the loss
    when ``with_loss`` is False (a training step whose loss nobody reads).
    Memory is O(ROW_CHUNK * T * M) beyond the inputs.
    """
    n_fits, n_kernels, d = centers.shape
    width = points_aug.shape[1]
    packed = pack_kernels(centers, sigma, width)  # (M*T, d_pad)
    amp = amplitudes.T.contiguous()  # (M, T)
    if competition == "none":
        coef_h, coef_s = 1.0, 0.0
    else:
        coef_h, coef_s = 1.0 + 1.0 / temperature, 1.0 / temperature
    amp_h = amp * coef_h
    loss = torch.zeros(n_fits, dtype=torch.float64, device=points_aug.device) if with_loss else None
    grad_packed = torch.zeros_like(packed) if with_grad else None
    grad_amp = torch.zeros_like(amp) if with_grad else None
    for start in range(0, points_aug.shape[0], ROW_CHUNK):
        chunk = points_aug[start : start + ROW_CHUNK]
        n = chunk.shape[0]
        z = (chunk @ packed.T).view(n, n_kernels, n_fits)  # (n, M, T)
        e, s = _activations(z, temperature, competition)  # (n, M, T)
        f = (e * amp).sum(1)  # (n, T)
        a_w = reference_weight[start : start + n]
        b_w = data_weight[start : start + n]
        expm1_f = torch.expm1(f)
        if with_loss:
            loss += (a_w * expm1_f - b_w * f).sum(0, dtype=torch.float64)
        if not with_grad:
            continue
        g = a_w * (expm1_f + 1.0) - b_w  # dL/df, (n, T)
        ge = e.mul_(_expand_weights(g))  # g * e, (n, M, T)
        grad_amp += ge.sum(0)
        # dL/dz_i = g * (a_i e_i (1 + 1/tau) - s_i f / tau)
        grad_z = ge.mul_(amp_h)
        if s is not None:
            grad_z.addcmul_(s, _expand_weights(f * g), value=-coef_s)
        grad_packed.addmm_(grad_z.view(n, n_kernels * n_fits).T, chunk)
    if not with_grad:
        return loss, None, None
    grad_packed = grad_packed.view(n_kernels, n_fits, width)
    # z = -(|x|^2 - 2 x.mu + |mu|^2) c  =>  dL/dmu = 2 c (sum_n G x_n - mu sum_n G)
    c2 = (1.0 / sigma**2)[None, :, None]  # 2c, (1, T, 1)
    mu = centers.transpose(0, 1)  # (M, T, d)
    grad_mu = c2 * (grad_packed[:, :, :d] - mu * grad_packed[:, :, d + 1 : d + 2])
    return loss, grad_mu.transpose(0, 1).contiguous(), grad_amp.T.contiguous()


def nearest_kernel(
    points_aug: torch.Tensor, centers: torch.Tensor, sigma: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Nearest centre of each point (the argmax of the SoftMax) and its log-kernel there.

    centers (M, d); sigma scalar tensor -> (index (n,), z (n,)) with z = -|x - mu|^2 / (2 sigma^2).
    """
    index = torch.empty(points_aug.shape[0], dtype=torch.long, device=points_aug.device)
    best = torch.empty(points_aug.shape[0], dtype=points_aug.dtype, device=points_aug.device)
    for start in range(0, points_aug.shape[0], ROW_CHUNK):
        z = log_kernels(points_aug[start : start + ROW_CHUNK], centers, sigma)
        best[start : start + ROW_CHUNK], index[start : start + ROW_CHUNK] = z.max(1)
    return index, best
