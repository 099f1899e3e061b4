"""The kernel ensemble as a plain autograd ``nn.Module`` with a leading axis of independent fits.

Training does not go through autograd (``sparker_core.kernels.loss_and_grad`` is a fused,
hand-written forward and backward pass that is several times faster on a CPU); this module is the
readable definition of f that the tests differentiate with autograd and compare against, and a
differentiable model for users who want to build on it.
"""

from __future__ import annotations

import torch
from torch import nn


class KernelEnsemble(nn.Module):
    """f_t(x) = sum_i a_ti k_ti(x) s_ti(x) for T independent fits of M Gaussian kernels.

    k_ti(x) = exp(-|x - mu_ti|^2 / (2 sigma_t^2)); s_ti = SoftMax_i(-|x - mu_ti|^2 / (2 sigma_t^2 tau)),
    or s = 1 when ``competition="none"``.

    centers: array of shape (n_fits, n_kernels, n_features); amplitudes: (n_fits, n_kernels).
    """

    def __init__(
        self,
        centers: torch.Tensor,
        amplitudes: torch.Tensor,
        temperature: float = 1.0,
        competition: str = "softmax",
    ):
        super().__init__()
        self.centers = nn.Parameter(centers.clone())  # (T, M, d)
        self.amplitudes = nn.Parameter(amplitudes.clone())  # (T, M)
        self.temperature = temperature
        self.competition = competition

    def forward(self, points: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        """f for each fit and point: points (n, d), sigma (T,) -> (T, n)."""
        sq = (
            (points * points).sum(1)[None, :, None]  # (1, n, 1)
            - 2.0 * torch.einsum("nd,tmd->tnm", points, self.centers)  # (T, n, M)
            + (self.centers * self.centers).sum(2)[:, None, :]  # (T, 1, M)
        ).clamp(min=0.0)
        z = -sq / (2.0 * sigma[:, None, None] ** 2)  # (T, n, M)
        k = torch.exp(z)
        if self.competition == "none":
            weight = k
        else:
            weight = k * torch.softmax(z / self.temperature, dim=2)
        return (weight * self.amplitudes[:, None, :]).sum(2)  # (T, n)
