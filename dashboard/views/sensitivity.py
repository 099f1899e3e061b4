"""Sensitivity: would the test have found k anomalies of this kind? A power curve from pseudo-experiments
on the loaded reference, for a kind chosen by a metadata value or by the rows of a selected region."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from dashboard import state
from dashboard.components.members import member_rows
from sparker_core import SENSITIVITY_LEVELS as LEVELS
from sparker_core import SENSITIVITY_METHODS as METHODS
from sparker_core import estimate_cost, plan_sensitivity, sensitivity_iter, split_kind

FRAME_SECONDS = 0.3  # between fits the page redraws and sees a Stop
MAX_VALUES = 50  # a metadata column with more distinct values is not offered as a kind (free text, ids)
COLOURS = {"sparker": "#1f77b4", "mmd": "#ff7f0e"}
NAMES = {"sparker": "SparKer", "mmd": "MMD (median bandwidth)"}

st.header("Sensitivity: would this test have found k anomalies of this kind?")
st.caption("Pseudo-experiments from the loaded reference alone: each draws a pseudo-reference and pseudo-data from "
           "disjoint reference rows and puts k rows of the chosen kind in the pseudo-data; every one is tested and "
           "calibrated on one shared null of pseudo-experiments without injection. The power at k is the share "
           "rejected at alpha, with its 95 % Clopper-Pearson interval. SparKer uses the Train page's settings.")
ds = state.dataset()


def _kind_columns() -> list[str]:
    frames = [ds.reference_metadata, ds.data_metadata]
    columns = dict.fromkeys(c for f in frames for c in f.columns)
    return [c for c in columns if pd.concat([f[c].astype(str) for f in frames if c in f.columns]).nunique() <= MAX_VALUES]


def _mask(frame: pd.DataFrame, column: str, value: str) -> np.ndarray:
    return (frame[column].astype(str) == value).to_numpy() if column in frame.columns else np.zeros(len(frame), bool)


def _kind() -> tuple[str, np.ndarray, np.ndarray] | None:
    """(description, background, candidates) of the chosen kind; None (with a note shown) when there is none."""
    source = st.radio("kind of anomaly", ["a metadata value", "the selected region"], horizontal=True, key="sens_source")
    if source == "a metadata value":
        columns = _kind_columns()
        if not columns:
            st.info(f"The loaded metadata have no column with at most {MAX_VALUES} values; select a region instead.")
            return None
        column = st.selectbox("column", columns, index=columns.index("is_anomaly") if "is_anomaly" in columns else 0,
                              key="sens_column")
        values = sorted(pd.concat([f[column].astype(str) for f in (ds.reference_metadata, ds.data_metadata)
                                   if column in f.columns]).unique())
        value = st.selectbox("value", values, index=values.index("True") if "True" in values else 0, key="sens_value")
        background, candidates = split_kind(ds.reference, ds.data, _mask(ds.reference_metadata, column, value),
                                            _mask(ds.data_metadata, column, value))
        return f"{column} = {value}", background, candidates
    run, kernel, lasso = state.active_run(), state.selected_kernel(), state.lasso_rows()
    if kernel is not None and run is not None and (rows := member_rows(run.projector.kernels(), kernel)) is not None:
        return f"the data members of kernel {kernel}", *split_kind(ds.reference, ds.data, data_rows=rows)
    if lasso is not None:
        mask = np.zeros(len(ds.reference), bool)
        mask[lasso[0]] = True
        return "the map selection", *split_kind(ds.reference, ds.data, mask, lasso[1])
    st.info("Select a kernel or lasso points on the *Regions* page first.")
    return None


kind = _kind()
if kind is None:
    st.stop()
what, background, candidates = kind
c1, c2, c3, c4 = st.columns(4)
counts_text = c1.text_input("counts k (comma-separated)", "5,10,20,40", key="sens_counts")
n_experiments = c2.number_input("pseudo-experiments per k", min_value=1, max_value=1000, value=20, key="sens_experiments")
n_data = c3.number_input("pseudo-data rows", min_value=2, value=max(2, min(len(ds.data), len(background) // 2)),
                         key="sens_n_data")
with_mmd = c4.checkbox("also MMD", value=True, key="sens_mmd")
params = state.params()
try:
    counts = [int(part) for part in counts_text.split(",") if part.strip()]
except ValueError:
    st.error(f"`counts` must be comma-separated integers; got {counts_text!r}.")
    st.stop()
try:
    plan = plan_sensitivity(background, candidates, counts, int(n_data), n_experiments=int(n_experiments),
                            methods=METHODS if with_mmd else ("sparker",), seed=int(params.pop("seed")), options=params)
except ValueError as err:
    st.error(str(err))
    st.stop()

choice = (ds.fingerprint, what, tuple(plan.counts), plan.n_experiments, plan.n_data, plan.methods, tuple(params.items()),
          len(candidates))
if st.session_state.get("sens_cost_for") != choice:  # one timed fit per choice, not per rerun
    with st.spinner("timing one pseudo-experiment..."):
        st.session_state["sens_cost"] = estimate_cost(plan)
    st.session_state["sens_cost_for"] = choice
st.markdown(f"**Kind:** {what}: {len(candidates)} candidate rows; background {len(background)} reference rows; each "
            f"pseudo-experiment {plan.n_reference} reference and {plan.n_data} data rows.  \n"
            f"**Cost:** {st.session_state['sens_cost'].describe()} ({plan.n_null} null fits + {len(plan.counts)} counts "
            f"x {plan.n_experiments} pseudo-experiments).")

job = st.session_state.get("sens_job")
running = job is not None and job["running"]
b1, b2 = st.columns(2)
if b1.button("Start", type="primary", disabled=running, key="sens_start"):
    st.session_state["sens_job"] = {"stream": sensitivity_iter(plan), "curve": None, "running": True, "what": what}
    st.rerun()


def _stop() -> None:
    current = st.session_state.get("sens_job")
    if current is not None and current["running"]:
        current["stream"].close()
        current["running"] = False


b2.button("Stop", disabled=not running, key="sens_stop", on_click=_stop)


def figure(curve, what: str) -> go.Figure:
    """Power against k per method, with the Clopper-Pearson intervals as error bars."""
    fig = go.Figure()
    for m in curve.methods:
        table = curve.power(m)
        table = table[table.n_done > 0]
        fig.add_trace(go.Scatter(x=table["count"], y=table["power"], mode="lines+markers", name=NAMES[m],
                                 line={"color": COLOURS[m]}, error_y={"type": "data", "symmetric": False,
                                                                      "array": table["high"] - table["power"],
                                                                      "arrayminus": table["power"] - table["low"]}))
    fig.add_hline(y=curve.alpha, line_dash="dot", line_color="grey")
    fig.update_layout(title=f"power against k ({what})", xaxis_title="k rows of the kind in the pseudo-data",
                      yaxis_title=f"rejection rate at alpha = {curve.alpha:g}", yaxis_range=[-0.02, 1.02], height=420)
    return fig


@st.fragment(run_every=FRAME_SECONDS if running else None)
def progress() -> None:
    current = st.session_state.get("sens_job")
    if current is None:
        st.info("Press *Start* to measure the curve.")
        return
    if current["running"]:
        try:
            current["curve"] = next(current["stream"])  # one fit, then the page redraws
        except StopIteration:
            current["running"] = False
            st.rerun()
    curve = current["curve"]
    if curve is None:
        return
    if curve.null_done < curve.n_null:
        st.info(f"shared null: {curve.null_done} of {curve.n_null} fits ({curve.seconds:.0f} s)")
        return
    st.plotly_chart(figure(curve, current["what"]), key="sens_chart")
    tables = [curve.power(m).assign(method=NAMES[m]) for m in curve.methods]
    st.dataframe(pd.concat(tables)[["method", "count", "n_done", "n_rejected", "power", "low", "high"]], hide_index=True)
    for m in curve.methods:
        found = [curve.smallest_count(level, m) for level in LEVELS]
        st.markdown(f"**{NAMES[m]}:** " + ", ".join(
            f"{level:.0%} power at k = {k}" if k is not None else f"{level:.0%} power not reached among the counts done"
            for level, k in zip(LEVELS, found)))
    state_text = "complete" if curve.complete else ("running" if current["running"] else "stopped")
    st.caption(f"{state_text}: {curve.seconds:.0f} s")


progress()
