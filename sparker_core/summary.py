"""The summary ``sparker run`` and ``sparker show`` print: the result, the regions in ``explain``'s
ranking (excesses first by their local Z, deficits after), and exemplars of the top excess
regions shown as what the data are.

Exemplars are shown, in this order of preference, as
    images       when a metadata column holds square images (e.g. the digits sample's ``image``) or the
                 data rows themselves are square non-negative pixels (8x8 digits, 28x28 MNIST): the
                 rows nearest the region's centre as ASCII art, or as a PNG grid with ``--png FILE``
    text         when the metadata have text: that of the rows with the highest score f(x)
    coordinates  else: the region's centre and the rows nearest to it, by row number and metadata
"""

from __future__ import annotations

import struct
import textwrap
import zlib
from pathlib import Path

import numpy as np
import pandas as pd

from .bundle import format_zscore

N_REGIONS = 3  # excess regions shown with exemplars
ASCII_RAMP = " .:-=+*#%@"  # light to dark: a pixel's value, scaled to the images' range
MAX_ART_ROWS = 16  # taller images are averaged over square blocks, so one stays a screenful
MIN_IMAGE_SIDE = 8  # rows of fewer features are never taken for images (a 4-d point is not a 2x2 picture)
PNG_CELL = 64  # pixels a PNG grid gives each image side, at least (an integer zoom)


def print_summary(result: dict, kernels: pd.DataFrame, data_meta: pd.DataFrame | None, n_exemplars: int = 3,
                  data: np.ndarray | None = None, png: str | None = None) -> None:
    """The result, then the regions in ``explain``'s ranking, with exemplars of the top ``N_REGIONS``
    excess regions. result: the manifest's ``result``; data: the data vectors (n_data, n_features),
    for images when no metadata column holds them; png: a file for a PNG grid of the exemplar images."""
    _print_result(result)
    images = check_png(data_meta, data) if png is not None else image_rows(data_meta, data)
    view = "images" if images is not None else "text" if text_columns(data_meta) else "coordinates"
    print(f"\nregions, excesses first, each by its local Z ({int(kernels['active'].sum())} of {len(kernels)} active; "
          f"exemplars of the top {N_REGIONS} excesses as {view}):")
    print(f"{'kernel':>6} {'kind':>8} {'ampl.':>6} {'n_data':>7} {'expected':>8} {'local Z':>7} {'delta_t':>8}")
    top = []
    for row in kernels.itertuples():
        print(f"{row.kernel:>6} {row.kind:>8} {row.amplitude:>6.2f} {row.n_data:>7.0f} {row.expected:>8.1f} "
              f"{row.significance:>7.1f} {row.delta_t:>8.1f}")
        if row.kind != "excess" or len(top) == N_REGIONS:
            continue
        top.append(row)
        for line in _exemplar_lines(view, row, data_meta, images, n_exemplars):
            print(f"{'':>8}{line}")
    if png is not None:
        _save_png(png, images, top)


def _exemplar_lines(view: str, row, meta: pd.DataFrame | None, images: np.ndarray | None, n: int) -> list[str]:
    """The lines under a region's row: its exemplars as images, text or coordinates."""
    nearest = [int(i) for i in row.exemplars_nearest][:n]
    if view == "images":
        header = f"data rows {', '.join(map(str, nearest))} (nearest the centre):"
        return [header, *ascii_art(images[nearest], images.max())] if nearest else []
    if view == "text":
        return [f"- {describe(meta, int(index))}" for index in list(row.exemplars_top_score)[:n]]
    if meta is None or not len(meta.columns):
        return [f"centre {_coordinates(row.center)}; nearest data rows {', '.join(map(str, nearest))}"]
    return [f"centre {_coordinates(row.center)}; nearest:", *(f"- data row {i}: {describe(meta, i)}" for i in nearest)]


def _save_png(png: str, images: np.ndarray, top: list) -> None:
    rows = [images[[int(i) for i in row.exemplars_nearest]] for row in top if len(row.exemplars_nearest)]
    if not rows:
        print(f"\nno excess region has members: nothing written to {png}")
        return
    write_png(png, png_grid(rows, images.max()))
    print(f"\nexemplar images of the top {len(rows)} excess regions (one row each) written to {png}")


def check_png(meta: pd.DataFrame | None, data: np.ndarray | None) -> np.ndarray:
    """The rows as images (``image_rows``) for ``--png``; ValueError when they are not images."""
    images = image_rows(meta, data)
    if images is None:
        raise ValueError(f"`--png` needs image rows (square non-negative pixels, at least {MIN_IMAGE_SIDE}x{MIN_IMAGE_SIDE}, "
                         "or a metadata column of them); these data have none.")
    return images


def _print_result(result: dict) -> None:
    low, high = result["pvalue_ci"]
    scales = result.get("scales") or []
    what = f"min-p statistic over {len(scales)} width(s)" if scales else "t_obs"
    what += " and the companion test" if result.get("companion") else ""
    z = format_zscore(result["zscore"], bound=_norm_isf(low) if low > 0 else None)
    print(f"{what} = {result['t_obs']:.2f}   p = {result['pvalue']:.4g} (95% CI {low:.3g}-{high:.3g}, "
          f"{result['n_toys']} toys, {result['method']})   Z = {z}")
    for j, scale in enumerate(scales):
        shown = "   <- shown below (smallest p)" if j == result.get("scale") else ""
        print(f"  {scale['label']}: t = {scale['t_obs']:.2f}, p = {scale['pvalue']:.4g}{shown}")
    companion = result.get("companion")
    if companion:
        print(f"  {companion['label']}: t = {companion['t_obs']:.2f}, p = {companion['pvalue']:.4g}   "
              "(in the p-value; its kernels are not shown)")
    ext = result.get("extrapolated")
    if ext:
        print(f"extrapolated (gamma fit of the null, KS p = {ext['ks_pvalue']:.2f}): p ~ {ext['pvalue']:.3g}, "
              f"Z ~ {format_zscore(ext['zscore'])}")


def _norm_isf(p: float) -> float:
    from scipy import stats

    return float(stats.norm.isf(p))


# ------------------------------------------------------------------------------------ what the rows are
def text_columns(meta: pd.DataFrame | None) -> list:
    """Metadata columns whose first value is a string."""
    if meta is None or not len(meta):
        return []
    return [c for c in meta.columns if isinstance(meta[c].iloc[0], str)]


def image_rows(meta: pd.DataFrame | None, data: np.ndarray | None) -> np.ndarray | None:
    """The data rows as square images, array of shape (n_data, side, side), or None: a metadata column of
    equal-length square arrays first, else the vectors when they are square and look like pixels
    (non-negative, and whole numbers or at most 1)."""
    for column in ([] if meta is None or not len(meta) else meta.columns):
        first = meta[column].iloc[0]
        if isinstance(first, (list, np.ndarray)) and _side(np.size(first)):
            try:
                stacked = np.stack([np.asarray(v, dtype=np.float64) for v in meta[column]])
            except (ValueError, TypeError):  # ragged or not numbers: not an image column
                continue
            if stacked.ndim == 2 and np.isfinite(stacked).all():
                side = _side(stacked.shape[1])
                return stacked.reshape(-1, side, side)
    if data is None or data.ndim != 2 or not _side(data.shape[1]) or not data.size:
        return None
    pixels = data.min() >= 0 and (data.max() <= 1 or np.array_equal(data, np.round(data)))
    return data.astype(np.float64).reshape(data.shape[0], *(2 * (_side(data.shape[1]),))) if pixels else None


def _side(n: int) -> int:
    """The side of a square image of n pixels, or 0 when n is not such a square."""
    side = int(round(np.sqrt(n)))
    return side if side * side == n and side >= MIN_IMAGE_SIDE else 0


def describe(meta: pd.DataFrame | None, row: int, width: int = 90) -> str:
    """What a data point is, from its metadata: text-like columns first, else the first columns."""
    if meta is None or not len(meta.columns):
        return f"data row {row}"
    record = meta.iloc[row]
    texts = [c for c in meta.columns if isinstance(record[c], str)]
    texts.sort(key=lambda c: len(record[c]))  # shortest text first (a title before its sentence)
    shown = texts[:2] if texts else list(meta.columns[:3])
    parts = [f"{record[c]}" if c in texts else f"{c}={_value(record[c])}" for c in shown]
    return textwrap.shorten(" | ".join(parts), width=width, placeholder="...")


def _value(value) -> str:
    return f"{value:.4g}" if isinstance(value, (float, np.floating)) else str(value)


def _coordinates(center, shown: int = 4) -> str:
    center = np.asarray(center, dtype=float)
    more = f", ... ({center.size} features)" if center.size > shown else ""
    return f"({', '.join(f'{v:.3g}' for v in center[:shown])}{more})"


# ------------------------------------------------------------------------------------ images
def _levels(images: np.ndarray, vmax: float, n_levels: int) -> np.ndarray:
    """Images (n, h, w) as integers 0..n_levels-1, 0 for 0 and n_levels-1 for ``vmax``."""
    scaled = images / vmax if vmax > 0 else np.zeros_like(images)
    return np.clip(np.round(scaled * (n_levels - 1)), 0, n_levels - 1).astype(np.int64)


def ascii_art(images: np.ndarray, vmax: float) -> list[str]:
    """Images (n, side, side) side by side as lines of text, two characters a pixel (a character is about
    twice as tall as wide); images taller than MAX_ART_ROWS are averaged over square blocks first."""
    n, side, _ = images.shape
    block = -(-side // MAX_ART_ROWS)
    pad = -side % block
    small = np.pad(images, ((0, 0), (0, pad), (0, pad)))
    small = small.reshape(n, (side + pad) // block, block, (side + pad) // block, block).mean(axis=(2, 4))
    ramp = np.array([c * 2 for c in ASCII_RAMP])
    tiles = ramp[_levels(small, vmax, len(ASCII_RAMP))]  # (n, rows, cols) of two-character strings
    return ["  ".join("".join(tile[r]) for tile in tiles) for r in range(tiles.shape[1])]


def png_grid(rows: list[np.ndarray], vmax: float, gap: int = 4) -> np.ndarray:
    """One row of images per region (each an array (k, side, side)) as one 8-bit grey picture, dark ink on
    white, each image zoomed to at least PNG_CELL pixels a side: array of shape (height, width), uint8."""
    side = rows[0].shape[1]
    zoom = max(1, -(-PNG_CELL // side))
    cell = side * zoom
    n_cols = max(len(r) for r in rows)
    grid = np.full((gap + len(rows) * (cell + gap), gap + n_cols * (cell + gap)), 160, dtype=np.uint8)
    for i, images in enumerate(rows):
        ink = 255 - _levels(images, vmax, 256).astype(np.uint8)  # (k, side, side)
        for j, image in enumerate(ink):
            top, left = gap + i * (cell + gap), gap + j * (cell + gap)
            grid[top:top + cell, left:left + cell] = np.kron(image, np.ones((zoom, zoom), dtype=np.uint8))
    return grid


def write_png(path, grid: np.ndarray) -> None:
    """An 8-bit greyscale PNG of ``grid`` (height, width), uint8, written with zlib alone."""
    def chunk(tag: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + tag + body + struct.pack(">I", zlib.crc32(tag + body) & 0xFFFFFFFF)

    height, width = grid.shape
    raw = b"".join(b"\x00" + row.tobytes() for row in np.ascontiguousarray(grid, dtype=np.uint8))
    Path(path).write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
                           + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))
