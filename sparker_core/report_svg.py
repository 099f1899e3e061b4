"""The report's charts as inline SVG strings: a histogram, a radial profile, a map, a pixel image.

Plain text, no plotting library: the report stays one file that any browser draws offline. Each
chart is an ``<svg class="plot" data-plot=KIND>`` whose marks carry ``class`` names the tests read.
"""

from __future__ import annotations

import html

import numpy as np

EXCESS_COLOR, REFERENCE_COLOR, DATA_COLOR, F_COLOR = "#d62728", "#9a9a9a", "#1f77b4", "#2ca02c"
WIDTH, HEIGHT, PAD = 640, 240, 40  # chart size and the margin for the axes, in pixels


def _open(kind: str, width: int = WIDTH, height: int = HEIGHT, title: str = "") -> str:
    caption = f"<title>{html.escape(title)}</title>" if title else ""
    return (f'<svg class="plot" data-plot="{kind}" width="{width}" '
            f'height="{height}" viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11">{caption}')


def _scale(values: np.ndarray, low: float, high: float, start: float, stop: float) -> np.ndarray:
    span = high - low if high > low else 1.0
    return start + (np.asarray(values, dtype=float) - low) / span * (stop - start)


def _text(x: float, y: float, text: str, anchor: str = "middle", color: str = "#333") -> str:
    return f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" fill="{color}">{html.escape(text)}</text>'


def _axes(x_label: str, y_label: str, x_range: tuple, y_range: tuple, width: int = WIDTH, height: int = HEIGHT) -> str:
    bottom, right = height - PAD, width - PAD
    return (f'<line x1="{PAD}" y1="{bottom}" x2="{right}" y2="{bottom}" stroke="#333"/>'
            f'<line x1="{PAD}" y1="{PAD / 2}" x2="{PAD}" y2="{bottom}" stroke="#333"/>'
            + _text(PAD, bottom + 14, f"{x_range[0]:.3g}") + _text(right, bottom + 14, f"{x_range[1]:.3g}")
            + _text((PAD + right) / 2, bottom + 28, x_label)
            + _text(PAD - 4, bottom, f"{y_range[0]:.3g}", "end") + _text(PAD - 4, PAD / 2 + 8, f"{y_range[1]:.3g}", "end")
            + f'<text x="12" y="{(PAD / 2 + bottom) / 2:.1f}" text-anchor="middle" fill="#333" '
              f'transform="rotate(-90 12 {(PAD / 2 + bottom) / 2:.1f})">{html.escape(y_label)}</text>')


def histogram_svg(null: np.ndarray, t_obs: float) -> str:
    """The null toys' t in bins, and the observed t as a red line."""
    null = null[np.isfinite(null)]
    high = max(float(null.max(initial=t_obs)), t_obs) * 1.05 + 1e-9
    low = min(float(null.min(initial=0.0)), 0.0)
    counts, edges = np.histogram(null, bins=max(10, min(50, null.size // 3)), range=(low, high))
    top = max(int(counts.max(initial=0)), 1)
    x = _scale(edges, low, high, PAD, WIDTH - PAD)
    y = _scale(counts, 0, top, HEIGHT - PAD, PAD / 2)
    bars = "".join(f'<rect class="bar" x="{x[i]:.1f}" y="{y[i]:.1f}" width="{max(x[i + 1] - x[i] - 1, 0.5):.1f}" '
                   f'height="{HEIGHT - PAD - y[i]:.1f}" fill="{REFERENCE_COLOR}"/>' for i in range(counts.size) if counts[i])
    tx = float(_scale([t_obs], low, high, PAD, WIDTH - PAD)[0])
    line = (f'<line class="t-obs" x1="{tx:.1f}" y1="{PAD / 2}" x2="{tx:.1f}" y2="{HEIGHT - PAD}" stroke="{EXCESS_COLOR}" '
            f'stroke-width="3"/>' + _text(tx - 4, PAD / 2 + 10, f"observed t = {t_obs:.1f}", "end", EXCESS_COLOR))
    return (_open("null-histogram", title=f"{null.size} null toys") + _axes("t", "toys", (low, high), (0, top))
            + bars + line + "</svg>")


def profile_svg(edges: np.ndarray, n_data: np.ndarray, expected: np.ndarray, f_mean: np.ndarray, title: str = "") -> str:
    """Data counts (bars) and expected reference counts (line) per shell of distance; mean f(x) in green
    on its own scale (right axis)."""
    width, height = 520, 200
    top = max(float(np.max(n_data, initial=0)), float(np.max(expected, initial=0)), 1.0)
    x = _scale(edges, edges[0], edges[-1], PAD, width - PAD)
    y = _scale(n_data, 0, top, height - PAD, PAD / 2)
    mid = (x[:-1] + x[1:]) / 2
    bars = "".join(f'<rect class="bar" x="{x[i] + 1:.1f}" y="{y[i]:.1f}" width="{x[i + 1] - x[i] - 2:.1f}" '
                   f'height="{height - PAD - y[i]:.1f}" fill="{DATA_COLOR}" fill-opacity="0.7"/>' for i in range(n_data.size))
    ey = _scale(expected, 0, top, height - PAD, PAD / 2)
    line = (f'<polyline class="expected" fill="none" stroke="{REFERENCE_COLOR}" stroke-width="2.5" points="'
            + " ".join(f"{a:.1f},{b:.1f}" for a, b in zip(mid, ey)) + '"/>')
    finite = np.isfinite(f_mean)
    f_line = ""
    if finite.any():
        bound = max(float(np.abs(f_mean[finite]).max()), 1e-9)
        fy = _scale(f_mean[finite], -bound, bound, height - PAD, PAD / 2)
        f_line = (f'<polyline class="f-mean" fill="none" stroke="{F_COLOR}" stroke-dasharray="4 3" stroke-width="2" points="'
                  + " ".join(f"{a:.1f},{b:.1f}" for a, b in zip(mid[finite], fy)) + '"/>'
                  + _text(width - PAD + 4, PAD / 2 + 8, f"f {bound:+.2g}", "start", F_COLOR)
                  + _text(width - PAD + 4, height - PAD, f"f {-bound:+.2g}", "start", F_COLOR))
    legend = (_text(width - PAD, 12, "bars: data   grey line: expected from the reference   green dashes: mean f(x)",
                    "end"))
    return (_open("radial-profile", width, height, title)
            + _axes("distance to the centre (kernel widths sigma)", "points", (edges[0], edges[-1]), (0, top), width, height)
            + bars + line + f_line + legend + "</svg>")


def _color(score: float) -> str:
    """Red (0: the neighbourhood is lost on the map) to blue (1: kept)."""
    s = min(max(score, 0.0), 1.0)
    return f"rgb({int(215 - 180 * s)},{int(48 + 72 * s)},{int(39 + 141 * s)})"


def map_svg(layout: np.ndarray, split: np.ndarray, scores: np.ndarray | None, centers: list) -> str:
    """Points of the layout (reference grey, data blue; coloured by ``scores`` when given, reference
    drawn smaller), and each (kernel, xy) of ``centers`` as a labelled diamond."""
    size = 620
    low, high = layout.min(axis=0), layout.max(axis=0)
    x = _scale(layout[:, 0], low[0], high[0], 12, size - 12)
    y = _scale(layout[:, 1], low[1], high[1], size - 12, 12)
    marks = []
    for i in np.argsort(split, kind="stable"):  # reference first, data on top
        fill = _color(scores[i]) if scores is not None else (REFERENCE_COLOR if split[i] == 0 else DATA_COLOR)
        radius = 1.6 if split[i] == 0 else 2.4
        marks.append(f'<circle class="point" cx="{x[i]:.1f}" cy="{y[i]:.1f}" r="{radius}" fill="{fill}" '
                     f'fill-opacity="{0.5 if split[i] == 0 else 0.85}"/>')
    for kernel, xy in centers:
        cx = float(_scale([xy[0]], low[0], high[0], 12, size - 12)[0])
        cy = float(_scale([xy[1]], low[1], high[1], size - 12, 12)[0])
        marks.append(f'<path class="kernel" d="M{cx:.1f},{cy - 8:.1f} L{cx + 8:.1f},{cy:.1f} L{cx:.1f},{cy + 8:.1f} '
                     f'L{cx - 8:.1f},{cy:.1f} Z" fill="{EXCESS_COLOR}" stroke="black"/>' + _text(cx, cy - 11, str(kernel)))
    legend = ("colour: map honesty of each point, red 0 (neighbourhood lost) to blue 1 (kept); reference points smaller"
              if scores is not None else "grey: reference, blue: data")
    return _open("map", size, size + 20, "the map") + "".join(marks) + _text(12, size + 14, legend, "start") + "</svg>"


def image_svg(pixels: np.ndarray, cell: int = 5) -> str:
    """A square grey image (dark ink on white) from flat pixel values, one rect per pixel."""
    flat = np.asarray(pixels, dtype=float).ravel()
    side = int(round(np.sqrt(flat.size)))
    if side * side != flat.size:
        return ""
    top = flat.max() if flat.max() > 0 else 1.0
    grey = (255 * (1 - flat / top)).astype(int)
    rects = "".join(f'<rect x="{(i % side) * cell}" y="{(i // side) * cell}" width="{cell}" height="{cell}" '
                    f'fill="rgb({g},{g},{g})"/>' for i, g in enumerate(grey) if g < 250)
    return (f'<svg class="image" width="{side * cell}" height="{side * cell}" '
            f'style="border:1px solid #ccc;display:inline-block">{rects}</svg>')
