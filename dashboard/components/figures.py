"""Figures as pure functions: arrays and snapshots in, plotly figures out. No streamlit here."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from sparker_core import Snapshot, TestResult

REFERENCE_COLOR = "rgba(150, 150, 150, 0.35)"
DATA_COLOR = "rgba(31, 119, 180, 0.55)"
HIGHLIGHT_COLOR = "rgba(255, 127, 14, 0.95)"
EXCESS_COLOR = "#d62728"  # a > 0: more data than reference
DEFICIT_COLOR = "#1f4e9c"  # a < 0: fewer data than reference
# One sentence a line: plotly does not wrap annotations, and a long line runs past a narrow chart.
VIEW_NOTE = "2-D layout is only a view:<br>the statistics are computed in the full {d}-dimensional space."
SPLIT_CODES = {"reference": 0, "data": 1}  # customdata[0] of map points
WEBGL_MIN_POINTS = 2000  # maps with this many points or more are drawn with WebGL


def points_image(layout_reference: np.ndarray, layout_data: np.ndarray, width: int = 900, height: int = 620) -> dict:
    """Every point of the map rendered once as a PNG (matplotlib, Agg), for the live training view:
    the browser then redraws only the kernels each frame. Returns the plotly layout image (data URI
    and its x/y extent in layout coordinates)."""
    import base64
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    both = np.concatenate([layout_reference, layout_data])
    low, high = both.min(axis=0), both.max(axis=0)
    pad = 0.03 * (high - low + 1e-12)
    low, high = low - pad, high + pad
    fig = plt.figure(figsize=(width / 100, height / 100), dpi=100)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.scatter(layout_reference[:, 0], layout_reference[:, 1], s=2, c="#969696", alpha=0.35, linewidths=0)
    ax.scatter(layout_data[:, 0], layout_data[:, 1], s=3, c="#1f77b4", alpha=0.55, linewidths=0)
    ax.set_xlim(low[0], high[0])
    ax.set_ylim(low[1], high[1])
    ax.axis("off")
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", transparent=True)
    plt.close(fig)
    uri = "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()
    return dict(source=uri, xref="x", yref="y", x=float(low[0]), y=float(high[1]), sizex=float(high[0] - low[0]),
                sizey=float(high[1] - low[1]), sizing="stretch", layer="below", xanchor="left", yanchor="top")


def kernel_sizes(amplitudes: np.ndarray, clip: float) -> np.ndarray:
    """Marker size proportional to |a| (a silent kernel keeps a small visible marker)."""
    top = max(float(clip), float(np.abs(amplitudes).max(initial=0.0)), 1e-12)
    return 8.0 + 28.0 * np.abs(amplitudes) / top


def label_positions(centers_xy: np.ndarray, near: float = 0.04) -> list[str]:
    """Where each kernel's number goes: above its marker, or below / beside it when a kernel drawn
    earlier is within ``near`` of the map's extent (their labels would print over each other)."""
    extent = float(np.ptp(centers_xy, axis=0).max(initial=0.0)) or 1.0
    sides = ("top center", "bottom center", "middle right", "middle left")
    positions: list[str] = []
    for m in range(centers_xy.shape[0]):
        close = np.linalg.norm(centers_xy[:m] - centers_xy[m], axis=1) < near * extent  # (m,)
        taken = {positions[j] for j in np.flatnonzero(close)}
        positions.append(next((side for side in sides if side not in taken), sides[0]))
    return positions


def kernel_colors(amplitudes: np.ndarray) -> list[str]:
    return [EXCESS_COLOR if a >= 0 else DEFICIT_COLOR for a in amplitudes]


def map_figure(
    layout_reference: np.ndarray,
    layout_data: np.ndarray,
    shown_reference: np.ndarray,
    shown_data: np.ndarray,
    n_features: int,
    centers_xy: np.ndarray | None = None,
    amplitudes: np.ndarray | None = None,
    clip: float = 5.0,
    trails: list[np.ndarray] | None = None,
    highlight: np.ndarray | None = None,
    kernel_names: list[str] | None = None,
    title: str = "",
    height: int = 560,
    background: dict | None = None,
) -> go.Figure:
    """Reference and data points on the 2-D layout (WebGL), kernel centres on top.

    shown_reference, shown_data: row indices drawn (display subsample); centers_xy (M, 2) and
    amplitudes (M,) of the kernels; trails: past centre positions, oldest first, each (M, 2);
    highlight: data row indices drawn on top in orange (a kernel's members, a selection).
    Point customdata is [split code, row] so a lasso selection maps back to rows.
    background: a ``points_image`` drawn instead of the point traces (every point, as one image).
    """
    fig = go.Figure()
    # WebGL for many points; plain SVG below WEBGL_MIN_POINTS, which browsers redraw faster frame after
    # frame (a WebGL context drawn in software, as in headless or GPU-less browsers, is slow to refresh)
    scatter = go.Scattergl if shown_reference.size + shown_data.size >= WEBGL_MIN_POINTS else go.Scatter
    drawn = () if background is not None else (
        ("reference", layout_reference, shown_reference, REFERENCE_COLOR),
        ("data", layout_data, shown_data, DATA_COLOR),
    )
    for name, layout, rows, color in drawn:
        fig.add_trace(scatter(
            x=layout[rows, 0], y=layout[rows, 1], mode="markers", name=name,
            marker=dict(size=4, color=color),
            customdata=np.column_stack([np.full(rows.size, SPLIT_CODES[name]), rows]),
            hovertemplate=f"{name} row %{{customdata[1]}}<extra></extra>",
        ))
    if trails:
        path = np.stack(list(trails) + ([centers_xy] if centers_xy is not None else []))  # (L, M, 2)
        n_steps = path.shape[0]
        for m in range(path.shape[1]):
            fig.add_trace(go.Scatter(
                x=path[:, m, 0], y=path[:, m, 1], mode="lines+markers", showlegend=False, hoverinfo="skip",
                line=dict(width=1.5, color="rgba(60, 60, 60, 0.35)"),
                marker=dict(size=4, color="rgb(60, 60, 60)", opacity=list(np.linspace(0.05, 0.6, n_steps))),
                name=f"trail {m}",
            ))
    if centers_xy is not None:
        amplitudes = np.asarray(amplitudes, dtype=float)
        names = kernel_names or [f"kernel {m}" for m in range(centers_xy.shape[0])]
        fig.add_trace(go.Scatter(
            x=centers_xy[:, 0], y=centers_xy[:, 1], mode="markers+text", name="kernels",
            text=[str(m) for m in range(centers_xy.shape[0])], textposition=label_positions(centers_xy),
            textfont=dict(size=11), marker=dict(size=kernel_sizes(amplitudes, clip), color=kernel_colors(amplitudes),
                                                symbol="diamond", line=dict(width=1.5, color="black")),
            customdata=np.column_stack([np.arange(centers_xy.shape[0]), amplitudes]),
            hovertext=names, hovertemplate="%{hovertext}<br>a = %{customdata[1]:.2f}<extra></extra>",
        ))
    # members drawn over the kernel markers, which would otherwise hide those nearest the centre
    if highlight is not None and len(highlight):
        highlight = np.asarray(highlight, dtype=int)
        on_top = go.Scatter if highlight.size < WEBGL_MIN_POINTS else go.Scattergl  # WebGL draws under SVG markers
        fig.add_trace(on_top(
            x=layout_data[highlight, 0], y=layout_data[highlight, 1], mode="markers", name="selected data",
            marker=dict(size=7, color=HIGHLIGHT_COLOR, line=dict(width=0.5, color="black")),
            customdata=np.column_stack([np.full(highlight.size, SPLIT_CODES["data"]), highlight]),
            hovertemplate="data row %{customdata[1]}<extra></extra>",
        ))
    n_shown = shown_reference.size + shown_data.size
    n_total = layout_reference.shape[0] + layout_data.shape[0]
    note = VIEW_NOTE.format(d=n_features)
    if background is not None:
        note += f"<br>All {n_total:,} points drawn as one image while training."
    elif n_shown < n_total:
        note += f"<br>Showing {n_shown:,} of {n_total:,} points (a random subsample, for display only)."
    fig.update_layout(
        title=dict(text=title), height=height, margin=dict(l=10, r=10, t=40, b=24 + 16 * note.count("<br>")),
        legend=dict(orientation="h", y=1.02, x=0), dragmode="lasso", uirevision="map",
        xaxis=dict(showticklabels=False, title=None), yaxis=dict(showticklabels=False, title=None),
        annotations=[dict(text=note, xref="paper", yref="paper", x=0, y=0, yshift=-8, showarrow=False,
                          font=dict(size=11), xanchor="left", yanchor="top", align="left")],
    )
    if background is not None:
        fig.add_layout_image(background)
        fig.update_xaxes(range=[background["x"], background["x"] + background["sizex"]], showgrid=False, zeroline=False)
        fig.update_yaxes(range=[background["y"] - background["sizey"], background["y"]], showgrid=False, zeroline=False)
    return fig


def curves_figure(snapshots: list[Snapshot], max_epochs: int | None = None, height: int = 360) -> go.Figure:
    """t and sigma over the epochs of a fit (two panels sharing the epoch axis)."""
    epochs = [s.epoch for s in snapshots]
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.16,  # room for the second title
                        subplot_titles=("test statistic t = -2 L", "kernel width sigma"))
    fig.add_trace(go.Scatter(x=epochs, y=[s.t for s in snapshots], mode="lines", name="t"), row=1, col=1)
    fig.add_trace(go.Scatter(x=epochs, y=[s.sigma for s in snapshots], mode="lines", name="sigma"), row=2, col=1)
    if max_epochs:
        fig.update_xaxes(range=[0, max_epochs])
    fig.update_xaxes(title_text="epoch", row=2, col=1)
    fig.update_layout(height=height, showlegend=False, margin=dict(l=10, r=10, t=30, b=10), uirevision="curves")
    return fig


def null_histogram(result: TestResult, height: int = 380) -> go.Figure:
    """The null toys' t as a histogram, the observed t as a line, and the gamma tail fit (extrapolation)."""
    null = np.asarray(result.null_distribution, dtype=float)
    fig = go.Figure()
    fig.add_trace(go.Histogram(x=null, name=f"null toys ({null.size})", histnorm="probability density",
                               marker=dict(color="rgba(120, 120, 120, 0.7)"), nbinsx=max(10, min(60, null.size // 3))))
    high = max(float(null.max(initial=result.t_obs)), result.t_obs) * 1.1 + 1e-9
    low = min(float(null.min(initial=0.0)), 0.0)
    if result.tail_fit is not None:
        from scipy import stats

        grid = np.linspace(low, high, 300)
        fit = result.tail_fit
        fig.add_trace(go.Scatter(x=grid, y=stats.gamma.pdf(grid, fit.shape, loc=fit.loc, scale=fit.scale),
                                 mode="lines", name="gamma fit of the null (extrapolation)",
                                 line=dict(dash="dash", color="black")))
    fig.add_vline(x=result.t_obs, line=dict(color=EXCESS_COLOR, width=3))
    fig.add_annotation(x=result.t_obs, y=1, yref="paper", yanchor="bottom", text=f"observed t = {result.t_obs:.1f}",
                       showarrow=False, xanchor="right", font=dict(color=EXCESS_COLOR))  # above the plot, clear of ticks
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=40, b=10), xaxis_title="t",
                      yaxis_title="density", legend=dict(orientation="h", y=1.1), bargap=0.02,
                      xaxis=dict(range=[low, high]))
    return fig


def field_figure(
    grid_x: np.ndarray,
    grid_y: np.ndarray,
    f_grid: np.ndarray,
    reference_xy: np.ndarray,
    data_xy: np.ndarray,
    centers: np.ndarray,
    amplitudes: np.ndarray,
    sigma: float,
    clip: float = 5.0,
    title: str = "",
    height: int = 560,
) -> go.Figure:
    """A 2-D teaching set in data space: f(x) as a heat-map, the points, and each kernel's centre
    with a circle of radius sigma."""
    bound = max(float(np.abs(f_grid).max(initial=0.0)), 1e-3)
    fig = go.Figure(go.Heatmap(x=grid_x, y=grid_y, z=f_grid, colorscale="RdBu", reversescale=True,
                               zmin=-bound, zmax=bound, colorbar=dict(title="f(x)"), name="f(x)",
                               hovertemplate="f = %{z:.2f}<extra></extra>"))
    fig.add_trace(go.Scattergl(x=reference_xy[:, 0], y=reference_xy[:, 1], mode="markers", name="reference",
                               marker=dict(size=3, color="rgba(90, 90, 90, 0.35)")))
    fig.add_trace(go.Scattergl(x=data_xy[:, 0], y=data_xy[:, 1], mode="markers", name="data",
                               marker=dict(size=4, color="rgba(0, 0, 0, 0.8)")))
    fig.add_trace(go.Scatter(x=centers[:, 0], y=centers[:, 1], mode="markers+text", name="kernels",
                             text=[str(m) for m in range(centers.shape[0])], textposition="top center",
                             marker=dict(size=kernel_sizes(amplitudes, clip), color=kernel_colors(amplitudes),
                                         symbol="diamond", line=dict(width=1.5, color="black"))))
    for m, (cx, cy) in enumerate(centers):
        fig.add_shape(type="circle", x0=cx - sigma, x1=cx + sigma, y0=cy - sigma, y1=cy + sigma,
                      line=dict(color=kernel_colors(amplitudes[m:m + 1])[0], width=1, dash="dot"))
    fig.update_layout(title=dict(text=title), height=height, margin=dict(l=10, r=10, t=40, b=10),
                      # "domain": equal scales shrink the plot area instead of widening a range past the heat-map
                      xaxis=dict(range=[grid_x[0], grid_x[-1]], title="x1", constrain="domain"),
                      yaxis=dict(range=[grid_y[0], grid_y[-1]], title="x2", scaleanchor="x", constrain="domain"),
                      legend=dict(orientation="h", y=1.02, x=0), uirevision="field")
    return fig


def digit_image(values, scale: int = 6) -> np.ndarray:
    """A square grey image (0-255, uint8) from flat pixel values, enlarged ``scale`` times."""
    flat = np.asarray(values, dtype=float).ravel()
    side = int(round(np.sqrt(flat.size)))
    if side * side != flat.size:
        raise ValueError(f"`values` must hold a square image; got {flat.size} pixels.")
    top = flat.max() if flat.max() > 0 else 1.0
    image = (255 * (1 - flat / top)).reshape(side, side)  # dark ink on white
    return np.kron(image, np.ones((scale, scale))).astype(np.uint8)


def live_figure(map_fig: go.Figure, curves_fig: go.Figure, height: int = 560) -> go.Figure:
    """The map and the t / sigma curves in ONE figure: while training, the browser redraws one chart
    per frame instead of two. Traces keep their names (the map's "kernels" trace included)."""
    t_trace, sigma_trace = curves_fig.data[:2]
    fig = make_subplots(rows=2, cols=2, column_widths=[0.64, 0.36], specs=[[{"rowspan": 2}, {}], [None, {}]],
                        horizontal_spacing=0.05, vertical_spacing=0.12,
                        subplot_titles=("", "t = -2 L", "sigma"))
    for trace in map_fig.data:
        fig.add_trace(trace, row=1, col=1)
    fig.add_trace(t_trace, row=1, col=2)
    fig.add_trace(sigma_trace, row=2, col=2)
    fig.update_xaxes(showticklabels=False, showgrid=False, zeroline=False, range=map_fig.layout.xaxis.range, row=1, col=1)
    fig.update_yaxes(showticklabels=False, showgrid=False, zeroline=False, range=map_fig.layout.yaxis.range, row=1, col=1)
    for image in map_fig.layout.images:
        fig.add_layout_image(image)
    fig.update_xaxes(range=curves_fig.layout.xaxis.range, row=1, col=2)
    fig.update_xaxes(range=curves_fig.layout.xaxis.range, title_text="epoch", row=2, col=2)
    note = map_fig.layout.annotations[0]
    fig.add_annotation(text=note.text, xref="x domain", yref="paper", x=0, y=0, yshift=-8, showarrow=False,
                       font=dict(size=10), xanchor="left", yanchor="top", align="left")
    fig.update_layout(title=dict(text=map_fig.layout.title.text or ""), height=height,
                      margin=dict(l=10, r=10, t=60, b=map_fig.layout.margin.b), uirevision="live", legend=dict(orientation="h", y=1.06, x=0))
    return fig
