"""The parameters of SparKer (``PARAMS``, the one list), the resolved hyper-parameters of a fit
(``SparKerConfig``), and the width schedule."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial.distance import pdist

from ._validation import check_choice, check_int, check_positive  # noqa: F401  (the checks' public home for callers)

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
# Chosen on the tuning half of the evaluation panel (benchmarks/panel; benchmarks/README.md "Defaults: which settings, and why").
AUTO_SIGMA_INIT_PERCENTILE = 50.0
AUTO_SIGMA_FINAL_FRACTIONS = (0.45, 0.6, 0.9)
# The single width of the fixed-centre baseline's sigma="auto", of the companion test (``fixed_kernels``)
# and of "auto" in `configs`.
AUTO_SIGMA_FINAL_FRACTION = 0.35
# Size of the reference subsample those percentiles are computed on.
AUTO_SIGMA_SUBSAMPLE = 1000


@dataclass(frozen=True)
class Param:
    """One parameter of ``SparKer``: its default, a one-line help, and what values it takes.

    The validation (``_validation.check_param``), ``SparKer.get_params`` and the dashboard's
    controls are derived from these records, so each parameter is written here and in the
    signature of ``SparKer.__init__`` only.
    """

    name: str
    default: object
    help: str  # one line, shown as the dashboard's tooltip
    kind: str  # "int", "float", "bool", "choice", "width" (a number, "auto", or a list of numbers), "text"
    choices: tuple = ()  # for "choice"
    minimum: float | None = None  # int: smallest value; float: lower bound (excluded unless allow_zero)
    maximum: float | None = None  # float: upper bound, included
    allow_zero: bool = False  # float: the lower bound itself is allowed
    allow_list: bool = False  # width: a list of widths is allowed (several scales)


PARAMS: tuple[Param, ...] = (
    Param("n_kernels", 8, "Kernels per fit (M).", "int", minimum=1),
    Param("sigma_init", "auto", "Kernel width at epoch 0 (working-space units); 'auto' is the median pairwise reference distance.", "width"),
    Param("sigma_final", "auto", "Final width(s): a number, a list (several scales), or 'auto' (0.45, 0.6, 0.9 x the median distance).", "width", allow_list=True),
    Param("schedule", "geometric", "How sigma goes from sigma_init to sigma_final ('constant' keeps sigma_final).", "choice", SCHEDULES),
    Param("anneal_fraction", 0.7, "Share of max_epochs over which sigma is annealed.", "float", minimum=0.0, maximum=1.0),
    Param("sparsity", 0.0, "L1 penalty on the amplitudes (training objective only, not in t).", "float", minimum=0.0, allow_zero=True),
    Param("temperature", 1.0, "SoftMax competition temperature tau.", "float", minimum=0.0),
    Param("competition", "softmax", "Kernel competition: 'softmax' or 'none' (f = sum_i a_i k_i).", "choice", COMPETITIONS),
    Param("amplitude_clip", 10.0, "Amplitudes are clipped to [-c, c] after every step.", "float", minimum=0.0),
    Param("positive_only", False, "Clip amplitudes to [0, c]: only excesses, never deficits.", "bool"),
    Param("max_epochs", 100, "Full-batch Adam steps; t is taken after the last one.", "int", minimum=1),
    Param("learning_rate", 0.1, "Adam step size of the amplitudes.", "float", minimum=0.0),
    Param("center_learning_rate", 0.05, "Adam step size of the centres, as a fraction of sigma per epoch.", "float", minimum=0.0, allow_zero=True),
    Param("preprocessing", "none", "'standardize' divides by the reference's standard deviation; points are always centred.", "choice", PREPROCESSINGS),
    Param("active_threshold", 0.05, "A kernel is active when |a_i| is at least this.", "float", minimum=0.0, allow_zero=True),
    Param("init", "excess", "Initial centres: data rows of largest local excess, or random data rows.", "choice", INITS),
    Param("fixed_kernels", 200, "Kernels of the companion fixed-centre test, combined with SparKer's widths in the p-value; 0: SparKer alone.", "int", minimum=0),
    Param("seed", 0, "Seed of the initial centres and of the 'auto' widths' subsample.", "int", minimum=0),
    Param("device", "cpu", "Where tensors live: 'cpu', 'cuda' or 'auto' (cuda when available).", "choice", DEVICES),
    Param("dtype", "float32", "Working precision of the kernels.", "choice", DTYPES),
)


def default_params() -> dict:
    """name -> default of every parameter of ``SparKer``, in signature order."""
    return {param.name: param.default for param in PARAMS}


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
