"""Pieces shared by several pages: the sidebar, the map of the current run, point descriptions."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from dashboard import cache, state
from dashboard.components import figures
from dashboard.components.map_layout import display_subsample
from dashboard.datasets import Dataset
from dashboard.layout_job import LayoutJob
from dashboard.loaded_run import LoadedRun
from dashboard.run import Run
from sparker_core import MultiScaleResult, SparKer
from sparker_core import MapHonesty, map_honesty, pca_layout, working_scale

MAX_DISPLAY_POINTS = 4000  # map points drawn (display only; statistics use every point)
TRAIL_LENGTH = 6  # past snapshots drawn behind each kernel


def sidebar() -> None:
    ds = state.dataset()
    with st.sidebar:
        if ds is not None:
            st.markdown(f"**Dataset:** {ds.name}  \n{ds.reference.shape[0]:,} reference, {ds.data.shape[0]:,} data, "
                        f"d = {ds.n_features}")
        runs = state.runs_of_dataset()
        if runs:
            ids = [r.run_id for r in runs]
            active = state.active_run()
            index = ids.index(active.run_id) if active is not None else len(ids) - 1
            labels = {r.run_id: r.label for r in runs}
            choice = st.selectbox("Run shown", ids, index=index, format_func=labels.get,
                                  key=f"run_select_{len(ids)}_{ids[index]}")
            if active is None or choice != active.run_id:
                state.set_active_run(choice)
        else:
            st.caption("No run yet: start one on *Train and watch*.")
        if ds is not None and ds.n_features > 2:  # a 2-D dataset is its own map
            st.radio("Map layout", MAP_LAYOUTS, key="map_layout", horizontal=True, help=LAYOUT_HELP)
        message = state.flash()
        if message is not None:
            getattr(st, message[0])(message[1])


def dataset_with_layout() -> Dataset:
    """The loaded dataset with a map layout: its own, its UMAP layout once fitted (in a worker, once per
    dataset and session), or a quick PCA layout while UMAP fits."""
    ds = state.dataset()
    if st.session_state.get("map_layout") == MAP_LAYOUTS[1] and ds.n_features > 2:
        return _exact_pca(ds)
    if ds.layout_reference is not None:
        return ds
    jobs = st.session_state.setdefault("layout_jobs", {})  # fingerprint -> LayoutJob
    for stale in [key for key in jobs if key != ds.fingerprint]:  # a dataset no longer loaded: its layout is not wanted
        del jobs[stale]
    job = jobs.get(ds.fingerprint)
    if job is None:
        job = jobs[ds.fingerprint] = LayoutJob(ds.reference, ds.data)
    if job.done:
        ds = ds.with_layout(*job.result())
        st.session_state["dataset"] = ds  # keep the layout with the session's dataset
        del jobs[ds.fingerprint]
        return ds
    return ds.with_layout(*cache.pca_layout(ds.fingerprint, ds.reference, ds.data))


# ------------------------------------------------------------------------ the map's honesty
MAP_LAYOUTS = ("UMAP", "PCA (exact projection)")
LAYOUT_HELP = ("UMAP keeps local neighbourhoods but distorts distances and tears some regions apart; PCA is a linear "
               "projection of the points on their first two principal axes: exact for what it shows. The statistics "
               "use the full space either way.")


def _exact_pca(ds: Dataset) -> Dataset:
    """The dataset on the PCA of all its points (sparker_core.honesty.pca_layout), once per dataset and session."""
    layouts = st.session_state.setdefault("exact_pca_layouts", {})  # fingerprint -> (n, 2)
    if ds.fingerprint not in layouts:
        layouts[ds.fingerprint] = pca_layout(np.concatenate([ds.reference, ds.data]))
    xy, n_ref = layouts[ds.fingerprint], ds.reference.shape[0]
    return ds.with_layout(xy[:n_ref], xy[n_ref:], "PCA of the points (an exact linear projection)")


def map_honesty_of(ds: Dataset, run: Run) -> tuple[MapHonesty, np.ndarray, np.ndarray]:
    """Neighbourhood preservation of the map's drawn points (``shown_rows``), in the run's working space,
    once per layout and session: (the honesty, reference scores of every row, data scores of every row),
    nan for rows not drawn."""
    preprocessing = run.params.get("preprocessing", "none")
    key = (ds.layout_key, preprocessing)
    cached = st.session_state.setdefault("map_honesty", {})
    if key not in cached:
        shown_ref, shown_data = shown_rows(ds)
        scale = working_scale(ds.reference, preprocessing)
        points = np.concatenate([ds.reference[shown_ref], ds.data[shown_data]]) / scale
        layout = np.concatenate([ds.layout_reference[shown_ref], ds.layout_data[shown_data]])
        honesty = map_honesty(points, layout)
        ref_scores, data_scores = np.full(ds.reference.shape[0], np.nan), np.full(ds.data.shape[0], np.nan)
        ref_scores[shown_ref], data_scores[shown_data] = honesty.scores[:shown_ref.size], honesty.scores[shown_ref.size:]
        cached[key] = (honesty, ref_scores, data_scores)
    return cached[key]


def await_layout(ds: Dataset) -> None:
    """Under a map drawn with the quick layout: progress of the UMAP fit, then a rerun that draws it."""
    job = st.session_state.get("layout_jobs", {}).get(ds.fingerprint)
    if job is None:
        return
    def text() -> str:
        return (f"Fitting the UMAP layout: {job.elapsed:.0f} s (the first fit in a server also compiles numba, about "
                "a minute); the map above is a quick PCA view.")

    bar = st.progress(job.fraction, text=text())  # the caption from the first frame, not after the first wait
    while not job.wait(0.5):
        bar.progress(job.fraction, text=text())
    st.rerun()


def shown_rows(ds: Dataset, limit: int = MAX_DISPLAY_POINTS) -> tuple[np.ndarray, np.ndarray]:
    """Display subsample of at most ``limit`` points: every data point when they fit in half of it."""
    n_ref, n_data = ds.reference.shape[0], ds.data.shape[0]
    data_limit = min(n_data, limit // 2) if n_ref + n_data > limit else n_data
    return display_subsample(n_ref, limit - data_limit, 1), display_subsample(n_data, data_limit, 2)


def run_map(ds: Dataset, run: Run | None, index: int | None = None, highlight=None, title: str = "", height: int = 560,
            max_points: int = MAX_DISPLAY_POINTS, as_image: bool = False):
    """The map with the kernels of ``run`` at snapshot ``index`` (default: the last one)."""
    shown_ref, shown_data = shown_rows(ds, max_points)
    centers_xy = amplitudes = trails = None
    clip = float(SparKer().amplitude_clip)
    if run is not None and run.snapshots:
        index = len(run.snapshots) - 1 if index is None else index
        snap = run.snapshots[index]
        centers_xy = run.projector.center_layout(index, ds)
        amplitudes = snap.amplitudes
        trails = [run.projector.center_layout(i, ds) for i in range(max(0, index - TRAIL_LENGTH), index)]
        clip = run.amplitude_clip
        title = title or f"epoch {snap.epoch}: sigma = {snap.sigma:.3g}, t = {snap.t:.1f}"
    background = cache.points_image(ds.layout_key, ds.layout_reference, ds.layout_data) if as_image else None
    return figures.map_figure(ds.layout_reference, ds.layout_data, shown_ref, shown_data, ds.n_features,
                              centers_xy, amplitudes, clip, trails, highlight, title=title, height=height,
                              background=background)


def describe(ds: Dataset, row: int) -> str:
    """One line saying what data row ``row`` is, from its metadata."""
    meta = ds.data_metadata
    if "text" in meta.columns:
        title = f"**{meta['title'].iloc[row]}**: " if "title" in meta.columns else ""
        return f"{title}{meta['text'].iloc[row]}"
    if ds.n_features == 2:
        x, y = ds.data[row]
        return f"({x:.2f}, {y:.2f})"
    shown = [c for c in meta.columns if c not in ("image", "umap_x", "umap_y")][:4]
    return ", ".join(f"{c} = {meta[c].iloc[row]}" for c in shown) or f"data row {row}"


def show_exemplars(ds: Dataset, rows, limit: int = 4) -> None:
    rows = [int(r) for r in list(rows)[:limit]]
    if not rows:
        st.caption("no members")
        return
    if ds.kind == "image":
        images = [figures.digit_image(ds.data_metadata["image"].iloc[r]) for r in rows]
        st.image(images, caption=[describe(ds, r) for r in rows], width=64)
        return
    for r in rows:
        st.markdown(f"- {describe(ds, r)}")


def points_table(ds: Dataset, rows: np.ndarray, scores: np.ndarray) -> pd.DataFrame:
    """Data rows with their score f(x) and metadata (images and layout columns left out)."""
    meta = ds.data_metadata.drop(columns=[c for c in ("image", "umap_x", "umap_y") if c in ds.data_metadata.columns])
    table = meta.iloc[rows].copy()
    table.insert(0, "f(x)", scores[rows])
    table.insert(0, "data row", rows)
    if ds.n_features == 2:
        table["x1"], table["x2"] = ds.data[rows, 0], ds.data[rows, 1]
    return table.reset_index(drop=True)


def _start_toys(run: Run) -> None:
    try:
        run.start_calibration(int(st.session_state["watch_n_toys"]))
    except (ValueError, TypeError) as err:
        state.flash(str(err))


def null_toys_panel(run: Run) -> None:
    """The run's null histogram filling as toys finish, t_obs marked and p updating, with a button to start
    the toys from where the map is watched (method, seed and the tail fit are on *Significance*)."""
    job_active = run.calibration_status.active
    st.number_input("null toys", min_value=1, max_value=100_000, value=100, step=50, key="watch_n_toys")
    if job_active:
        st.button("Stop toys", key="watch_stop_toys", on_click=run.calibration.stop, width="stretch")
    else:
        st.button("Run null toys", key="watch_run_toys", on_click=_start_toys, args=(run,), width="stretch",
                  disabled=isinstance(run, LoadedRun))  # an opened bundle's toys are already in it
    if run.error:
        st.error(run.error)
    result = run.result
    if result is None:
        st.caption("first batch of null toys running..." if job_active else
                   f"Observed t = {run.t:.2f}: the null toys say how often chance alone reaches it.")
        return
    shown = result.per_config[result.scale] if isinstance(result, MultiScaleResult) else result
    st.plotly_chart(figures.null_histogram(shown, height=300), key="watch_hist")
    st.markdown(f"**p = {result.pvalue:.3g}**, Z = {result.zscore:.2f}: {result.n_exceeding} of {result.n_toys} toys "
                f"as extreme as the observed fit ({result.n_toys} of {result.n_toys_requested} run, "
                f"{run.calibration_status}).")
