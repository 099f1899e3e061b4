"""Figures of the map's honesty: points coloured by their neighbourhood preservation, and a kernel's
radial profile. Pure functions (arrays in, plotly figures out); no streamlit here."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from .figures import DATA_COLOR, REFERENCE_COLOR

# red where the map loses a point's full-space neighbourhood (0), blue where it keeps it (1)
HONESTY_SCALE = [[0.0, "#d7301f"], [0.5, "#fdd49e"], [1.0, "#2166ac"]]


def color_by_honesty(fig: go.Figure, reference_scores: np.ndarray, data_scores: np.ndarray) -> go.Figure:
    """The map's "reference" and "data" traces coloured by each drawn point's score (same order as drawn)."""
    for trace in fig.data:
        scores = {"reference": reference_scores, "data": data_scores}.get(trace.name)
        if scores is None:
            continue
        trace.marker.update(color=np.asarray(scores, dtype=float), colorscale=HONESTY_SCALE, cmin=0.0, cmax=1.0,
                            showscale=trace.name == "data",
                            colorbar=dict(title="map<br>honesty", thickness=12, len=0.5) if trace.name == "data" else None)
    return fig


def profile_figure(edges: np.ndarray, n_data: np.ndarray, expected: np.ndarray, f_mean: np.ndarray,
                   height: int = 220) -> go.Figure:
    """Data counts (bars) and expected reference counts (line) per shell of full-space distance to a
    kernel's centre, with the mean f(x) on the right axis."""
    mid = (edges[:-1] + edges[1:]) / 2
    fig = go.Figure()
    fig.add_trace(go.Bar(x=mid, y=n_data, width=np.diff(edges) * 0.9, name="data", marker=dict(color=DATA_COLOR)))
    fig.add_trace(go.Scatter(x=mid, y=expected, mode="lines+markers", name="expected (reference)",
                             line=dict(color=REFERENCE_COLOR.replace("0.35", "1"), width=2.5)))
    fig.add_trace(go.Scatter(x=mid, y=f_mean, mode="lines", name="mean f(x)", yaxis="y2",
                             line=dict(color="#2ca02c", dash="dash")))
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=10, b=10), bargap=0.05,
                      legend=dict(orientation="h", y=1.15, x=0, font=dict(size=10)),
                      xaxis=dict(title="distance to the centre (sigma)", range=[edges[0], edges[-1]]),
                      yaxis=dict(title="points"), yaxis2=dict(title="f", overlaying="y", side="right", showgrid=False))
    return fig
