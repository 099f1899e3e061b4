"""Neyman-Pearson loss and the test statistic t = -2 L.

L = sum_R w_R (exp(f) - 1) - sum_D f,  with w_R = N_D / N_R (or the ratio of summed weights).

In the batched engine every fit sees the same pool of points, each point carrying a reference
weight A (the coefficient of exp(f) - 1) and a data weight B (the coefficient of -f). An ordinary
fit puts A = w_R on reference rows and B = 1 on data rows; a permutation toy reassigns them.
"""

from __future__ import annotations

import numpy as np
import torch


def np_loss(
    f: torch.Tensor, reference_weight: torch.Tensor, data_weight: torch.Tensor
) -> torch.Tensor:
    """L per fit from f of shape (T, n) and weights of shape (n, T); accumulated in float64."""
    terms = reference_weight.T * torch.expm1(f) - data_weight.T * f  # (T, n)
    return terms.sum(1, dtype=torch.float64)


def t_from_loss(loss):
    """The test statistic t = -2 L."""
    return -2.0 * loss


def role_weights(
    n_reference: int,
    n_data: int,
    reference_weight: np.ndarray | None = None,
    data_weight: np.ndarray | None = None,
    data_total: float | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Per-point (A, B) for the pool [reference rows; data rows], each of shape (n_reference + n_data,).

    Without weights, A = N_D / N_R on reference rows and B = 1 on data rows. With per-point weights,
    A = w_ref * sum(w_data) / sum(w_ref) and B = w_data, so the reference is normalised to the data.
    ``data_total`` replaces sum(w_data) in that ratio (a toy whose pseudo-data size fluctuates keeps
    the observed normalisation).
    """
    ref_w = np.ones(n_reference) if reference_weight is None else np.asarray(reference_weight, float)
    data_w = np.ones(n_data) if data_weight is None else np.asarray(data_weight, float)
    scale = (data_w.sum() if data_total is None else data_total) / ref_w.sum()
    a = np.concatenate([ref_w * scale, np.zeros(n_data)])
    b = np.concatenate([np.zeros(n_reference), data_w])
    return a, b
