"""What the pages draw of one run, cached by the fit state it came from (pure python, no streamlit).

The kernels table, the scores f(x), the centres' map positions per snapshot and the kernels whose
members scatter on the map are computed once per fit state: a new snapshot, a stop or the switch to
the width that detected (after a multi-scale calibration) makes them stale, nothing else does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .components.map_layout import LayoutIndex, scattered_kernels
from .datasets import Dataset

if TYPE_CHECKING:
    from .run import Run


class MapProjector:
    """Layout caches of ``run``: read through it, never through the run's model."""

    def __init__(self, run: Run):
        self._run = run
        self._layout_index: tuple[tuple, LayoutIndex] | None = None  # (dataset's layout key, index of its points)
        self._centers: dict[int, tuple] = {}  # snapshot index -> (that snapshot, (M, 2) positions)
        self._fit_state: tuple | None = None  # (last snapshot, number of snapshots, status) of the caches below
        self._kernels: pd.DataFrame | None = None
        self._scores: dict[str, np.ndarray] = {}  # split -> (n,)
        self._scattered: np.ndarray | None = None

    def _current(self) -> None:
        """Drop the per-fit caches when the run has moved on since they were computed."""
        snapshots = self._run.snapshots
        state = (snapshots[-1] if snapshots else None, len(snapshots), self._run.status)
        known = self._fit_state
        if known is None or known[0] is not state[0] or known[1:] != state[1:]:
            self._fit_state, self._kernels, self._scores, self._scattered = state, None, {}, None

    def kernels(self) -> pd.DataFrame:
        """The run's kernels table (``SparKer.explain()`` of its current state)."""
        self._current()
        if self._kernels is None:
            self._kernels = self._run.explain()
        return self._kernels

    def scores(self, dataset: Dataset, split: str = "data") -> np.ndarray:
        """f(x) of every row of ``split`` ("data" or "reference")."""
        self._current()
        if split not in self._scores:
            self._scores[split] = self._run.score_samples(dataset, split)
        return self._scores[split]

    def center_layout(self, index: int, dataset: Dataset) -> np.ndarray:
        """Map positions (M, 2) of the kernel centres at snapshot ``index``, placed among the
        dataset's points by ``LayoutIndex``."""
        snapshot = self._run.snapshots[index]
        self._layout_of(dataset)
        cached = self._centers.get(index)
        if cached is not None and cached[0] is snapshot:
            return cached[1]
        xy = self._layout_index[1].place(snapshot.centers)
        self._centers[index] = (snapshot, xy)
        return xy

    def _layout_of(self, dataset: Dataset) -> None:
        """Index the dataset's layout; a new layout (UMAP replacing the quick one) drops what was placed on the old."""
        if self._layout_index is None or self._layout_index[0] != dataset.layout_key:
            anchors = np.concatenate([dataset.reference, dataset.data])
            anchor_xy = np.concatenate([dataset.layout_reference, dataset.layout_data])
            self._layout_index = (dataset.layout_key, LayoutIndex(anchors, anchor_xy))
            self._centers, self._scattered = {}, None

    def scattered(self, dataset: Dataset) -> np.ndarray:
        """Per kernel (in ``kernels()`` order): whether its members are scattered on the 2-D map."""
        table = self.kernels()
        self._layout_of(dataset)
        if self._scattered is None:
            members = [np.asarray(m, dtype=int) for m in table["members_data"]]
            self._scattered = scattered_kernels([dataset.layout_data[m] for m in members], dataset.layout_data)
        return self._scattered
