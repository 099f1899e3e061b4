"""Input validation at the public edge: arrays in, clear one-line errors out (the file loaders are in ``loaders``)."""

from __future__ import annotations

import hashlib

import numpy as np

from ._validation import fail
from .exceptions import NotFittedError  # noqa: F401  (importable from here too)


def check_points(values, name: str, min_rows: int = 2, place=None) -> np.ndarray:
    """Return ``values`` as a finite float64 array of shape (n_samples, n_features), or raise.

    Accepts anything ``numpy.asarray`` understands, and torch tensors. A NaN or infinite entry is
    an error that counts them and locates the first in row-major order, so the user can find it:
    ``place(row, column)`` names that cell from its 0-based indices in the array as passed; by
    default "row 12, column 5 (0-based indices)", and the file loaders name the file's line and column.
    """
    if hasattr(values, "detach") and hasattr(values, "cpu"):  # a torch tensor
        values = values.detach().cpu().numpy()
    try:
        array = np.asarray(values)
    except (ValueError, TypeError) as err:  # ragged nested sequences
        fail(name, "a numeric array", None, TypeError, got=f"{type(values).__name__} ({err})")
    if array.dtype.kind not in "iuf":
        fail(name, "a numeric array", None, TypeError, got=f"dtype {array.dtype}")
    if array.ndim != 2:
        fail(name, "a 2-D array of shape (n_samples, n_features)", None, got=f"{array.ndim}-D array of shape {array.shape}")
    if array.shape[1] < 1:
        fail(name, "an array with at least 1 feature", None, got=f"shape {array.shape}")
    if array.shape[0] < min_rows:
        raise ValueError(f"`{name}` must have at least {min_rows} rows; got {array.shape[0]}.")
    if array.dtype.kind != "f":
        array = array.astype(np.float64)  # float32 input stays float32: no full-size copy
    n_bad = _count_non_finite(array)
    if n_bad:
        row, column = _first_non_finite(array)
        raise ValueError(
            f"`{name}` contains NaN or infinite values ({n_bad} entries). "
            f"The first is {float(array[row, column])} at {(place or array_place)(row, column)}."
        )
    return array


_ROWS = 65536  # rows per chunk for full-array passes, so no full-size temporary is made


def _count_non_finite(array: np.ndarray) -> int:
    return sum(int((~np.isfinite(array[s : s + _ROWS])).sum()) for s in range(0, array.shape[0], _ROWS))


def _first_non_finite(array: np.ndarray) -> tuple[int, int]:
    """(row, column) of the first non-finite entry in row-major order; the array must hold one."""
    chunks = ((s, ~np.isfinite(array[s : s + _ROWS])) for s in range(0, array.shape[0], _ROWS))
    start, bad = next((s, bad) for s, bad in chunks if bad.any())
    row, column = np.unravel_index(int(np.argmax(bad)), bad.shape)
    return start + int(row), int(column)


def array_place(row: int, column: int) -> str:
    """A cell of an array, as messages name it: its 0-based row and column indices."""
    return f"row {row}, column {column} (0-based indices)"


def column_stats(array: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-column mean and standard deviation in float64, in row chunks: (d,), (d,)."""
    total = np.zeros(array.shape[1])
    for s in range(0, array.shape[0], _ROWS):
        total += array[s : s + _ROWS].sum(0, dtype=np.float64)
    mean = total / array.shape[0]
    sq = np.zeros(array.shape[1])
    for s in range(0, array.shape[0], _ROWS):
        sq += ((array[s : s + _ROWS] - mean) ** 2).sum(0)
    return mean, np.sqrt(sq / array.shape[0])


def working_space(reference: np.ndarray, preprocessing: str) -> tuple[np.ndarray, np.ndarray]:
    """(mean, scale) of the fit's working space, (x - mean) / scale: the reference's column means, and
    its column standard deviations (1 where one is 0) under ``preprocessing="standardize"``, else ones."""
    mean, std = column_stats(reference)
    return mean, (np.where(std > 0, std, 1.0) if preprocessing == "standardize" else np.ones_like(std))


def check_same_width(data: np.ndarray, reference: np.ndarray) -> None:
    if data.shape[1] != reference.shape[1]:
        raise ValueError(
            "`data` and `reference` must have the same number of features; "
            f"got {data.shape[1]} and {reference.shape[1]}."
        )


def check_weights(values, name: str, n_rows: int) -> np.ndarray | None:
    """Per-point weights: None, or a finite non-negative array of shape (n_rows,) with a positive sum."""
    if values is None:
        return None
    array = np.asarray(values)
    if array.dtype.kind not in "iuf" or array.shape != (n_rows,):
        fail(name, f"a numeric array of shape ({n_rows},)", None, got=f"dtype {array.dtype} and shape {array.shape}")
    array = array.astype(np.float64)
    if not np.isfinite(array).all() or (array < 0).any() or array.sum() <= 0:
        got = f"{int((~np.isfinite(array)).sum())} non-finite and {int((array < 0).sum())} negative entries, sum {array.sum():g}"
        fail(name, "finite and non-negative with a positive sum", None, got=got)
    return array


def sha256_file(path) -> str:
    """Hex sha256 of a file's bytes, read in blocks (``hashlib.file_digest``)."""
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()
