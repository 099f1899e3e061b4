"""Teach: the 2-D teaching sets in data space, f(x) as a heat-map under the kernels, epoch by epoch."""

from __future__ import annotations

import numpy as np
import streamlit as st

from dashboard import cache
from dashboard.components import figures
from dashboard.components.map_layout import display_subsample
from dashboard.datasets import describe_sample
from sparker_core import TEACHING_SAMPLES, SparKer

GRID = 70  # heat-map resolution per axis
PLAY_SECONDS = 0.35
SNAPSHOT_EVERY = 2
DEFICIT_SETS = ("deficit",)  # teaching sets whose data lack something the reference has

st.header("Teach: how the kernels find an anomaly")
st.markdown(
    "- **The question.** Does the *data* (black) hold something the *reference* (grey) does not? SparKer fits "
    "f(x), the log-ratio of the two densities, as a sum of a few Gaussian kernels.\n"
    "- **The loss.** L = sum over reference of w (e^f - 1) minus sum over data of f. Raising f where data points "
    "sit lowers L; raising it where only reference points sit costs e^f. The best f is the true log-ratio, and "
    "t = -2 L measures how much better than f = 0 it fits.\n"
    "- **The competition.** Each point is shared among kernels by a SoftMax of their distances, so kernels "
    "spread out over different regions instead of piling up on one.\n"
    "- **The start.** Here the kernels start on random data rows, so you can watch them travel; SparKer's default "
    "(`init='excess'`, the other choice below) starts them where the data already outnumber the reference among "
    "their nearest neighbours, which matters when a signal lies far from where random rows fall.\n"
    "- **The annealing.** The width sigma starts wide (kernels see the whole sample) and shrinks (each kernel "
    "settles on a local region); the dotted circles have radius sigma.\n"
    "- **The null histogram** (on *Significance*) holds t from pseudo-experiments with no anomaly: t is only "
    "surprising if few of them reach it."
)

name = st.selectbox("Teaching set", TEACHING_SAMPLES, format_func=lambda n: f"{n}: {describe_sample(n)}")
c1, c2, c3, c4 = st.columns(4)
n_kernels = c1.slider("kernels", 1, 16, 4, key="teach_kernels")
sigma_final = c2.select_slider("final width sigma", [0.1, 0.2, 0.3, 0.5, 0.8], value=0.3, key="teach_sigma")
epochs = c3.select_slider("epochs", [50, 100, 200, 400], value=200, key="teach_epochs")
init = c4.selectbox("start", ["random", "excess"], key="teach_init",
                    format_func={"random": "random data rows", "excess": "where data outnumber the reference"}.get)
# Only the set with a real deficit allows a < 0 by default: elsewhere a kernel with a < 0 beside the excess would
# fence the excess kernel's share of the SoftMax, and read as a deficit that is not in the data.
deficits = st.checkbox("allow deficit kernels (a < 0)", value=name in DEFICIT_SETS, key=f"teach_deficits_{name}",
                       help="Off: positive_only=True, every kernel marks an excess. On, a kernel with a < 0 may sit "
                            "beside an excess kernel to bound its region (the SoftMax shares each point among "
                            "kernels) rather than to mark a deficit of the data.")
ds = cache.sample_dataset(name)
key = (name, n_kernels, sigma_final, epochs, init, deficits)


@st.cache_data(show_spinner=False, max_entries=32)
def _grid(name: str) -> tuple[np.ndarray, np.ndarray]:
    pool = np.concatenate([ds.reference, ds.data])
    low, high = np.percentile(pool, [0.5, 99.5], axis=0)
    pad = 0.1 * (high - low)
    return np.linspace(low[0] - pad[0], high[0] + pad[0], GRID), np.linspace(low[1] - pad[1], high[1] + pad[1], GRID)


def _train() -> None:
    model = SparKer(n_kernels=n_kernels, sigma_final=sigma_final, max_epochs=epochs, init=init,
                    positive_only=not deficits, seed=0)
    snaps = list(model.fit_iter(ds.reference, ds.data, every=SNAPSHOT_EVERY))
    st.session_state["teach"] = {"key": key, "model": model, "snapshots": snaps}
    st.session_state["teach_frame"] = len(snaps) - 1
    st.session_state["teach_playing"] = False


teach = st.session_state.get("teach")
if teach is None or teach["key"] != key:
    with st.spinner("training (a second or two)..."):
        _train()
    teach = st.session_state["teach"]
model, snaps = teach["model"], teach["snapshots"]
grid_x, grid_y = _grid(name)
points = np.stack(np.meshgrid(grid_x, grid_y), axis=-1).reshape(-1, 2)
shown_ref = ds.reference[display_subsample(ds.reference.shape[0], 1500, 1)]


def _step(delta: int) -> None:
    st.session_state["teach_playing"] = False
    st.session_state["teach_frame"] = int(np.clip(st.session_state["teach_frame"] + delta, 0, len(snaps) - 1))


def _play() -> None:
    if st.session_state["teach_frame"] >= len(snaps) - 1:
        st.session_state["teach_frame"] = 0
    st.session_state["teach_playing"] = not st.session_state["teach_playing"]


b1, b2, b3 = st.columns(3)
b1.button("Step back", on_click=_step, args=(-1,), width="stretch")
b2.button("Pause" if st.session_state["teach_playing"] else "Play", on_click=_play, width="stretch")
b3.button("Step forward", on_click=_step, args=(1,), width="stretch")


@st.fragment(run_every=PLAY_SECONDS if st.session_state["teach_playing"] else None)
def field() -> None:
    if st.session_state["teach_playing"]:
        st.session_state["teach_frame"] = min(st.session_state["teach_frame"] + 1, len(snaps) - 1)
        if st.session_state["teach_frame"] >= len(snaps) - 1:
            st.session_state["teach_playing"] = False
            st.rerun()
    st.slider("snapshot", 0, len(snaps) - 1, key="teach_frame")
    snap = snaps[st.session_state["teach_frame"]]
    f_grid = model.score_samples(points, snapshot=snap).reshape(GRID, GRID)
    fig = figures.field_figure(grid_x, grid_y, f_grid, shown_ref, ds.data, snap.centers, snap.amplitudes, snap.sigma,
                               title=f"epoch {snap.epoch}: sigma = {snap.sigma:.2f}, t = {snap.t:.1f}")
    st.plotly_chart(fig, key="teach_field")
    st.caption("Red: f > 0, more data than reference expects; blue: f < 0, fewer. Diamonds are kernel centres "
               "(size |a|). All 1,000 data points are drawn; the reference is subsampled to 1,500 of 5,000 for display.")


field()
