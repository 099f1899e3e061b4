"""What the dashboard analyses: a reference and a data sample with metadata and a 2-D layout.

Pure python (no streamlit): builders from the bundled samples, from uploaded files and from the
inputs a result bundle records; UMAP is imported only when a layout has to be fitted.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from sparker_core import SAMPLES, EmbeddingPair, load_pair, sample_inputs
from sparker_core import pca_layout as honest_pca_layout

from .components.map_layout import LayoutIndex, display_subsample

# UMAP is fitted on at most this many rows; the others are placed by interpolation (display only).
UMAP_FIT_ROWS = 4000
LAYOUT_COLUMNS = ("umap_x", "umap_y")
TRUTH_COLUMN = "is_anomaly"
QUICK_LAYOUT_NOTE = "quick PCA layout while UMAP fits"


@dataclass(frozen=True, eq=False)
class Dataset:
    """Reference and data vectors with row-aligned metadata and a 2-D layout for the map."""

    name: str  # shown in the UI
    reference: np.ndarray  # (n_reference, n_features)
    data: np.ndarray  # (n_data, n_features)
    reference_metadata: pd.DataFrame  # n_reference rows
    data_metadata: pd.DataFrame  # n_data rows
    layout_reference: np.ndarray | None  # (n_reference, 2) map positions, None until fitted
    layout_data: np.ndarray | None  # (n_data, 2)
    layout_note: str  # where the layout comes from
    inputs: dict = field(default_factory=dict)  # how to reload it: {"load": load_pair kwargs, "files": {path: sha256}}
    fingerprint: str = ""  # sha256 of the vectors: cache key for layouts

    @property
    def n_features(self) -> int:
        return int(self.reference.shape[1])

    @property
    def kind(self) -> str:
        """How a point is shown: "text", "image", "coords" (2-D data) or "table"."""
        meta = self.data_metadata
        if "text" in meta.columns:
            return "text"
        if "image" in meta.columns:
            return "image"
        if self.n_features == 2:
            return "coords"
        return "table"

    @property
    def truth(self) -> np.ndarray | None:
        """Ground truth of the data rows (bundled samples only): True for planted anomalies."""
        if TRUTH_COLUMN in self.data_metadata.columns:
            return self.data_metadata[TRUTH_COLUMN].to_numpy(dtype=bool)
        return None

    @property
    def layout_key(self) -> tuple[str, str]:
        """What a cache of map positions depends on: the vectors and the layout drawn."""
        return self.fingerprint, self.layout_note

    def with_layout(self, layout_reference: np.ndarray, layout_data: np.ndarray, note: str) -> Dataset:
        return Dataset(self.name, self.reference, self.data, self.reference_metadata, self.data_metadata,
                       layout_reference, layout_data, note, self.inputs, self.fingerprint)


def fingerprint(reference: np.ndarray, data: np.ndarray) -> str:
    digest = hashlib.sha256()
    for array in (reference, data):
        digest.update(str(array.shape).encode())
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()


def from_pair(name: str, pair: EmbeddingPair, inputs: dict) -> Dataset:
    """A dataset from loaded files; the layout comes from umap_x/umap_y columns, the points
    themselves in 2-D, or stays None (to be fitted with ``fit_umap_layout``)."""
    ref_meta, data_meta = pair.reference_metadata, pair.data_metadata
    layout_ref = layout_data = None
    note = ""
    if all(c in ref_meta.columns and c in data_meta.columns for c in LAYOUT_COLUMNS):
        layout_ref = ref_meta[list(LAYOUT_COLUMNS)].to_numpy(dtype=np.float64)
        layout_data = data_meta[list(LAYOUT_COLUMNS)].to_numpy(dtype=np.float64)
        note = "precomputed UMAP layout (umap_x, umap_y columns)"
    elif pair.reference.shape[1] == 2:
        layout_ref, layout_data = pair.reference.astype(np.float64), pair.data.astype(np.float64)
        note = "the data space itself (2-D)"
    return Dataset(name, pair.reference, pair.data, ref_meta, data_meta, layout_ref, layout_data, note,
                   inputs, fingerprint(pair.reference, pair.data))


def from_sample(name: str) -> Dataset:
    spec = sample_inputs(name)
    pair = load_pair(**spec)
    return from_pair(f"sample: {name}", pair, {"load": spec, "files": pair.files})


def describe_sample(name: str) -> str:
    return SAMPLES[name][1]


def pca_layout(reference: np.ndarray, data: np.ndarray, seed: int = 0) -> tuple[np.ndarray, np.ndarray, str]:
    """The first two principal components (fitted on up to ``UMAP_FIT_ROWS`` rows): a layout in well
    under a second, shown while UMAP fits. Returns (reference layout, data layout, note)."""
    pool = np.concatenate([reference, data])
    layout = honest_pca_layout(pool, display_subsample(pool.shape[0], UMAP_FIT_ROWS, seed))  # (n, 2)
    n_ref = reference.shape[0]
    return layout[:n_ref], layout[n_ref:], QUICK_LAYOUT_NOTE


def fit_umap_layout(reference: np.ndarray, data: np.ndarray, seed: int = 0) -> tuple[np.ndarray, np.ndarray, str]:
    """UMAP of up to ``UMAP_FIT_ROWS`` rows (reference and data together); the remaining rows are
    placed by interpolation. Returns (reference layout, data layout, note)."""
    import umap  # heavy import (numba): only when a layout is really needed

    pool = np.concatenate([reference, data]).astype(np.float32)
    fit_rows = display_subsample(pool.shape[0], UMAP_FIT_ROWS, seed)
    reducer = umap.UMAP(n_neighbors=15, min_dist=0.1, random_state=seed, n_jobs=1)
    fitted = reducer.fit_transform(pool[fit_rows]).astype(np.float64)
    layout = np.empty((pool.shape[0], 2))
    layout[fit_rows] = fitted
    rest = np.setdiff1d(np.arange(pool.shape[0]), fit_rows)
    if rest.size:
        index = LayoutIndex(pool[fit_rows], fitted)  # anchors prepared once for every chunk
        for start in range(0, rest.size, 2048):
            chunk = rest[start:start + 2048]
            layout[chunk] = index.place(pool[chunk])
    note = f"UMAP fitted on {fit_rows.size:,} of {pool.shape[0]:,} rows"
    if rest.size:
        note += "; the others placed by nearest-neighbour interpolation"
    n_ref = reference.shape[0]
    return layout[:n_ref], layout[n_ref:], note
