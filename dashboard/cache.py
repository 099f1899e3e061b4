"""The only place with st.cache_data / st.cache_resource.

Global caches are shared by every session, so they hold only the bundled samples (keyed by name).
What is derived from a user's data (its UMAP layout, its points image) is cached per session
(``scope="session"``) and released when the session disconnects: nothing of one session's data is
kept for, or served to, another. Never modify what these return.
"""

from __future__ import annotations

import numpy as np
import streamlit as st

from . import datasets, uploads


@st.cache_resource(show_spinner=False)
def sample_dataset(name: str) -> datasets.Dataset:
    return datasets.from_sample(name)


@st.cache_resource(show_spinner="Fitting the UMAP layout (once per dataset)...", scope="session", max_entries=8)
def umap_layout(fingerprint: str, _reference: np.ndarray, _data: np.ndarray) -> tuple[np.ndarray, np.ndarray, str]:
    return datasets.fit_umap_layout(_reference, _data)


@st.cache_data(show_spinner=False, max_entries=16, scope="session")
def points_image(fingerprint: str, _layout_reference: np.ndarray, _layout_data: np.ndarray) -> dict:
    """The map's points as one image (for the live training view), once per dataset."""
    from .components.figures import points_image as render

    return render(_layout_reference, _layout_data)


def with_layout(dataset: datasets.Dataset) -> datasets.Dataset:
    """The dataset with a map layout, fitting UMAP (cached by content) when it has none."""
    if dataset.layout_reference is not None:
        return dataset
    layout_ref, layout_data, note = umap_layout(dataset.fingerprint, dataset.reference, dataset.data)
    return dataset.with_layout(layout_ref, layout_data, note)


@st.cache_resource(show_spinner=False, scope="session", on_release=uploads.UploadFolder.remove)
def upload_folder(path: str) -> uploads.UploadFolder:
    """The session's upload folder, removed when the session disconnects (Streamlit's session-end hook)."""
    return uploads.UploadFolder(path)
