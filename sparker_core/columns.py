"""From a table to vectors: which columns of a CSV/TSV/parquet table form the vectors, and the rest as metadata.

The readers in ``sparker_core.readers`` parse a file into a table; this module chooses its columns
(numeric columns, ``features`` / ``ignore``, a ``vector_column`` of whole vectors, a parquet list
column), leaves row-id columns out with a note, and raises a one-line ``ValueError`` naming the
file, the column and the cell for anything it cannot use. Interface: ``split_frame``,
``list_column`` + ``list_vectors``, ``check_header``, and for messages about cells
``first_non_number``, ``identifier_like``, ``row_place`` and ``cell_place``.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .data import array_place


@dataclass(frozen=True)
class _Request:
    """What a reader is asked for: the file, how messages name it, and the user's choices."""

    path: str
    where: str  # "`reference` (path)": how messages name the file
    key: str | None
    vector_column: str | None
    max_expanded_bytes: int
    keep: tuple  # columns that stay metadata even when numeric (a label column)
    features: tuple | None = None  # the columns to use as the vectors, in order (`features`)
    ignore: tuple = ()  # columns left out of the vectors (`ignore`)


@dataclass(frozen=True)
class _Content:
    """What a reader returns: the raw values and, for a table, its metadata, the columns used and notes."""

    values: np.ndarray
    metadata: pd.DataFrame | None = None
    columns: tuple | None = None  # table columns that form the vectors
    notes: tuple = ()


def _one_line(text) -> str:
    return " ".join(str(text).split())


def _names(names, quote: bool = False) -> str:
    shown = [repr(str(n)) if quote else str(n) for n in names]
    return ", ".join(shown) if shown else "(none)"


def _shown(value) -> str:
    """A cell as messages quote it: one line, at most 40 characters."""
    text = repr(str(value))
    return _one_line(text if len(text) <= 40 else text[:37] + "...")


def check_header(request: _Request, fields: list) -> None:
    """A first line holding numbers is data: refuse it rather than lose that row as column names.

    The one exception is a column's own position, ``0,1,2,...`` (pandas writes it for unnamed
    columns): a number anywhere else in the first line makes it data.
    """
    stray = [(i, f.strip()) for i, f in enumerate(fields) if _is_number(f) and f.strip() != str(i)]
    if not stray:
        return
    found = "is numbers" if all(_is_number(f) for f in fields) else f"holds the number {stray[0][1]}"
    raise ValueError(
        f"{request.where} has no header row: its first line ({_one_line(','.join(fields))[:60]}) {found}, "
        "which would be data read as column names; add a header line such as 0,1,2,..."
    )


def row_place(path: str, row: int) -> str:
    """Where row ``row`` (0-based, after the header) of a table is: its line in a CSV, else its row."""
    if not path.lower().endswith((".csv", ".tsv")):
        return f"row {row}"
    sep = "\t" if path.lower().endswith(".tsv") else ","
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(handle, delimiter=sep)
            records = (reader.line_num for fields in reader if any(f.strip() for f in fields))
            next(records, None)  # the header
            for index, line in enumerate(records):
                if index == row:
                    return f"line {line}"
    except (csv.Error, UnicodeDecodeError):  # pandas read it; only the line number is lost
        pass
    return f"row {row + 1} after the header"


def cell_place(path: str, columns, values, rows=None):
    """A ``place(row, column)`` for ``check_points``: where a cell of ``values`` lies in the file.

    A CSV/TSV cell is named by its line in the file (the header is line 1) and a parquet cell by
    its 0-based row; a table column by its name (``columns``, the columns that form the vectors),
    or by its name and the 0-based element when one column holds whole vectors; an array file's
    cell by its 0-based indices. ``rows`` maps the rows of ``values`` to the file's rows when
    some were dropped (a split by a label column).
    """

    def place(row: int, column: int) -> str:
        row = row if rows is None else int(rows[row])
        if columns is None:
            return array_place(row, column)
        line = row_place(path, row) if path.lower().endswith((".csv", ".tsv")) else f"row {row} (0-based)"
        if len(columns) == np.shape(values)[1]:
            return f"{line}, column {_shown(columns[column])}"
        return f"{line}, column {_shown(columns[0])}, element {column} (0-based)"

    return place


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def first_non_number(cells: pd.Series):
    """(row, value) of the first present cell that is not a number, or None."""
    if pd.api.types.is_numeric_dtype(cells) and not pd.api.types.is_bool_dtype(cells):
        return None
    parsed = pd.to_numeric(cells.astype(object), errors="coerce")
    bad = (cells.notna() & parsed.isna()).to_numpy()
    if not bad.any():
        return None
    row = int(np.argmax(bad))
    return row, cells.iloc[row]


def identifier_like(cells: pd.Series) -> bool:
    """Distinct integers in increasing or decreasing order: a row id or index, not a measurement."""
    return (
        cells.dtype.kind in "iu" and len(cells) >= 3 and cells.is_unique
        and (cells.is_monotonic_increasing or cells.is_monotonic_decreasing)
    )


def _numeric_columns(frame: pd.DataFrame, request: _Request, text: bool) -> tuple[list, dict]:
    """The numeric columns of ``frame`` (in order) and float64 versions of text columns that are all numbers.

    In a CSV (``text``), a column of numbers with cells that are not numbers is an error, not metadata.
    """
    columns, parsed = [], {}
    for column in frame.columns:
        if column in request.keep or column in request.ignore:
            continue
        cells = frame[column]
        if pd.api.types.is_bool_dtype(cells):
            continue
        if pd.api.types.is_numeric_dtype(cells):
            columns.append(column)
            continue
        if not text or not cells.notna().any():
            continue
        bad = first_non_number(cells)
        if bad is None:  # integers too large for int64 come as Python ints
            parsed[column] = pd.to_numeric(cells.astype(object), errors="coerce").astype(np.float64)
            columns.append(column)
            continue
        n_present = int(cells.notna().sum())
        n_bad = int((cells.notna() & pd.to_numeric(cells.astype(object), errors="coerce").isna()).sum())
        if n_bad * 2 <= n_present:
            row, value = bad
            raise ValueError(
                f"{request.where} column {column!r} holds numbers but for {n_bad} cell{'s' * (n_bad > 1)}, the first "
                f"on {row_place(request.path, row)}: {_shown(value)}; fix the file, or leave the column out with `ignore`."
            )
    return columns, parsed


def split_frame(frame: pd.DataFrame, request: _Request, text: bool = False) -> _Content:
    """Vectors from the numeric columns (or from ``features`` / ``vector_column``), metadata from the rest.

    ``text``: the table was parsed from text (CSV), where a typo turns a column of numbers into text.
    """
    check_kept(request, frame.columns)
    if len(frame) == 0:
        raise ValueError(f"{request.where} is empty: it has columns but no rows.")
    check_named(request, frame.columns)
    notes = ()
    parsed = {}
    if request.vector_column is not None:
        if request.vector_column not in frame.columns:
            raise ValueError(
                f"{request.where} has no column {request.vector_column!r} (`vector_column`); "
                f"columns: {_names(frame.columns)}."
            )
        values = _text_vectors(frame[request.vector_column], request)
        columns = [request.vector_column]
    else:
        if request.features is not None:
            columns = list(request.features)
            for column in columns:
                parsed.update(_chosen_column(frame[column], column, request))
        else:
            columns, parsed = _numeric_columns(frame, request, text)
            if not columns:
                raise ValueError(
                    f"{request.where} has no numeric column to use as the vectors; columns: {_names(frame.columns)}."
                )
            columns, notes = _without_identifiers(frame, columns, request)
        kinds = [parsed[c].dtype if c in parsed else frame[c].dtype for c in columns]
        all_float32 = all(kind == np.float32 for kind in kinds)
        chosen = pd.DataFrame({i: parsed[c] if c in parsed else frame[c] for i, c in enumerate(columns)})
        values = chosen.to_numpy(dtype=np.float32 if all_float32 else np.float64, na_value=np.nan)
    metadata = frame.drop(columns=columns)
    return _Content(values, metadata.reset_index(drop=isinstance(metadata.index, pd.RangeIndex)),
                    tuple(str(c) for c in columns), notes)


def _chosen_column(cells: pd.Series, column, request: _Request) -> dict:
    """A column named in ``features``: numbers (a float64 version of text numbers), else an error."""
    if pd.api.types.is_numeric_dtype(cells) and not pd.api.types.is_bool_dtype(cells):
        return {}
    bad = first_non_number(cells) if not pd.api.types.is_bool_dtype(cells) else (0, cells.iloc[0])
    if bad is None:
        return {column: pd.to_numeric(cells.astype(object), errors="coerce").astype(np.float64)}
    row, value = bad
    raise ValueError(
        f"{request.where} column {column!r} (`features`) must hold numbers; "
        f"its {row_place(request.path, row)} holds {_shown(value)}."
    )


def _without_identifiers(frame: pd.DataFrame, columns: list, request: _Request) -> tuple[list, tuple]:
    """Leave row-id columns out of the vectors, with a note; keep them if nothing else is numeric."""
    ids = [c for c in columns if identifier_like(frame[c])]
    if not ids:
        return columns, ()
    many = len(ids) > 1
    what = (f"column{'s' * many} {_names(ids, quote=True)} (distinct ordered integers, like a row id)")
    if len(ids) == len(columns):
        return columns, (
            f"{request.where}: {what} {'are' if many else 'is'} the only numeric column{'s' * many}, so "
            f"{'they form' if many else 'it forms'} the vectors; choose the columns with `features` or `ignore`.",
        )
    return [c for c in columns if c not in ids], (
        f"{request.where}: {what} {'are' if many else 'is'} left out of the vectors and kept as metadata; "
        f"name {'them' if many else 'it'} in `features` to use {'them' if many else 'it'}.",
    )


def check_named(request: _Request, columns) -> None:
    """Every column named in ``features`` and ``ignore`` is one of ``columns``."""
    for argument, names in (("features", request.features or ()), ("ignore", request.ignore)):
        unknown = [n for n in names if n not in columns]
        if unknown:
            raise ValueError(
                f"{request.where} has no column {_names(unknown, quote=True)} (`{argument}`); "
                f"columns: {_names(columns)}."
            )


def check_kept(request: _Request, columns) -> None:
    for column in request.keep:
        if column not in columns:
            raise ValueError(f"{request.where} has no column {column!r} (`label_column`); columns: {_names(columns)}.")


def _text_vectors(column: pd.Series, request: _Request) -> np.ndarray:
    """Vectors written as text, "[0.1, 0.2]" or "0.1 0.2", one per row."""
    parts = column.astype(str).str.strip().str.strip("[]").str.replace(",", " ").str.split()
    _check_lengths(parts.str.len().to_numpy(), request, request.vector_column)
    try:
        return np.array(parts.tolist(), dtype=np.float64)
    except ValueError:
        raise ValueError(
            f"{request.where} column {request.vector_column!r} must hold vectors of numbers such as "
            "'[0.1, 0.2]' or '0.1 0.2'; some entries are not numbers."
        ) from None


def _check_lengths(lengths: np.ndarray, request: _Request, name: str) -> None:
    """Every row's vector has as many values as the first."""
    if (lengths != lengths[0]).any():
        row = int(np.argmax(lengths != lengths[0]))
        raise ValueError(
            f"{request.where} column {name!r} holds vectors of different lengths: "
            f"row 0 has {lengths[0]} values, row {row} has {lengths[row]}."
        )


def is_list(kind) -> bool:
    import pyarrow as pa

    return pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_fixed_size_list(kind)


def list_column(table, request: _Request) -> str | None:
    """The parquet list column that holds the vectors: ``vector_column`` when it is a list column, else
    the only list column (not the label column, not ``ignore``); None for a table read column by column."""
    check_kept(request, table.schema.names)
    names = table.schema.names
    lists = [f.name for f in table.schema if is_list(f.type) and f.name not in request.keep and f.name not in request.ignore]
    chosen = request.vector_column
    if chosen is None and request.features is None and len(lists) > 1:
        raise ValueError(
            f"{request.where} has {len(lists)} list columns ({_names(lists)}); choose the vectors with `vector_column`."
        )
    if chosen is None and request.features is None and lists:
        chosen = lists[0]
    if chosen is None or chosen not in names or not is_list(table.schema.field(chosen).type):
        return None
    check_named(request, names)
    return chosen


def list_vectors(column, request: _Request, name: str) -> np.ndarray:
    """A list<number> column as an array of shape (n_rows, list length)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    n_rows = len(column)
    if n_rows == 0:
        raise ValueError(f"{request.where} is empty: it has columns but no rows.")
    value_type = column.type.value_type
    if not (pa.types.is_integer(value_type) or pa.types.is_floating(value_type)):
        raise ValueError(f"{request.where} column {name!r} must hold lists of numbers; got lists of {value_type}.")
    if column.null_count:
        raise ValueError(f"{request.where} column {name!r} has {column.null_count} rows with no vector.")
    lengths = pc.list_value_length(column).to_numpy()
    _check_lengths(lengths, request, name)
    flat = column.flatten().to_numpy(zero_copy_only=False)  # nulls inside a vector become NaN
    return flat.reshape(n_rows, int(lengths[0]))

