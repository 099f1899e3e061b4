"""Significance: null toys fill the histogram batch by batch; p with its interval, Z, the tail fit."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import state
from dashboard.calibration_job import CalibrationStatus
from dashboard.components import figures
from sparker_core import MultiScaleResult, toys_needed

FRAME_SECONDS = 0.3
WHERE = ("this machine", "Ray cluster")

st.header("Significance")
st.caption("Each null toy refits SparKer, with the same epochs and the same t rule, on a pseudo-experiment without "
           "anomalies. p = (1 + #toys with t >= t_obs) / (1 + toys): never 0, and exact for the toys run.")
run = state.active_run()
if run is None:
    st.info("Train a run first (*Train and watch*).")
    st.stop()


def _start(n_toys: int, method: str, seed: int, ray_address: str | None) -> None:
    try:
        run.start_calibration(n_toys, method, seed, ray_address=ray_address)
    except (ValueError, TypeError) as err:
        state.flash(str(err))


def _job(action: str) -> None:
    """Pause, resume or stop the run's calibration job."""
    if run.calibration is not None:
        getattr(run.calibration, action)()


def _submit() -> None:
    s = st.session_state
    on_ray = s["toys_where"] == WHERE[1]
    _start(int(s["n_toys"]), s["toys_method"], int(s["toys_seed"]), s["toys_ray_address"] if on_ray else None)


with st.form("toys"):
    c1, c2, c3 = st.columns(3)
    c1.number_input("null toys", min_value=1, max_value=100_000, value=100, step=50, key="n_toys")
    c2.selectbox("null construction", ["permutation", "reference"], key="toys_method",
                 help="permutation: reassign reference/data roles at random (exact under exchangeability); "
                      "reference: pseudo-data from held-out reference rows (needs N_R >= 4 N_D)")
    c3.number_input("seed", min_value=0, value=0, step=1, key="toys_seed")
    w1, w2 = st.columns([1, 2])
    w1.radio("where to run the toys", WHERE, key="toys_where", horizontal=True,
             help="the same toys and the same p either way; a Ray cluster trains several blocks of toys at once")
    w2.text_input("Ray address", key="toys_ray_address", placeholder="empty: RAY_ADDRESS, else a new local cluster",
                  help="used with 'Ray cluster': 'host:6379' on a cluster node, or 'ray://host:10001'")
    st.form_submit_button("Run null toys", type="primary", key="run_toys", on_click=_submit,
                          disabled=run.calibration_status.active)

b1, b2 = st.columns(2)
if run.calibration_status is CalibrationStatus.PAUSED:
    b1.button("Resume", on_click=_job, args=("resume",), key="toys_resume")
else:
    b1.button("Pause", on_click=_job, args=("pause",), disabled=run.calibration_status is not CalibrationStatus.RUNNING,
              key="toys_pause")
b2.button("Stop (keep the toys finished)", on_click=_job, args=("stop",), disabled=not run.calibration_status.active,
          key="toys_stop")


LIVE = run.calibration_status.active


@st.fragment(run_every=FRAME_SECONDS if LIVE else None)
def live() -> None:
    run.poll_calibration()  # a fragment's rerun skips app.py: take the worker's toys here
    if LIVE and not run.calibration_status.active:
        st.rerun()  # the worker finished or failed: leave the timed fragment
    if run.error:
        st.error(run.error)
    result = run.result
    if result is None:
        if run.calibration_status is CalibrationStatus.RUNNING:
            st.progress(0.0, text=f"first batch of null toys running (observed t = {run.t:.2f})")
        else:
            st.info(f"Observed t = {run.t:.2f}. Run the null toys to calibrate it.")
        return
    st.progress(min(1.0, result.n_toys / max(1, result.n_toys_requested)),
                text=f"{result.n_toys} of {result.n_toys_requested} toys ({run.calibration_status})")
    left, right = st.columns([3, 2])
    shown = result.per_config[result.scale] if isinstance(result, MultiScaleResult) else result
    left.plotly_chart(figures.null_histogram(shown), key="null_hist")
    low, high = result.pvalue_ci
    if shown is not result:
        parts = list(result.per_config) + ([result.companion] if result.companion is not None else [])
        companion = (" and with the fixed-centre companion test (many small kernels fixed on data rows, which add up the "
                     "evidence of a rare group; its kernels are not drawn)") if result.companion is not None else ""
        left.caption(f"{len(result.per_config)} final width(s) were fitted on the same toys. The histogram shows the one "
                     f"with the smallest p ({shown.label}); the p-value combines the widths by their minimum p{companion}, "
                     "calibrated on the same toys, so trying several costs no significance.")
        left.dataframe(pd.DataFrame({"test": [r.label for r in parts], "t": [r.t_obs for r in parts],
                                     "p of this test": [r.pvalue for r in parts]}), hide_index=True)
    right.metric("observed t", f"{shown.t_obs:.2f}")
    right.metric("p-value", f"{result.pvalue:.3g}", help="(1 + #{t_null >= t_obs}) / (1 + n_toys)" if shown is result else
                 "the widths' smallest p (then the smaller of it and the companion test's, when it ran), ranked among the "
                 "toys' own: (1 + #{toys as extreme}) / (1 + n_toys)")
    right.markdown(f"95% Clopper-Pearson interval of the exceedance probability: [{low:.3g}, {high:.3g}]  \n"
                   f"Z = {result.zscore:.2f} ({result.n_exceeding} of {result.n_toys} toys "
                   + ("reach t_obs)" if shown is result else "are as extreme over all widths)"))
    if not result.complete:
        right.warning(f"Stopped or running: p uses the {result.n_toys} toys finished so far (honest, less precise).")
    if result.tail_fit is not None:
        fit = result.tail_fit
        right.markdown(f"**Extrapolated** (gamma fit of the null, KS p = {fit.ks_pvalue:.2f}): "
                       f"p ~ {fit.pvalue:.3g}, Z ~ {fit.zscore:.2f}. A model of the tail, not a count of toys.")
    # -- toys-needed table: only when no toy reaches t_obs, the case it is about (else there is no claim to make)
    if result.n_exceeding == 0:
        need = pd.DataFrame({"Z": [2, 3, 4, 5], "toys needed": [toys_needed(z) for z in (2, 3, 4, 5)]})
        right.caption("No toy reaches t_obs yet: the toys needed to claim each Z empirically are")
        right.dataframe(need, hide_index=True)
    # -- end of the toys-needed table


live()
