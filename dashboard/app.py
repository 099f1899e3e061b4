"""SparKer Explorer: ``streamlit run dashboard/app.py``.

Routes the pages with st.navigation; opens with the default real sample already loaded.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

# The null toys train in a worker thread while the page's thread also computes: OpenMP threads
# that spin while idle would starve the worker on a small CPU. Set before torch is first imported.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import streamlit as st

if __package__ in (None, ""):  # `streamlit run dashboard/app.py` runs this file as a script
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dashboard import cache, state  # noqa: E402
from dashboard.views import common  # noqa: E402

VIEWS = Path(__file__).resolve().parent / "views"
LOOPBACK = ("127.0.0.1", "localhost", "::1")  # server.address values that serve this machine only

st.set_page_config(page_title="SparKer Explorer", layout="wide")

if state.dataset() is None:  # first visit: the default real sample, no click needed
    state.set_dataset(cache.sample_dataset(state.DEFAULT_SAMPLE))

state.poll_runs()  # the page thread takes over what the calibration workers handed over
common.sidebar()
address = st.get_option("server.address")
if address not in LOOPBACK:  # e.g. started outside the repository folder, so .streamlit/config.toml was not read
    st.sidebar.warning(f"Served on {address or 'every network interface'}: anyone who can reach this port sees "
                       "the data loaded here. `--server.address 127.0.0.1` keeps it on this machine.")

pages = [
    st.Page(VIEWS / "data.py", title="Data", url_path="data", default=True),
    st.Page(VIEWS / "train.py", title="Train and watch", url_path="train"),
    st.Page(VIEWS / "significance.py", title="Significance", url_path="significance"),
    st.Page(VIEWS / "regions.py", title="Regions", url_path="regions"),
    st.Page(VIEWS / "compare.py", title="Compare", url_path="compare"),
    st.Page(VIEWS / "sensitivity.py", title="Sensitivity", url_path="sensitivity"),
    st.Page(VIEWS / "teach.py", title="Teach", url_path="teach"),
    st.Page(VIEWS / "export.py", title="Export", url_path="export"),
]
st.navigation(pages).run()
