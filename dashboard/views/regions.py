"""Regions: one card per active kernel, excesses first, each by its local Z; members on the map; lasso."""

from __future__ import annotations

import numpy as np
import streamlit as st

from dashboard import state
from dashboard.components.honesty_figures import color_by_honesty, profile_figure
from dashboard.components.members import kernel_of_rows, member_rows, selected_rows
from dashboard.views import common
from sparker_core import radial_profiles, region_preservation, working_scale

N_TOP_POINTS = 200

st.header("Regions")
run = state.active_run()
if run is None:
    st.info("Train a run first (*Train and watch*).")
    st.stop()
if run.status.busy:
    st.info("The run is still training; the regions below are those of its latest snapshot.")
ds = common.dataset_with_layout()
kernels = run.projector.kernels()
active = kernels[kernels["active"]].reset_index(drop=True)
scattered = dict(zip(kernels["kernel"], run.projector.scattered(ds)))
data_scores = run.projector.scores(ds, "data")
# the map's honesty and each region's radial profile, both computed in the full (working) space
honesty, reference_honesty, data_honesty = common.map_honesty_of(ds, run)
region_honesty = dict(zip(kernels["kernel"], region_preservation(
    np.concatenate([reference_honesty, data_honesty]), kernels, ds.reference.shape[0])))
profiles = radial_profiles(
    ds.reference, ds.data, np.stack([np.asarray(c) for c in kernels["center"]]), float(kernels["sigma"].iloc[0]),
    working_scale(ds.reference, run.params.get("preprocessing", "none")), run.projector.scores(ds, "reference"),
    data_scores) if len(kernels) else None

selected = state.selected_kernel()
highlight = None
if selected is not None:
    highlight = member_rows(kernels, selected)
if highlight is None and state.lasso_rows() is not None:
    highlight = state.lasso_rows()[1]

def _on_select() -> None:
    """A lasso/box/click selection on the map: list those points (customdata = [split code, row])."""
    event = st.session_state.get("regions_map") or {}
    points = event.get("selection", {}).get("points", [])
    rows = selected_rows(points)
    state.set_lasso_rows(rows)
    if rows is not None:
        state.set_selected_kernel(None)


def _honesty_and_profile(kernel: int) -> None:
    """A card's map honesty (mean over its drawn members) and its radial profile in the full space."""
    score = region_honesty.get(kernel, np.nan)
    st.caption(f"map honesty {score:.2f}: the share of its members' {honesty.k} nearest full-space neighbours kept "
               "among their nearest on the map" if np.isfinite(score) else "map honesty: no member is drawn on the map")
    index = int(np.flatnonzero(kernels["kernel"].to_numpy() == kernel)[0])
    st.plotly_chart(profile_figure(profiles.edges, profiles.n_data[index], profiles.expected[index],
                                   profiles.f_mean[index]), key=f"profile_{run.run_id}_{kernel}")


def _show_members(kernel: int) -> None:
    state.set_selected_kernel(kernel)
    state.set_lasso_rows(None)


map_col, cards_col = st.columns([3, 2])
with map_col:
    title = f"members of kernel {selected} highlighted" if highlight is not None and selected is not None else \
        "lasso points to list them with their scores"
    by_honesty = st.toggle("Colour the points by map honesty", key="regions_honesty_colour",
                           help="Each point's share of its full-space neighbours that stay its neighbours on the map: "
                                "where it is low, the map tears the neighbourhood apart.")
    figure = common.run_map(ds, run, highlight=highlight, title=title)
    if by_honesty:
        shown_ref, shown_data = common.shown_rows(ds)
        color_by_honesty(figure, reference_honesty[shown_ref], data_honesty[shown_data])
    st.plotly_chart(figure, key="regions_map", on_select=_on_select, selection_mode=("lasso", "box", "points"))
    st.caption(f"Map honesty {honesty.mean:.2f} (mean share of each drawn point's {honesty.k} nearest full-space "
               f"neighbours kept on the map), trustworthiness {honesty.trustworthiness:.3f}; layout: {ds.layout_note}.")
    lasso = state.lasso_rows()
    if lasso is not None:
        ref_rows, data_rows = lasso
        st.markdown(f"**Selection:** {data_rows.size} data and {ref_rows.size} reference points; "
                    f"mean f(x) over the data points = {data_scores[data_rows].mean() if data_rows.size else float('nan'):.3f}")
        st.dataframe(common.points_table(ds, data_rows, data_scores).sort_values("f(x)", ascending=False),
                     hide_index=True, width="stretch", height=260)
        st.button("Clear selection", on_click=state.set_lasso_rows, args=(None,), key="clear_selection")

CARDS_HEIGHT = 620  # the cards scroll in their own box, so the map beside them stays in view

with cards_col:
    width = f" at the final width sigma = {run.final_width:.3g}" if run.final_width is not None else ""
    st.markdown(f"**{len(active)} active kernels of {len(kernels)}**{width}: excess regions first (more data than the "
                "reference predicts), then deficits, each ranked by its local Z (delta_t: the drop in t without the kernel). "
                "Local Z is pre-trial: the kernel was placed using these very points, so only the "
                "calibrated p-value on *Significance* is an honest measure of the whole detection.")
    if len(run.final_widths) > 1:
        st.caption("Several final widths were fitted; after the null toys these are the regions of the width with the "
                   "smallest p-value (before them, of the middle width).")
    if active.empty:
        st.info("No kernel is active (|a| below the threshold): nothing stands out.")
    cards = st.container(height=CARDS_HEIGHT, border=False) if len(active) > 1 else st.container()
    for rank, row in enumerate(active.itertuples()):
        with cards, st.container(border=True):
            st.markdown(f"**#{rank + 1} kernel {row.kernel}** ({row.kind}, a = {row.amplitude:.2f}, delta_t = {row.delta_t:.1f})")
            st.markdown(f"{row.n_data:.0f} data members vs {row.expected:.1f} expected from the reference "
                        f"(excess {row.excess:+.1f}, local Z {row.significance:+.1f})")
            if ds.truth is not None and len(row.members_data):
                share = ds.truth[np.asarray(row.members_data, dtype=int)].mean()
                st.caption(f"ground truth: {share:.0%} of the data members are planted rare rows")
            if scattered.get(row.kernel, False):
                st.warning("Members are scattered on the map: this region is compact in the full space, "
                           "but the 2-D view does not keep it together.")
            common.show_exemplars(ds, row.exemplars_nearest, limit=3)
            _honesty_and_profile(int(row.kernel))
            st.button("Show members on the map", key=f"show_{run.run_id}_{row.kernel}", on_click=_show_members,
                      args=(int(row.kernel),), disabled=len(row.members_data) == 0)

st.subheader("Highest-scoring data points")
st.caption("f(x) is the fitted log-ratio of data to reference density at the point; click a column to sort.")
top = np.argsort(-data_scores)[:N_TOP_POINTS]
table = common.points_table(ds, top, data_scores)
table.insert(2, "kernel", kernel_of_rows(kernels, ds.data.shape[0])[top])
st.dataframe(table, hide_index=True, width="stretch", height=360)
