"""Full-batch training of many independent fits at once, observed through snapshots; the observed fit.

``train_iter`` advances T fits epoch by epoch and yields a frozen ``BatchSnapshot`` every few
epochs. The fits share the pool of points and differ in their initial centres, widths and loss
weights, so one program trains the observed fit and every null pseudo-experiment alike.
Inside an epoch the fits are processed in blocks of ``block_fits`` so that the (rows, M, T)
temporaries of the fused forward/backward pass stay in cache; blocks are independent, so the
numbers do not depend on the block size (up to floating-point summation order in the GEMM).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch

from .config import SparKerConfig
from .kernels import loss_and_grad
from .loss import t_from_loss
from .problem import Problem
from .roles import observed_roles
from .threads import ADJUST_EPOCHS, adaptive_iterator, adjust

# Columns (fits * kernels) per block; 256 keeps the (2048, 256) float32 temporaries at 2 MiB.
BLOCK_COLUMNS = 256
_ADAM_BETAS = (0.9, 0.999)
_ADAM_EPS = 1e-8


class StopTraining(Exception):
    """Raised by a callback (or by the caller) to stop a fit between snapshots."""


@dataclass(frozen=True)
class BatchSnapshot:
    """State of T fits after ``epoch`` optimiser steps; arrays are copies in working space."""

    epoch: int  # optimiser steps taken so far
    sigma: np.ndarray  # (T,) width used at this epoch
    loss: np.ndarray  # (T,) Neyman-Pearson loss L (without the sparsity penalty)
    t: np.ndarray  # (T,) test statistic -2 L
    centers: np.ndarray  # (T, M, d)
    amplitudes: np.ndarray  # (T, M)


def default_block_fits(n_kernels: int) -> int:
    return max(1, BLOCK_COLUMNS // n_kernels)


class _Adam:
    """Adam on a (T, ...) tensor, updated in place for any block of fits."""

    def __init__(self, param: torch.Tensor):
        self.param = param
        self.m = torch.zeros_like(param)
        self.v = torch.zeros_like(param)

    def step(self, rows: slice, grad: torch.Tensor, lr, step: int) -> None:
        b1, b2 = _ADAM_BETAS
        m, v = self.m[rows], self.v[rows]
        m.mul_(b1).add_(grad, alpha=1.0 - b1)
        v.mul_(b2).addcmul_(grad, grad, value=1.0 - b2)
        denom = (v / (1.0 - b2**step)).sqrt_().add_(_ADAM_EPS)
        update = (m / (1.0 - b1**step)).div_(denom)
        self.param[rows].sub_(update * lr)


def train_iter(
    points_aug: torch.Tensor,
    reference_weight: torch.Tensor,
    data_weight: torch.Tensor,
    initial_centers: torch.Tensor,
    sigmas: torch.Tensor,
    config: SparKerConfig,
    every: int | None = 10,
    block_fits: int | None = None,
) -> Iterator[BatchSnapshot]:
    """Train T fits; yield a snapshot at epoch 0, every ``every`` epochs, and after the last step.

    points_aug: (N, d_pad) from ``kernels.augment``; reference_weight, data_weight: (N, T);
    initial_centers: (T, M, d); sigmas: (max_epochs + 1, T) width of each fit at each epoch.
    ``every=None`` yields the final snapshot only. Memory is O(N * T) for the weights plus
    O(ROW_CHUNK * block_fits * M) for temporaries. The caller may stop iterating at any snapshot.
    """
    n_fits, n_kernels, d = initial_centers.shape
    # on a GPU every fit goes in one block: its temporaries need no cache, and fewer launches keep it busy
    block = block_fits or (n_fits if initial_centers.is_cuda else default_block_fits(n_kernels))
    centers = initial_centers.clone()
    amplitudes = torch.zeros(n_fits, n_kernels, dtype=centers.dtype, device=centers.device)
    adam_centers, adam_amplitudes = _Adam(centers), _Adam(amplitudes)
    low = 0.0 if config.positive_only else -config.amplitude_clip
    loss = torch.zeros(n_fits, dtype=torch.float64, device=centers.device)
    last = config.max_epochs
    center_scale = config.center_learning_rate / math.sqrt(d)
    blocks = [slice(s, min(s + block, n_fits)) for s in range(0, n_fits, block)]
    for epoch in range(last + 1):
        if epoch % ADJUST_EPOCHS == 0 and epoch > 0:
            adjust()  # threads from the load, when run under threads.adaptive_iterator
        sigma = sigmas[epoch]
        final = epoch == last
        snapshot_now = final or (every is not None and epoch % every == 0)
        if snapshot_now:  # parameters at which this epoch's loss is evaluated
            snap_centers = centers.cpu().numpy().copy()
            snap_amplitudes = amplitudes.cpu().numpy().copy()
        for rows in blocks:
            block_loss, grad_c, grad_a = loss_and_grad(
                points_aug,
                centers[rows],
                amplitudes[rows],
                sigma[rows],
                reference_weight[:, rows],
                data_weight[:, rows],
                config.temperature,
                config.competition,
                with_grad=not final,
                with_loss=snapshot_now,
            )
            if snapshot_now:
                loss[rows] = block_loss
            if final:
                continue
            if config.sparsity > 0:
                grad_a.add_(torch.sign(amplitudes[rows]), alpha=config.sparsity)
            # Adam sees the gradient with respect to mu / sigma, which does not depend on the data's units
            # (the one w.r.t. mu scales as 1 / units and would fall below Adam's epsilon for large units)
            width = sigma[rows][:, None, None]  # (B, 1, 1)
            adam_centers.step(rows, grad_c.mul_(width), center_scale * width, epoch + 1)
            adam_amplitudes.step(rows, grad_a, config.learning_rate, epoch + 1)
            amplitudes[rows].clamp_(low, config.amplitude_clip)
        if snapshot_now:
            loss_np = loss.cpu().numpy().copy()
            yield BatchSnapshot(
                epoch=epoch,
                sigma=sigma.double().cpu().numpy().copy(),
                loss=loss_np,
                t=t_from_loss(loss_np),
                centers=snap_centers,
                amplitudes=snap_amplitudes,
            )


# --------------------------------------------------------------------------------- the observed fit
@dataclass(frozen=True)
class Snapshot:
    """One fit after ``epoch`` optimiser steps; centres in input space."""

    epoch: int  # optimiser steps taken so far
    sigma: float  # kernel width at this epoch (working-space units)
    loss: float  # Neyman-Pearson loss L (without the sparsity penalty)
    t: float  # test statistic -2 L
    centers: np.ndarray  # (n_kernels, n_features)
    amplitudes: np.ndarray  # (n_kernels,)


@dataclass(frozen=True)
class FitState:
    """The observed fit of every scale after its latest snapshot: what calibration and explain read."""

    histories: tuple[list[Snapshot], ...]  # per scale, every snapshot so far (input space); a running fit appends
    centers: np.ndarray  # (n_scales, M, d) latest centres in working space
    t: np.ndarray  # (n_scales,) latest t of every scale
    epoch: int  # optimiser steps taken so far
    complete: bool  # trained for max_epochs (not stopped early)

    def kernels(self, problem: Problem, scale: int):
        """(centers (M, d), amplitudes (M,), sigma ()) of scale ``scale`` as tensors in working space."""
        snap = self.histories[scale][-1]
        return problem.tensor(self.centers[scale]), problem.tensor(snap.amplitudes), problem.tensor(snap.sigma)


def snapshot_kernels(problem: Problem, snapshot: Snapshot):
    """(centers (M, d), amplitudes (M,), sigma ()) of a ``Snapshot`` as tensors in working space."""
    centers = problem.tensor((snapshot.centers - problem.mean) / problem.scale)
    return centers, problem.tensor(snapshot.amplitudes), problem.tensor(snapshot.sigma)


@adaptive_iterator
def fit_problem(problem: Problem, every: int = 10) -> Iterator[FitState]:
    """Train the observed fit of every scale together, yielding the state at epoch 0, every ``every``
    epochs and after the last one. Roles and initial centres: ``roles.observed_roles``.
    A non-finite t stops the fit with a ValueError: never a p-value from an undefined statistic.
    Torch's threads follow the machine's load while it trains (``threads.adaptive``)."""
    config, n_scales = problem.config, problem.n_scales
    a, b, rows = observed_roles(problem, config.n_kernels, config.init, [c.sigma_final for c in problem.configs])
    columns = lambda w: problem.tensor(np.repeat(w[:, None], n_scales, 1))  # noqa: E731  (N, K)
    centers = problem.pool_aug[torch.as_tensor(rows, device=problem.device)][:, :, : problem.n_features]  # (K, M, d)
    histories = tuple([] for _ in range(n_scales))
    for batch in train_iter(problem.pool_aug, columns(a), columns(b), centers, problem.tensor(problem.sigmas), config, every):
        if not np.isfinite(batch.t).all():
            widths = ", ".join(f"{s:.3g}" for s, t in zip(batch.sigma, batch.t) if not np.isfinite(t))
            raise ValueError(
                f"the statistic t is not finite at epoch {batch.epoch} (sigma {widths}): the training diverged; "
                "rescale the inputs, lower `learning_rate` or `amplitude_clip`, or use dtype='float64'."
            )
        for j, history in enumerate(histories):
            history.append(Snapshot(
                epoch=batch.epoch,
                sigma=float(batch.sigma[j]),
                loss=float(batch.loss[j]),
                t=float(batch.t[j]),
                centers=batch.centers[j] * problem.scale + problem.mean,
                amplitudes=batch.amplitudes[j].astype(np.float64),
            ))
        yield FitState(histories, batch.centers, batch.t.astype(np.float64), batch.epoch, batch.epoch >= config.max_epochs)


def fitted_attributes(problem: Problem, fit: FitState, scale: int) -> dict:
    """The estimator's fitted attributes (name -> value) with scale ``scale`` shown."""
    snap = fit.histories[scale][-1]
    return {
        "scale_": int(scale),
        "history_": fit.histories[scale],
        "t_scales_": fit.t,
        "scale_snapshots_": tuple(history[-1] for history in fit.histories),  # the last state of every scale
        "sigma_finals_": np.array([c.sigma_final for c in problem.configs]),
        "stopped_early_": not fit.complete,
        "centers_": snap.centers,
        "amplitudes_": snap.amplitudes,
        "sigma_": snap.sigma,
        "t_obs_": snap.t,
        "loss_": snap.loss,
        "n_epochs_": snap.epoch,
        "active_": np.abs(snap.amplitudes) >= problem.config.active_threshold,
        "sigma_init_": problem.config.sigma_init,
        "sigma_final_": problem.configs[scale].sigma_final,
        "n_features_in_": problem.n_features,
        "reference_mean_": problem.mean,  # working space is (x - reference_mean_) / reference_scale_
        "reference_scale_": problem.scale,
        "config_": problem.configs[scale],  # resolved hyper-parameters of the shown scale (SparKerConfig)
    }
