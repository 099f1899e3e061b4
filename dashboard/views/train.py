"""Train and watch: controls, Start / Pause / Stop / Reset, the kernels moving on the map, replay."""

from __future__ import annotations

import importlib
import threading
import time

import pandas as pd
import streamlit as st

from dashboard import state
from dashboard.components import figures
from dashboard.controls import CONTROLS, DEFAULT_PARAMS, read_controls, widget_options, widget_value
from dashboard.run import Run, TrainingStatus
from dashboard.training_run import TrainingRun
from dashboard.views import common

FRAME_SECONDS = 0.3  # the live view redraws this often while training (>= 2 updates per second)
SETTLE_SECONDS = 2.0  # after a replay stops, requests sent while it played are read as stale for this long
STATUS_TEXT = {TrainingStatus.TRAINING: "training", TrainingStatus.PAUSED: "paused",
               TrainingStatus.STOPPED: "stopped early", TrainingStatus.TRAINED: "trained",
               TrainingStatus.LOADED: "opened from a bundle"}

st.header("Train and watch")
ds = common.dataset_with_layout()
if not st.session_state.get("live_image_warm"):  # the live view's point image needs matplotlib (~1 s to import)
    threading.Thread(target=importlib.import_module, args=("matplotlib.pyplot",), daemon=True).start()
    st.session_state["live_image_warm"] = True


def _start() -> None:
    try:
        params = read_controls(st.session_state)
        run = TrainingRun(state.next_run_id(), state.dataset(), params)
        run.advance_training(max_snapshots=1)  # validates the parameters: bad values fail here
    except (ValueError, TypeError) as err:
        state.flash(str(err))
        return
    state.set_params(params)
    state.add_run(run)


def _reset_controls() -> None:
    for key, value in DEFAULT_PARAMS.items():
        st.session_state[f"ctl_{key}"] = widget_value(key, value)


def _control(action: str) -> None:
    """Pause, resume or stop the active run's training."""
    run = state.active_run()
    if isinstance(run, TrainingRun):
        getattr(run, action)()


def _controls() -> None:
    p = state.params()
    for key, value in p.items():
        st.session_state.setdefault(f"ctl_{key}", widget_value(key, value))
    widgets = {"slider": st.slider, "number": st.number_input, "text": st.text_input, "select": st.selectbox}
    for control in CONTROLS:
        widgets[control.widget](control.label, key=f"ctl_{control.name}", **widget_options(control))


left, right = st.columns([1.2, 3])  # wide enough at 1024 px for "Pause" and "Resume"
with left:
    _controls()
    b1, b2 = st.columns(2)
    b1.button("Start", type="primary", on_click=_start, width="stretch", key="start")
    b2.button("Reset", on_click=_reset_controls, width="stretch", key="reset", help="controls back to their defaults (runs are kept)")
    run = state.active_run()
    busy = run is not None and run.status.busy
    b3, b4 = st.columns(2)
    if run is not None and run.status is TrainingStatus.PAUSED:
        b3.button("Resume", on_click=_control, args=("resume",), width="stretch", key="resume")
    else:
        b3.button("Pause", on_click=_control, args=("pause",), disabled=not busy, width="stretch", key="pause")
    b4.button("Stop", on_click=_control, args=("stop",), disabled=not busy, width="stretch", key="stop")
    st.caption("Each Start is a new run; finished runs are kept (choose one in the sidebar).")


def _toggle_replay(key: str, last: int) -> None:
    playing = not st.session_state.get("replay_playing", False)
    if playing:
        at = st.session_state.get(key, last)
        st.session_state[f"{key}_frame"] = 0 if at >= last else at  # from the start once at the end
    else:
        st.session_state[f"{key}_settle"] = (st.session_state.get(f"{key}_frame", last), time.monotonic())
    st.session_state["replay_playing"] = playing


def _draw(run: Run | None, index: int | None = None) -> None:
    if run is None:
        st.plotly_chart(common.run_map(ds, None, title="press Start to place the kernels"), key="train_map")
        return
    snap = run.snapshots[index if index is not None else -1]
    st.markdown(f"**{run.label}** — {STATUS_TEXT[run.status]}, epoch {snap.epoch} of {run.max_epochs}")
    upto = run.snapshots[: (index + 1) if index is not None else None]
    if run.status is TrainingStatus.TRAINING:  # one light chart per frame: the points are one cached image
        live = figures.live_figure(common.run_map(ds, run, index, as_image=True),
                                   figures.curves_figure(upto, run.max_epochs))
        st.plotly_chart(live, key="train_live")
        return
    map_col, side_col = st.columns([3, 2])
    map_col.plotly_chart(common.run_map(ds, run, index), key="train_map")
    map_col.caption("Marker size is |a|; red: excess of data, blue: deficit. Trails show the last positions. "
                    "sigma shrinks along the schedule, so the kernels go from broad to local.")
    with side_col:
        st.plotly_chart(figures.curves_figure(upto, run.max_epochs, height=260), key="train_curves")
        if run.status is TrainingStatus.TRAINED or run.result is not None:
            common.null_toys_panel(run)


def _wants_frames(run: Run | None) -> bool:
    """The live view reruns on a timer while the run trains, a replay plays or its null toys run."""
    return run is not None and (run.status is TrainingStatus.TRAINING or st.session_state.get("replay_playing", False)
                                or run.calibration_status.active)


with right:
    run = state.active_run()
    live = _wants_frames(run)

    @st.fragment(run_every=FRAME_SECONDS if live else None)
    def live_view() -> None:
        run = state.active_run()
        if run is not None:
            run.poll_calibration()  # a fragment's rerun skips app.py: take the worker's toys here
        if _wants_frames(run) != live:
            st.rerun()  # Play, Pause or the toys' end inside this fragment: the timer is set by a full run
        if run is not None and run.status is TrainingStatus.TRAINING:
            try:
                run.advance_training()
            except (ValueError, TypeError) as err:
                st.error(str(err))
            if run.status is not TrainingStatus.TRAINING:
                st.rerun()  # leave the timed fragment: the full page shows the finished run
        if run is None or run.status.busy or len(run.snapshots) < 2:
            _draw(run)
            return
        key, last = f"replay_{run.run_id}", len(run.snapshots) - 1
        st.session_state.setdefault(key, last)
        if st.session_state.get("replay_playing"):
            # The frame lives apart from the slider: a frame timer can fire before the browser has taken the
            # slider's last position, and its request then carries the position before that one.
            frame = st.session_state[f"{key}_frame"] = min(st.session_state.get(f"{key}_frame", 0) + 1, last)
            st.session_state[key] = frame
            if frame >= last:
                st.session_state["replay_playing"] = False
                st.session_state[f"{key}_settle"] = (frame, time.monotonic())
        elif f"{key}_settle" in st.session_state and not live:
            # Requests sent while the replay played may still arrive, carrying the slider's position of a
            # frame or two before: for SETTLE_SECONDS after the replay stops the slider keeps its last frame.
            frame, stopped = st.session_state[f"{key}_settle"]
            if time.monotonic() - stopped < SETTLE_SECONDS:
                st.session_state[key] = frame
            else:
                del st.session_state[f"{key}_settle"]
        slider_col, play_col = st.columns([5, 1], vertical_alignment="bottom")
        index = slider_col.slider("replay: snapshot", 0, last, key=key,
                                  help="every snapshot of the self-organisation, kept with the run")
        play_col.button("Pause replay" if st.session_state.get("replay_playing") else "Play", key="replay_play",
                        on_click=_toggle_replay, args=(key, last), width="stretch")
        _draw(run, index)

    live_view()

runs = state.runs_of_dataset()
if len(runs) > 1:
    st.subheader("Runs on this dataset")
    st.dataframe(pd.DataFrame([r.summary() for r in runs]), hide_index=True, width="stretch")
