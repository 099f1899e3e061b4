"""Validated, resolved hyper-parameters of a SparKer fit, and the width schedule."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.spatial.distance import pdist

SCHEDULES = ("linear", "geometric", "constant")
COMPETITIONS = ("softmax", "none")
PREPROCESSINGS = ("none", "standardize")
DEVICES = ("cpu", "cuda", "auto")
DTYPES = ("float32", "float64")
INITS = ("excess", "random")

# sigma_init="auto" is the median (50th percentile) of the pairwise distances of a reference
# subsample. sigma_final="auto" is a ladder of final widths, AUTO_SIGMA_FINAL_FRACTIONS times that
# median, fitted together and combined by the calibrated minimum p-value: no single width suits a
# compact bump (about 0.2 x median) and a topic cluster of sentence embeddings (0.6-1.0 x median).
# Fractions of the median, not low percentiles: in high dimension pairwise distances concentrate
# (for MiniLM sentence embeddings even the 0.1th percentile is 0.7 of the median).
# Chosen on the tuning half of the evaluation panel (benchmarks/panel, README "Choosing the defaults").
AUTO_SIGMA_INIT_PERCENTILE = 50.0
AUTO_SIGMA_FINAL_FRACTIONS = (0.45, 0.6, 0.9)
# The single width of the fixed-centre baseline's sigma="auto" and of "auto" in `configs`.
AUTO_SIGMA_FINAL_FRACTION = 0.35
# Size of the reference subsample those percentiles are computed on.
AUTO_SIGMA_SUBSAMPLE = 1000


@dataclass(frozen=True)
class SparKerConfig:
    n_kernels: int  # M, kernels per fit
    sigma_init: float  # width at epoch 0, in working-space units (after preprocessing)
    sigma_final: float  # width from the end of annealing on; t is evaluated at this width
    schedule: str  # "linear", "geometric" or "constant" (constant keeps sigma_final throughout)
    anneal_fraction: float  # share of max_epochs over which sigma goes from init to final
    sparsity: float  # L1 penalty lambda on the amplitudes (training objective only, not in t)
    temperature: float  # SoftMax competition temperature tau; 1 reproduces k * SoftMax(z)
    competition: str  # "softmax" or "none" (f = sum_i a_i k_i)
    amplitude_clip: float  # amplitudes are clipped to [-c, c] after every step
    positive_only: bool  # clip amplitudes to [0, c] instead: only excesses, never deficits
    max_epochs: int  # full-batch Adam steps; t is taken after the last one
    learning_rate: float  # Adam step size of the amplitudes
    center_learning_rate: float  # Adam step size of the centres, as a fraction of sigma per epoch
    active_threshold: float  # |a_i| at or above this marks kernel i active
    init: str = "excess"  # initial centres: "excess" (data rows of largest local excess) or "random" data rows


def _is_number(value) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)


def check_choice(name: str, value, choices) -> None:
    if not isinstance(value, str) or value not in choices:
        options = ", ".join(repr(c) for c in choices[:-1]) + f" or {choices[-1]!r}"
        raise ValueError(f"`{name}` must be one of {options}; got {value!r}.")


def check_positive(name: str, value, allow_auto: bool = False, allow_zero: bool = False) -> None:
    ok = _is_number(value) and math.isfinite(value) and (value >= 0 if allow_zero else value > 0)
    if allow_auto and value == "auto":
        return
    if not ok:
        what = "a non-negative number" if allow_zero else "a positive number"
        if allow_auto:
            what += " or 'auto'"
        raise ValueError(f"`{name}` must be {what}; got {value!r}.")


def check_int(name: str, value, minimum: int) -> None:
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"`{name}` must be an integer >= {minimum}; got {value!r}.")


def sigma_schedule(
    sigma_init: float, sigma_final: float, schedule: str, max_epochs: int, anneal_fraction: float
) -> np.ndarray:
    """Width at every epoch 0..max_epochs: array of shape (max_epochs + 1,).

    sigma goes from sigma_init to sigma_final over the first ``anneal_fraction * max_epochs`` epochs
    (linearly, or geometrically, i.e. linearly in log sigma) and then stays at sigma_final.
    ``"constant"`` uses sigma_final at every epoch.
    """
    epochs = np.arange(max_epochs + 1, dtype=float)
    if schedule == "constant":
        return np.full(max_epochs + 1, float(sigma_final))
    span = max(1.0, anneal_fraction * max_epochs)
    progress = np.clip(epochs / span, 0.0, 1.0)
    if schedule == "linear":
        return sigma_init + (sigma_final - sigma_init) * progress
    return sigma_init * (sigma_final / sigma_init) ** progress


def distance_percentiles(reference: np.ndarray, seed: int, percentiles, mean=0.0, scale=1.0) -> np.ndarray:
    """Percentiles of the pairwise distances of up to AUTO_SIGMA_SUBSAMPLE reference rows.

    The subsample is drawn with ``seed`` and mapped to working space as (rows - mean) / scale; all
    distinct pairs with a non-zero distance count.
    """
    rng = np.random.default_rng(seed)
    n = reference.shape[0]
    rows = reference if n <= AUTO_SIGMA_SUBSAMPLE else reference[rng.choice(n, AUTO_SIGMA_SUBSAMPLE, replace=False)]
    rows = (np.asarray(rows, dtype=np.float64) - mean) / scale
    dist = pdist(rows)  # exact differences: a duplicated row is at distance 0, not at a rounding residue
    dist = dist[dist > 0]
    if dist.size == 0:
        raise ValueError("`reference` has no two distinct rows; 'auto' widths cannot be computed.")
    return np.percentile(dist, percentiles)


def auto_sigmas(reference: np.ndarray, seed: int, mean=0.0, scale=1.0) -> tuple[float, float]:
    """(sigma_init, one final width): the median pairwise reference distance, and 0.35 times it."""
    median = float(distance_percentiles(reference, seed, [AUTO_SIGMA_INIT_PERCENTILE], mean, scale)[0])
    return median, AUTO_SIGMA_FINAL_FRACTION * median


def auto_ladder(median: float) -> tuple[float, ...]:
    """The final widths of sigma_final="auto": AUTO_SIGMA_FINAL_FRACTIONS times the median distance."""
    return tuple(f * median for f in AUTO_SIGMA_FINAL_FRACTIONS)
