"""Typed accessors over ``st.session_state``: everything a browser session owns lives here.

Each browser session has its own session_state, so two sessions never see each other's data,
runs or uploads. Runs are only ever added: changing a control starts a new run and never touches a
finished one.
"""

from __future__ import annotations

import os

import streamlit as st

from . import cache, uploads
from .datasets import Dataset
from .controls import DEFAULT_PARAMS
from .run import Run

DEFAULT_SAMPLE = "wiki"


def dataset() -> Dataset | None:
    return st.session_state.get("dataset")


def set_dataset(value: Dataset) -> None:
    st.session_state["dataset"] = value
    st.session_state["selected_kernel"] = None
    st.session_state["lasso_rows"] = None


def runs() -> dict[int, Run]:
    return st.session_state.setdefault("runs", {})


def add_run(run: Run) -> None:
    runs()[run.run_id] = run
    st.session_state["active_run_id"] = run.run_id
    st.session_state["selected_kernel"] = None
    st.session_state["lasso_rows"] = None


def next_run_id() -> int:
    value = st.session_state.get("next_run_id", 1)
    st.session_state["next_run_id"] = value + 1
    return value


def active_run() -> Run | None:
    """The run the pages show: the chosen one if it belongs to the loaded dataset."""
    run = runs().get(st.session_state.get("active_run_id"))
    current = dataset()
    if run is None or current is None or run.dataset_name != current.name:
        return None
    return run


def poll_runs() -> None:
    """Take over what the session's calibration workers handed over (once per script run)."""
    for run in runs().values():
        run.poll_calibration()


def set_active_run(run_id: int) -> None:
    st.session_state["active_run_id"] = run_id
    st.session_state["selected_kernel"] = None
    st.session_state["lasso_rows"] = None


def runs_of_dataset() -> list[Run]:
    current = dataset()
    return [r for r in runs().values() if current is not None and r.dataset_name == current.name]


def params() -> dict:
    """The training controls' current values (defaults until the user changes them)."""
    stored = st.session_state.setdefault("params", dict(DEFAULT_PARAMS))
    return dict(stored)


def set_params(values: dict) -> None:
    st.session_state["params"] = dict(values)


def selected_kernel() -> int | None:
    return st.session_state.get("selected_kernel")


def set_selected_kernel(kernel: int | None) -> None:
    st.session_state["selected_kernel"] = kernel


def lasso_rows():
    return st.session_state.get("lasso_rows")


def set_lasso_rows(rows) -> None:
    st.session_state["lasso_rows"] = rows


def upload_dir() -> str:
    """A private folder for this session's uploaded files, removed when the session disconnects
    (a new one is made if a dropped connection removed it)."""
    path = st.session_state.get("upload_dir")
    if path is None or not os.path.isdir(path):
        path = st.session_state["upload_dir"] = uploads.new_folder()
    cache.upload_folder(path)
    return path


def flash(message: str | None = None, kind: str = "error"):
    """Store a message to show on the next run (set), or pop it (no argument)."""
    if message is None:
        return st.session_state.pop("flash", None)
    st.session_state["flash"] = (kind, message)
    return None
