"""How far the 2-D map can be trusted, and each region's evidence without any projection.

The statistics live in the full space; a 2-D layout (UMAP) only shows it, and tears some
neighbourhoods apart. ``neighbourhood_preservation`` scores every point: the share of its k nearest
full-space neighbours that are also among its k nearest on the map (1: the map keeps its
neighbourhood, 0: none of it). ``trustworthiness`` is scikit-learn's overall score of the same map.
``radial_profiles`` counts, for each kernel, the data and the expected reference points in shells
of distance to its centre in the full space, with the mean f(x) in each shell: the region's excess
read off the data directly, with no layout involved.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .data import working_space
from .neighbours import blocks, nearest_neighbours, squared_distances

N_NEIGHBOURS = 10  # neighbourhood size k of the preservation score and of trustworthiness
# scikit-learn's trustworthiness holds an (n, n) distance matrix: it is computed on at most this many rows
TRUSTWORTHINESS_ROWS = 2000
RADIAL_BINS = 8  # shells of a radial profile
RADIAL_OUTER = 3.0  # outer radius of a radial profile, in kernel widths sigma


@dataclass(frozen=True)
class MapHonesty:
    """How well a 2-D layout keeps the full-space neighbourhoods of its points."""

    scores: np.ndarray  # (n,) per point: share of its k full-space neighbours among its k map neighbours
    trustworthiness: float  # scikit-learn's trustworthiness of the layout (1: no false neighbours on the map)
    k: int  # neighbourhood size

    @property
    def mean(self) -> float:
        return float(self.scores.mean()) if self.scores.size else float("nan")


@dataclass(frozen=True)
class RadialProfiles:
    """Per kernel, counts in shells of full-space distance to its centre (edges in units of sigma)."""

    edges: np.ndarray  # (n_bins + 1,) shell edges, in kernel widths
    n_data: np.ndarray  # (M, n_bins) data points in each shell
    expected: np.ndarray  # (M, n_bins) reference points in each shell times N_D / N_R
    f_mean: np.ndarray  # (M, n_bins) mean f(x) of the reference and data points in each shell (nan when empty)


def working_scale(reference: np.ndarray, preprocessing: str) -> np.ndarray:
    """The divisor of the fit's working space, (x - mean) / scale: the reference's column standard
    deviation (1 where it is 0) under ``preprocessing="standardize"``, else ones."""
    return working_space(np.asarray(reference), preprocessing)[1]


def neighbourhood_preservation(points: np.ndarray, layout: np.ndarray, k: int = N_NEIGHBOURS) -> np.ndarray:
    """For each point, the share of its ``k`` nearest full-space neighbours that are among its ``k``
    nearest neighbours on the layout.

    points: array of shape (n_samples, n_features); layout: array of shape (n_samples, 2).
    Returns an array of shape (n_samples,) in [0, 1]. Memory is O(block * n_samples).
    """
    points, layout = np.asarray(points, dtype=np.float64), np.asarray(layout, dtype=np.float64)
    if points.shape[0] != layout.shape[0]:
        raise ValueError(f"`points` and `layout` must have the same number of rows; got {points.shape[0]} and {layout.shape[0]}.")
    k = int(min(k, points.shape[0] - 1))
    if k < 1:
        return np.ones(points.shape[0])
    full = nearest_neighbours(torch.from_numpy(points), k)  # (n, k)
    shown = nearest_neighbours(torch.from_numpy(layout), k)  # (n, k)
    # common indices per row: one (b, k, k) comparison per block of rows
    common = np.empty(points.shape[0])
    for rows in blocks(points.shape[0]):
        common[rows] = (full[rows, :, None] == shown[rows, None, :]).any(axis=2).sum(axis=1)  # (b,)
    return common / k


def trustworthiness(points: np.ndarray, layout: np.ndarray, k: int = N_NEIGHBOURS,
                    max_rows: int = TRUSTWORTHINESS_ROWS, seed: int = 0) -> float:
    """``sklearn.manifold.trustworthiness`` of the layout, on at most ``max_rows`` rows drawn with ``seed``
    (its distance matrix is (n, n))."""
    from sklearn.manifold import trustworthiness as sklearn_trustworthiness

    points, layout = np.asarray(points, dtype=np.float64), np.asarray(layout, dtype=np.float64)
    n = points.shape[0]
    rows = np.sort(np.random.default_rng(seed).choice(n, size=max_rows, replace=False)) if n > max_rows else np.arange(n)
    k = int(min(k, (rows.size - 1) // 2))  # scikit-learn requires k < n / 2
    if k < 1:
        return float("nan")
    return float(sklearn_trustworthiness(points[rows], layout[rows], n_neighbors=k))


def map_honesty(points: np.ndarray, layout: np.ndarray, k: int = N_NEIGHBOURS) -> MapHonesty:
    """Per-point neighbourhood preservation and the overall trustworthiness of ``layout`` for ``points``."""
    return MapHonesty(neighbourhood_preservation(points, layout, k), trustworthiness(points, layout, k), k)


def region_preservation(scores: np.ndarray, kernels, n_reference: int) -> np.ndarray:
    """Mean preservation score of each kernel's members (rows of ``kernels``, an ``explain()`` table),
    ``scores`` being over [reference; data] rows, nan for a point not scored (left out); nan for a
    kernel without scored members: (M,)."""
    scores = np.asarray(scores, dtype=np.float64)
    sums, counts = np.zeros(len(kernels)), np.zeros(len(kernels))
    for i, (ref, data) in enumerate(zip(kernels["members_reference"], kernels["members_data"])):
        rows = np.concatenate([np.asarray(ref, dtype=np.int64), n_reference + np.asarray(data, dtype=np.int64)])
        sums[i], counts[i] = np.nansum(scores[rows]), np.isfinite(scores[rows]).sum()
    with np.errstate(invalid="ignore"):
        return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)


def radial_profiles(reference: np.ndarray, data: np.ndarray, centers: np.ndarray, sigma: float,
                    scale: np.ndarray | None = None, reference_scores: np.ndarray | None = None,
                    data_scores: np.ndarray | None = None, n_bins: int = RADIAL_BINS,
                    outer: float = RADIAL_OUTER) -> RadialProfiles:
    """Counts in ``n_bins`` shells of distance to each centre, out to ``outer`` kernel widths.

    reference, data: arrays of shape (n_reference, n_features), (n_data, n_features) in input space;
    centers: array of shape (M, n_features) in input space; sigma: the kernels' width in working space,
    where distances are divided by ``scale`` (default ones). Expected counts are the reference counts
    times N_D / N_R. ``reference_scores``, ``data_scores``: f(x) of each point, averaged per shell.
    Memory is O(block * M).
    """
    scale = np.ones(centers.shape[1]) if scale is None else np.asarray(scale, dtype=np.float64)
    mu = torch.from_numpy(np.asarray(centers, dtype=np.float64) / scale)  # (M, d)
    sq_mu = (mu * mu).sum(1)  # (M,)
    n_kernels, width = mu.shape[0], float(sigma) * outer / n_bins
    weight = data.shape[0] / max(reference.shape[0], 1)
    counts = np.zeros((2, n_kernels * n_bins))  # per split, flat (kernel, shell)
    f_sum = np.zeros(n_kernels * n_bins)
    for split, (points, scores) in enumerate(((reference, reference_scores), (data, data_scores))):
        for rows in blocks(points.shape[0]):
            x = torch.from_numpy(np.asarray(points[rows], dtype=np.float64) / scale)  # (b, d)
            r = squared_distances(x, (x * x).sum(1), mu, sq_mu).sqrt_().numpy()  # (b, M)
            shell = np.floor(r / width).astype(np.int64)  # (b, M)
            inside = shell < n_bins
            flat = (np.arange(n_kernels)[None, :] * n_bins + shell)[inside]
            counts[split] += np.bincount(flat, minlength=n_kernels * n_bins)
            if scores is not None:
                f = np.broadcast_to(np.asarray(scores[rows], dtype=np.float64)[:, None], r.shape)
                f_sum += np.bincount(flat, weights=f[inside], minlength=n_kernels * n_bins)
    scored = counts[[split for split, scores in enumerate((reference_scores, data_scores)) if scores is not None]]
    total = scored.sum(axis=0)  # the points whose f was given: the mean is over them alone
    with np.errstate(invalid="ignore", divide="ignore"):
        f_mean = np.where(total > 0, f_sum / total, np.nan)
    shape = (n_kernels, n_bins)
    return RadialProfiles(edges=np.linspace(0.0, outer, n_bins + 1), n_data=counts[1].reshape(shape),
                          expected=(weight * counts[0]).reshape(shape), f_mean=f_mean.reshape(shape))


def pca_layout(points: np.ndarray, fit_rows: np.ndarray | None = None) -> np.ndarray:
    """The points projected on their first two principal axes (eigenvectors of the covariance, each
    signed so its largest loading is positive): a linear view, exact for what it shows.
    points: array of shape (n_samples, n_features) -> (n_samples, 2). ``fit_rows``: the rows whose
    mean and covariance define the axes (default all; a subsample makes a quick layout of many rows).
    """
    points = np.asarray(points, dtype=np.float64)
    fitted = points if fit_rows is None else points[fit_rows]
    mean = fitted.mean(axis=0)
    if points.shape[1] == 1:
        return np.column_stack([points[:, 0] - mean[0], np.zeros(points.shape[0])])
    centred = fitted - mean
    _, vectors = np.linalg.eigh(centred.T @ centred)  # ascending eigenvalues
    axes = vectors[:, ::-1][:, :2]  # (d, 2)
    axes *= np.sign(axes[np.abs(axes).argmax(axis=0), [0, 1]])
    return (points - mean) @ axes
