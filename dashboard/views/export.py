"""Export: the result bundle (the CLI's format, as a zip), a self-contained HTML report and the figures."""

from __future__ import annotations

import io
import shutil
import tempfile
import zipfile
from pathlib import Path

import streamlit as st

from dashboard import state
from dashboard.components import figures
from dashboard.loaded_run import LoadedRun
from dashboard.views import common
from sparker_core import load_bundle, save_bundle
from sparker_core import build_report

st.header("Export")
run = state.active_run()
if run is None:
    st.info("Train a run first (*Train and watch*).")
    st.stop()
ds = common.dataset_with_layout()


def bundle_zip() -> bytes:
    """The run written with ``save_bundle`` into a temporary folder, zipped in memory."""
    if isinstance(run, LoadedRun):
        folder = Path(run.bundle.path)
        return _zip(folder, folder.name)
    tmp = Path(tempfile.mkdtemp(prefix="sparker-export-"))
    try:
        target = _write_bundle(tmp)
        return _zip(target, target.name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _write_bundle(folder: Path) -> Path:
    return save_bundle(folder / f"run-{run.run_id}", run.model, run.result, ds.reference, ds.data, ds.inputs,
                       ds.reference_metadata, ds.data_metadata,
                       extra={"source": "dashboard", "dataset": ds.name, "calibration_seed": run.calibration_seed})


def report_html() -> str:
    """The run's report (``sparker report``), from the opened bundle or from one written to a temporary folder."""
    if isinstance(run, LoadedRun):
        return build_report(run.bundle, ds.reference, ds.data)
    tmp = Path(tempfile.mkdtemp(prefix="sparker-report-"))
    try:
        return build_report(load_bundle(_write_bundle(tmp)), ds.reference, ds.data)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _zip(folder: Path, name: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.iterdir()):
            archive.write(path, f"{name}/{path.name}")
    return buffer.getvalue()


st.subheader("Result bundle")
if run.result is None:
    st.info("The bundle holds the calibrated result: run the null toys on *Significance* first.")
elif run.calibration_status.active:
    st.info("The null toys are still running; stop them or let them finish first.")
else:
    st.caption("The same folder `sparker run` writes (manifest, null toys, kernels, snapshots, per-point scores), "
               "zipped. `sparker show` and `sparker verify` read it; the Data page opens it again.")
    if st.button("Prepare bundle"):
        if isinstance(run, LoadedRun) and not Path(run.bundle.path).is_dir():  # removed when the connection dropped
            st.error("The opened bundle's files were removed when this session disconnected; open it again on *Data*.")
        else:
            st.session_state[f"bundle_zip_{run.run_id}"] = bundle_zip()
    payload = st.session_state.get(f"bundle_zip_{run.run_id}")
    if payload is not None:
        st.download_button("Download bundle (.zip)", payload, file_name=f"sparker-run-{run.run_id}.zip",
                           mime="application/zip", type="primary")
    st.caption("One HTML file to share: the question, the data, p and Z, the null toys, the region cards with their "
               "radial profiles, the map with its honesty score and the command that reproduces the run. It opens "
               "offline, in any browser, with nothing else.")
    if st.button("Export HTML report", key="export_report"):
        st.session_state[f"report_{run.run_id}"] = report_html()
    report = st.session_state.get(f"report_{run.run_id}")
    if report is not None:
        st.download_button("Download report (.html)", report, file_name=f"sparker-report-{run.run_id}.html",
                           mime="text/html", key="download_report")

st.subheader("Figures (interactive HTML, plotly.js included: they open offline)")
if st.button("Prepare figures"):
    figs = {"map": common.run_map(ds, run), "training-curves": figures.curves_figure(run.snapshots, run.max_epochs)}
    if run.result is not None:
        figs["null-histogram"] = figures.null_histogram(run.result)
    st.session_state[f"figures_{run.run_id}"] = {k: f.to_html(include_plotlyjs=True) for k, f in figs.items()}
for label, html in st.session_state.get(f"figures_{run.run_id}", {}).items():
    st.download_button(f"Download {label}.html", html, file_name=f"sparker-{label}.html", mime="text/html",
                       key=f"fig_{label}")
