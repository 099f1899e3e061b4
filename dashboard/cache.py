"""The only place with st.cache_data / st.cache_resource.

Global caches are shared by every session, so they hold only the bundled samples (keyed by name).
What is derived from a user's data (its quick layout, its points image) is cached per session
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


@st.cache_data(show_spinner=False, max_entries=8, scope="session")
def pca_layout(fingerprint: str, _reference: np.ndarray, _data: np.ndarray) -> tuple[np.ndarray, np.ndarray, str]:
    return datasets.pca_layout(_reference, _data)


@st.cache_data(show_spinner=False, max_entries=16, scope="session")
def points_image(layout_key: tuple[str, str], _layout_reference: np.ndarray, _layout_data: np.ndarray) -> dict:
    """The map's points as one image (for the live training view), once per dataset."""
    from .components.figures import points_image as render

    return render(_layout_reference, _layout_data)


@st.cache_resource(show_spinner=False, scope="session", on_release=uploads.UploadFolder.remove)
def upload_folder(path: str) -> uploads.UploadFolder:
    """The session's upload folder, removed when the session disconnects (Streamlit's session-end hook)."""
    return uploads.UploadFolder(path)
