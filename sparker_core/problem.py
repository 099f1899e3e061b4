"""The prepared problem: validated inputs in working space, on the device, with their widths.

``build_problem`` is the one validation edge of a fit: it checks the parameters (``config.PARAMS``)
and the arrays, moves [reference; data] to working space as one augmented pool, resolves the
"auto" widths and the width schedule of every scale. The estimator, the calibration and the
fixed-centre baseline all work on the ``Problem`` it returns.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import cached_property

import numpy as np
import torch

from ._validation import check_choice, check_params, width_list
from .config import (
    AUTO_SIGMA_FINAL_FRACTION,
    AUTO_SIGMA_INIT_PERCENTILE,
    DEVICES,
    PARAMS,
    SparKerConfig,
    auto_ladder,
    distance_percentiles,
    sigma_schedule,
)
from .data import check_points, check_same_width, check_weights, working_space
from .kernels import augment_pool
from .neighbours import PoolNeighbours


_PLAIN = {"int": int, "float": float, "bool": bool}


@dataclass(frozen=True)
class Problem:
    """Inputs of a fit moved to working space and to the device; shared by fits and toys."""

    configs: tuple[SparKerConfig, ...]  # one per final width ("scale"); they differ in sigma_final only
    device: torch.device
    dtype: torch.dtype
    mean: np.ndarray  # (d,) reference mean subtracted from every point
    scale: np.ndarray  # (d,) divisor after centring (ones unless preprocessing="standardize")
    pool_aug: torch.Tensor  # (N_R + N_D, d_pad): reference rows then data rows, augmented (kernels.augment)
    n_reference: int  # N_R
    reference_weight: np.ndarray | None  # (N_R,) user weights or None
    data_weight: np.ndarray | None  # (N_D,) user weights or None
    sigmas: np.ndarray  # (max_epochs + 1, n_scales) width schedule of each scale
    seed: int = 0  # the estimator's seed: initial centres of the observed fit, 'auto' widths' subsample
    companion_kernels: int = 0  # centres of the fixed-centre companion test (``companion``); 0: none
    companion_sigma: float = 0.0  # its width: AUTO_SIGMA_FINAL_FRACTION x the median pairwise reference distance

    @property
    def config(self) -> SparKerConfig:
        """The settings every scale shares (its sigma_final is that of scale 0)."""
        return self.configs[0]

    @property
    def n_scales(self) -> int:
        return len(self.configs)

    @property
    def n_features(self) -> int:
        return self.mean.shape[0]

    @property
    def n_points(self) -> int:
        return self.pool_aug.shape[0]

    @property
    def n_data(self) -> int:
        return self.n_points - self.n_reference

    @property
    def data_rows(self) -> np.ndarray:
        """Pool rows of the data: (N_D,)."""
        return self.n_reference + np.arange(self.n_data)

    @property
    def points(self) -> torch.Tensor:
        """(N, d) working-space view of the whole pool."""
        return self.pool_aug[:, : self.n_features]

    @property
    def reference(self) -> torch.Tensor:
        """(N_R, d) working-space view into the pool."""
        return self.pool_aug[: self.n_reference, : self.n_features]

    @property
    def data(self) -> torch.Tensor:
        """(N_D, d) working-space view into the pool."""
        return self.pool_aug[self.n_reference :, : self.n_features]

    @property
    def weight(self) -> np.ndarray:
        """(N,) per-point user weights over the pool, ones where none were given."""
        weight = np.ones(self.n_points)
        if self.reference_weight is not None:
            weight[: self.n_reference] = self.reference_weight
        if self.data_weight is not None:
            weight[self.n_reference :] = self.data_weight
        return weight

    @cached_property
    def neighbours(self) -> PoolNeighbours:
        """Neighbour searches within the pool, shared by the observed fit and every toy (``init="excess"``)."""
        return PoolNeighbours(self.points, self.n_data)

    def tensor(self, values) -> torch.Tensor:
        """``values`` as a tensor of the problem's dtype, on its device."""
        return torch.as_tensor(np.asarray(values), dtype=self.dtype, device=self.device)

    def to_working(self, values, name: str = "X") -> torch.Tensor:
        """Validated points of shape (n_samples, n_features), in working space on the device."""
        points = check_points(values, name, min_rows=1)
        if points.shape[1] != self.n_features:
            raise ValueError(
                f"`{name}` must have the same number of features as the fitted data; got {points.shape[1]} and {self.n_features}."
            )
        return self.tensor((points - self.mean) / self.scale)


def resolve_device(device: str) -> torch.device:
    check_choice("device", device, DEVICES)
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("`device` is 'cuda' but CUDA is not available on this machine.")
    return torch.device(device)


def check_representable(pool_aug: torch.Tensor, reference: np.ndarray, data: np.ndarray, mean, scale, dtype: str) -> None:
    """Refuse inputs whose squared norms overflow the working dtype (the one-GEMM distances need |x|^2)."""
    if bool(torch.isfinite(pool_aug).all()):
        return
    largest = max(float(np.max(np.abs((block - mean) / scale))) for block in (reference, data))
    raise ValueError(
        f"the inputs hold values up to {largest:.3g} (after centring), whose squared distances overflow {dtype}; "
        f"rescale them (e.g. divide by {largest:.3g}) or use dtype='float64'."
    )


def check_widths(sigma_init: float, finals: list[float], median: float | None, dtype: str) -> None:
    """Refuse widths whose 1 / (2 sigma^2) overflows the working dtype (the kernels would be NaN)."""
    smallest = min([sigma_init, *finals])
    if smallest < np.sqrt(8.0 / float(np.finfo(dtype).max)):  # 1 / (2 sigma^2), with a margin of 16
        scale = f"; the median pairwise distance of the reference is {median:.3g}" if median is not None else ""
        raise ValueError(
            f"a kernel width of {smallest:.3g} is too small for {dtype} (1 / (2 sigma^2) overflows){scale}: "
            "rescale the inputs or use dtype='float64'."
        )


def resolve_widths(params: dict, reference: np.ndarray, mean, scale,
                   auto_finals: Callable[[float], tuple] = auto_ladder) -> tuple[float, list[float], float | None]:
    """(sigma_init, final widths, median pairwise distance or None) in working space.

    "auto" is the median pairwise distance of a reference subsample for sigma_init, and
    ``auto_finals(median)`` for sigma_final (the ladder ``config.auto_ladder`` by default). The median
    is also computed for the companion test's width (``fixed_kernels`` > 0).
    """
    widths = width_list(params["sigma_final"])
    median = None
    if params["sigma_init"] == "auto" or "auto" in widths or params["fixed_kernels"] > 0:
        median = float(distance_percentiles(reference, params["seed"], [AUTO_SIGMA_INIT_PERCENTILE], mean, scale)[0])
    sigma_init = median if params["sigma_init"] == "auto" else float(params["sigma_init"])
    finals = [f for w in widths for f in (auto_finals(median) if w == "auto" else (float(w),))]
    if params["schedule"] != "constant" and max(finals) > sigma_init:
        raise ValueError(
            f"`sigma_final` must not exceed `sigma_init` when annealing; got {max(finals):.6g} > {sigma_init:.6g}."
        )
    return sigma_init, finals, median


def build_problem(reference, data, params: dict, reference_weight=None, data_weight=None,
                  auto_finals: Callable[[float], tuple] = auto_ladder) -> Problem:
    """Validate ``params`` (name -> value of every ``config.PARAMS``) and the inputs; return the Problem.

    reference: array of shape (n_reference, n_features); data: (n_data, n_features); weights:
    None or arrays of shape (n_reference,) and (n_data,). Preprocessing is fitted on the reference
    only; points are always centred on the reference mean (no distance changes, but the one-GEMM
    expansion stays accurate).
    """
    check_params(PARAMS, params)
    device = resolve_device(params["device"])
    reference = check_points(reference, "reference")
    data = check_points(data, "data")
    check_same_width(data, reference)
    if params["n_kernels"] > data.shape[0]:
        raise ValueError(f"`n_kernels` must not exceed the number of data rows; got {params['n_kernels']} > {data.shape[0]}.")
    reference_weight = check_weights(reference_weight, "reference_weight", reference.shape[0])
    data_weight = check_weights(data_weight, "data_weight", data.shape[0])

    mean, scale = working_space(reference, params["preprocessing"])
    pool_aug = augment_pool([reference, data], mean, scale, getattr(torch, params["dtype"]), device)
    check_representable(pool_aug, reference, data, mean, scale, params["dtype"])
    sigma_init, finals, median = resolve_widths(params, reference, mean, scale, auto_finals)
    check_widths(sigma_init, finals, median, params["dtype"])
    companion_kernels, companion_sigma = min(int(params["fixed_kernels"]), data.shape[0]), 0.0
    if companion_kernels:
        companion_sigma = AUTO_SIGMA_FINAL_FRACTION * median
        check_widths(companion_sigma, [], median, params["dtype"])
    fields = set(SparKerConfig.__dataclass_fields__)  # the config holds the resolved widths and plain Python values
    settings = {p.name: _PLAIN.get(p.kind, str)(params[p.name]) for p in PARAMS if p.name in fields and p.kind != "width"}
    base = SparKerConfig(sigma_init=sigma_init, sigma_final=finals[0], **settings)
    sigmas = [sigma_schedule(sigma_init, f, base.schedule, base.max_epochs, base.anneal_fraction) for f in finals]
    return Problem(
        configs=tuple(replace(base, sigma_final=f) for f in finals),
        device=device,
        dtype=getattr(torch, params["dtype"]),
        mean=mean,
        scale=scale,
        pool_aug=pool_aug,
        n_reference=reference.shape[0],
        reference_weight=reference_weight,
        data_weight=data_weight,
        sigmas=np.stack(sigmas, axis=1),
        seed=int(params["seed"]),
        companion_kernels=companion_kernels,
        companion_sigma=companion_sigma,
    )
