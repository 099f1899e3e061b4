"""Data: the default sample is already loaded; pick another sample, upload files, or open a bundle."""

from __future__ import annotations

import shutil
import tempfile
import zipfile
import zlib
from pathlib import Path

import numpy as np
import streamlit as st

from dashboard import cache, state, uploads
from dashboard.datasets import Dataset, describe_sample, from_pair
from dashboard.loaded_run import LoadedRun
from dashboard.views import common
from sparker_core import MAX_EXPANDED_BYTES, SAMPLES, SUPPORTED_EXTENSIONS, load_bundle, load_bundle_inputs, load_pair

st.header("Data")
st.caption("A reference sample (no anomalies) and a data sample that may hold something the reference does not. "
           "Everything stays in this browser session.")

source = st.radio("Source", ["Bundled sample", "Upload files", "Open a result bundle"], horizontal=True, key="data_source")


def _load_sample(name: str) -> None:
    state.set_dataset(cache.sample_dataset(name))


def _load_upload(files: dict, split: dict) -> None:
    """Load uploaded files; they are deleted once read (the arrays stay in the session)."""
    folder = Path(tempfile.mkdtemp(prefix="upload-", dir=state.upload_dir()))
    try:
        paths = {role: str(uploads.save(f, folder, role)) for role, f in files.items() if f is not None}
        if split:
            spec = {"reference": paths["reference"], **split}
        else:
            spec = {"reference": paths["reference"], "data": paths["data"]}
        try:
            pair = load_pair(**spec)  # ValueError / TypeError: shown, the loaded dataset is untouched
        except (ValueError, TypeError) as err:  # name the files as uploaded, never the server's temp path
            raise type(err)(uploads.as_uploaded(str(err), paths, folder)) from None
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    names = " + ".join(Path(p).name for p in paths.values())
    files = {Path(p).name: digest for p, digest in pair.files.items()}  # a bundle records names, not temp paths
    load = {k: (Path(v).name if k in ("reference", "data") else v) for k, v in spec.items()}
    state.set_dataset(from_pair(f"upload: {names}", pair, {"load": load, "files": files}))


def _extract_bundle(upload) -> tuple[Path, Path]:
    """Unpack an uploaded bundle zip into a new folder of the session; returns (that folder, the bundle in it)."""
    try:
        archive = zipfile.ZipFile(upload)
    except zipfile.BadZipFile:
        raise ValueError(f"`{upload.name}` is not a zip archive of a result bundle.") from None
    folder = Path(tempfile.mkdtemp(prefix="bundle-", dir=state.upload_dir()))
    try:
        with archive:
            members = archive.infolist()
            total = sum(m.file_size for m in members)
            if total > MAX_EXPANDED_BYTES:
                raise ValueError(f"`{upload.name}` expands to {total:,} bytes, over the {MAX_EXPANDED_BYTES:,}-byte limit.")
            for m in members:
                if m.filename.startswith("/") or ".." in Path(m.filename).parts:
                    raise ValueError(f"`{upload.name}` holds an unsafe path {m.filename!r}.")
            for m in members:
                try:
                    archive.extract(m, folder)
                except (zipfile.BadZipFile, zlib.error, EOFError) as err:  # bad CRC, truncated or garbled data
                    raise ValueError(f"`{upload.name}` is corrupt: member {m.filename!r} cannot be read "
                                     f"({' '.join(str(err).split())}).") from None
                except (RuntimeError, NotImplementedError) as err:  # encrypted, or an unknown compression method
                    raise ValueError(f"`{upload.name}`: member {m.filename!r} cannot be extracted "
                                     f"({' '.join(str(err).split())}).") from None
    except ValueError:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    manifests = sorted(folder.rglob("manifest.json"))
    if not manifests:
        shutil.rmtree(folder, ignore_errors=True)
        raise ValueError(f"`{upload.name}` holds no manifest.json: not a result bundle.")
    return folder, manifests[0].parent


def _bundle_dataset(bundle) -> Dataset:
    """The data a bundle was computed on: its recorded input files, or the loaded dataset if the same."""
    recorded = bundle.manifest["inputs"]["files"]
    current = state.dataset()
    if current is not None and sorted(current.inputs.get("files", {}).values()) == sorted(recorded.values()):
        return current
    try:
        pair = load_bundle_inputs(bundle)
    except ValueError as err:
        raise ValueError(f"{err} Load the same data first, then open the bundle.") from None
    return from_pair(f"bundle inputs: {' + '.join(Path(p).name for p in recorded)}", pair, bundle.manifest["inputs"])


def _open_bundle(folder: Path, bundle_path: Path) -> None:
    """Open the bundle unpacked in ``folder``; the folder is kept only for a bundle that opened (Export zips it)."""
    try:
        _add_bundle_run(bundle_path)
    except (ValueError, TypeError):
        shutil.rmtree(folder, ignore_errors=True)
        raise
    state.flash("Bundle opened: see *Significance* and *Regions*; *Train and watch* replays its snapshots.", "success")


def _add_bundle_run(path: Path) -> None:
    bundle = load_bundle(path)
    dataset = _bundle_dataset(bundle)
    sizes = bundle.manifest["sizes"]
    if (sizes["reference"], sizes["data"]) != (dataset.reference.shape[0], dataset.data.shape[0]):
        raise ValueError(f"the bundle was computed on {sizes['reference']} reference and {sizes['data']} data rows; "
                         f"its inputs now hold {dataset.reference.shape[0]} and {dataset.data.shape[0]}.")
    if dataset is not state.dataset():
        state.set_dataset(dataset)
    state.add_run(LoadedRun(state.next_run_id(), bundle, dataset.name))


def _attempt(action, *args) -> None:
    """Run a loading action; a bad input shows one line and leaves the session as it was. A load that
    worked reruns the app, so the sidebar (drawn before this page) shows the new dataset and its runs."""
    try:
        action(*args)
    except (ValueError, TypeError) as err:
        st.error(str(err))
        return
    st.rerun()


if source == "Bundled sample":
    names = list(SAMPLES)
    current = state.dataset()
    default = names.index(current.name.removeprefix("sample: ")) if current and current.name.startswith("sample: ") else 0
    name = st.selectbox("Sample", names, index=default, format_func=lambda n: f"{n}: {describe_sample(n)}",
                        key="sample_name")
    if st.button("Load sample", type="primary", key="load_sample"):
        _attempt(_load_sample, name)
elif source == "Upload files":
    types = [ext.lstrip(".") for ext in SUPPORTED_EXTENSIONS]
    mode = st.radio("Layout of the files", ["Two files: reference and data", "One file with a label column"], horizontal=True, key="upload_mode")
    if mode.startswith("Two"):
        ref_file = st.file_uploader("Reference embeddings", type=types, key="upload_reference")
        data_file = st.file_uploader("Data embeddings", type=types, key="upload_data")
        if st.button("Load files", type="primary", key="load_files", disabled=ref_file is None or data_file is None):
            _attempt(_load_upload, {"reference": ref_file, "data": data_file}, {})
    else:
        one = st.file_uploader("Embeddings with a label column", type=types, key="upload_one")
        col1, col2, col3 = st.columns(3)
        label = col1.text_input("Label column", value="split", key="label_column")
        ref_value = col2.text_input("Value meaning reference", value="reference", key="reference_value")
        data_value = col3.text_input("Value meaning data", value="data", key="data_value")
        if st.button("Load file", type="primary", key="load_file", disabled=one is None):
            _attempt(_load_upload, {"reference": one},
                     {"label_column": label, "reference_value": ref_value, "data_value": data_value})
    st.caption(f"Formats: {', '.join(SUPPORTED_EXTENSIONS)}. Numeric columns of a table form the vector; other columns "
               "(text, image path, id, class) travel with the points as metadata. Nothing is unpickled.")
else:
    archive = st.file_uploader("Result bundle (.zip of a folder written by `sparker run` or the Export page)", type=["zip"],
                               key="upload_bundle")
    if st.button("Open bundle", type="primary", key="open_bundle", disabled=archive is None):
        folder = None
        try:
            folder, bundle_path = _extract_bundle(archive)
        except ValueError as err:
            st.error(str(err))
        if folder is not None:
            _attempt(_open_bundle, folder, bundle_path)

ds = state.dataset()
st.subheader(ds.name)
c1, c2, c3, c4 = st.columns(4)
c1.metric("reference rows", f"{ds.reference.shape[0]:,}")
c2.metric("data rows", f"{ds.data.shape[0]:,}")
c3.metric("dimension", ds.n_features)
c4.metric("shown as", ds.kind)
if ds.truth is not None:
    st.caption(f"Ground truth known for this sample: {int(ds.truth.sum())} planted rare rows in the data "
               "(the test never sees this column).")
preview = ds.data_metadata.drop(columns=[c for c in ("image",) if c in ds.data_metadata.columns]).head(20).copy()
preview.insert(0, "vector (first 3 of d)", [np.array2string(v[:3], precision=3) for v in ds.data[:20]])
st.dataframe(preview, width="stretch", hide_index=False)
ds = common.dataset_with_layout()
st.plotly_chart(common.run_map(ds, None, title=f"reference vs data ({ds.layout_note})", height=520), key="data_map")
common.await_layout(ds)
