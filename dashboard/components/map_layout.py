"""Placing things on the 2-D map: pure numpy, no streamlit.

The statistics live in the full embedding space; the map is a view of it. Points get their layout
from UMAP (precomputed for the bundled samples, fitted once per upload); kernel centres, which move
every frame, are placed by interpolating the layout of their nearest points in the full space.
``benchmarks/bench_dashboard.py`` compares this with ``UMAP.transform``: on the Wikipedia sample
(6,000 anchors, d = 384, 8 kernels) interpolation against prepared anchors takes ~10-25 ms a frame
and ``transform`` ~5 ms, but ``transform`` needs a fitted UMAP model (76 s to fit here, ~25 s more of
numba compilation in a new process), which the precomputed sample layouts do not have; interpolation
works for every layout and is well inside the frame budget.
"""

from __future__ import annotations

import numpy as np

# Kernel centres are placed at the mean layout position of this many nearest points.
N_NEIGHBOURS = 10
# A kernel is "scattered on the map" when its members' median distance to their 2-D median exceeds
# this fraction of the whole layout's median distance to its own median.
SCATTER_FRACTION = 0.5


class LayoutIndex:
    """Anchors (n, d) with their layout (n, 2), prepared once, for placing moving points on the map."""

    def __init__(self, anchors: np.ndarray, anchor_xy: np.ndarray):
        self.anchors = np.asarray(anchors, dtype=np.float64)  # (n, d)
        self.sq_norms = (self.anchors * self.anchors).sum(1)  # (n,)
        self.anchor_xy = np.asarray(anchor_xy, dtype=np.float64)  # (n, 2)

    def place(self, points: np.ndarray, k: int = N_NEIGHBOURS) -> np.ndarray:
        """2-D positions of ``points`` (m, d): inverse-distance mean of the layout of their ``k``
        nearest anchors in the full space -> (m, 2)."""
        points = np.asarray(points, dtype=np.float64)
        k = int(min(k, self.anchors.shape[0]))
        sq = (points * points).sum(1)[:, None] - 2.0 * points @ self.anchors.T + self.sq_norms[None, :]  # (m, n)
        sq = np.maximum(sq, 0.0)
        nearest = np.argpartition(sq, k - 1, axis=1)[:, :k]  # (m, k)
        dist = np.sqrt(np.take_along_axis(sq, nearest, axis=1))  # (m, k)
        weight = 1.0 / (dist + 1e-9 * (1.0 + dist.max(axis=1, keepdims=True)))
        weight /= weight.sum(axis=1, keepdims=True)
        return np.einsum("mk,mkc->mc", weight, self.anchor_xy[nearest])


def interpolate_layout(points: np.ndarray, anchors: np.ndarray, anchor_xy: np.ndarray, k: int = N_NEIGHBOURS) -> np.ndarray:
    """2-D positions of ``points`` (m, d) from the layout ``anchor_xy`` (n, 2) of their ``k`` nearest
    ``anchors`` (n, d); see ``LayoutIndex`` to place many frames against the same anchors."""
    return LayoutIndex(anchors, anchor_xy).place(points, k)


def display_subsample(n_rows: int, limit: int, seed: int = 0) -> np.ndarray:
    """Sorted row indices of at most ``limit`` rows, drawn without replacement (display only)."""
    if n_rows <= limit:
        return np.arange(n_rows)
    return np.sort(np.random.default_rng(seed).choice(n_rows, size=limit, replace=False))


def spread(xy: np.ndarray) -> float:
    """Median distance of 2-D points to their coordinate-wise median (0 for fewer than 2 points)."""
    if xy.shape[0] < 2:
        return 0.0
    return float(np.median(np.linalg.norm(xy - np.median(xy, axis=0), axis=1)))


def scattered_kernels(member_xy: list[np.ndarray], layout_xy: np.ndarray, fraction: float = SCATTER_FRACTION) -> np.ndarray:
    """For each kernel's member layout (list of (n_i, 2)), whether the members are scattered on the
    map: a region that is compact in the full space but spread out in the 2-D view."""
    whole = spread(layout_xy)
    return np.array([whole > 0 and spread(xy) > fraction * whole for xy in member_xy], dtype=bool)
