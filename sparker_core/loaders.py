"""The file loaders: files of embeddings in, plain arrays and metadata out, clear one-line errors.

Nothing here unpickles: .npy/.npz are read with allow_pickle=False and .pt/.pth only with
torch.load(weights_only=True).
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .columns import _names, _shown, first_non_number, identifier_like, row_place
from .data import check_same_width, sha256_file
from .readers import MAX_EXPANDED_BYTES, MAX_FILE_BYTES, SUPPORTED_EXTENSIONS, _TABLES, _checked, _locate, _read, _where


@dataclass(frozen=True, eq=False)
class EmbeddingTable:
    """One file of embeddings: the vectors and, row-aligned, everything else the file holds."""

    vectors: np.ndarray  # (n_samples, n_features) float32 or float64, finite
    metadata: pd.DataFrame  # n_samples rows (text, image path, id, ...), index 0..n-1; may have no columns
    path: str  # the file as given
    sha256: str  # hex digest of the file's bytes
    columns: tuple | None = None  # the file's columns that form the vectors, in order; None for a bare array
    notes: tuple = ()  # one-line notes on choices the loader made (identifier columns left out); also warned


@dataclass(frozen=True, eq=False)
class EmbeddingPair:
    """What a test needs: reference and data vectors, their metadata, and the files they came from."""

    reference: np.ndarray  # (n_reference, n_features)
    data: np.ndarray  # (n_data, n_features)
    reference_metadata: pd.DataFrame  # n_reference rows, index 0..n_reference-1
    data_metadata: pd.DataFrame  # n_data rows, index 0..n_data-1
    files: dict  # {path: sha256} of every file read
    columns: tuple | None = None  # the columns that form the vectors, in order; None when read from bare arrays
    notes: tuple = ()  # one-line notes on choices the loader made (identifier columns left out); also warned


def load_embeddings(path, key=None, vector_column=None, max_bytes=None, max_expanded_bytes=None,
                    name="file", *, features=None, ignore=None) -> EmbeddingTable:
    """Read one file of embeddings, chosen by its extension, and validate it.

    .npy; .npz, .h5/.hdf5 and .pt/.pth (a tensor or a dict of tensors), where ``key`` names the
    array (it may be omitted when there is exactly one; other formats ignore it); .csv/.tsv with a
    header row and .parquet, where the numeric columns form the vector whatever their names and
    the other columns are metadata, or ``vector_column`` names the one column holding whole vectors
    (a parquet list column, found by itself when there is only one, or text like "[0.1, 0.2]").

    Tables (.csv, .tsv, .parquet) also take ``features``, the list of columns that form the
    vectors (in that order; every other column is metadata), or ``ignore``, a list of columns
    left out of the vectors (they stay in the metadata); naming a column the file lacks is an
    error. Without ``features`` the columns are inferred, and never silently changed:

    - a CSV's first line is its header, so a first line holding numbers is data, not names, and
      is refused (add a header) rather than lost; the one exception is a column named by its own
      position, as in ``0,1,2,...`` (pandas' default names).
    - a CSV column of numbers with a few cells that are not numbers (a typo) is an error naming
      the column, the line and the cell, not a column quietly moved to the metadata.
    - a column of distinct integers in increasing or decreasing order (a row id or index) is left
      out of the vectors and kept as metadata, with a note; name it in ``features`` to use it.
      When every numeric column looks so, they are used, with a note. Notes are warned
      (``UserWarning``) and kept in ``EmbeddingTable.notes``.

    ``EmbeddingTable.columns`` names the columns used (None for a bare array).
    ``max_bytes`` bounds the file size and ``max_expanded_bytes`` the memory the contents take
    once loaded: the unpacked arrays or table and their float64 (float32) copy, counted from
    the file's headers before anything large is allocated (defaults ``MAX_FILE_BYTES`` and
    ``MAX_EXPANDED_BYTES``). ``name`` is how error messages call the file ("reference", "data").

    Every problem raises one one-line ``ValueError`` that names the file.
    """
    table = _load(path, key, vector_column, max_bytes, max_expanded_bytes, name, features, ignore)
    _warn(table.notes)
    return table


def load_pair(reference, data=None, label_column=None, reference_value=None, data_value=None, key=None,
              vector_column=None, max_bytes=None, max_expanded_bytes=None, *, features=None,
              ignore=None) -> EmbeddingPair:
    """Reference and data embeddings, from two files or from one file split by a label column.

    Either ``data`` is a second file, or ``label_column`` names a column of ``reference`` whose
    value ``reference_value`` marks reference rows and ``data_value`` data rows (compared as
    strings, so 0 and "0" match); rows with other values are dropped, and the label column is
    neither part of the vectors nor of the metadata. Other arguments as for ``load_embeddings``.

    ``features`` and ``ignore`` apply to the table when the other file is an array.
    Two tables must give the vectors from the same columns: the data's columns are put in the
    reference's order, and a column used in one file but not in the other is an error naming
    it (with the first cell that is not a number). ``EmbeddingPair.columns`` names the columns
    used and ``EmbeddingPair.notes`` the notes of both files.
    """
    if (data is None) == (label_column is None):
        raise ValueError(
            "give either `data` (a second file) or `label_column` with `reference_value` and `data_value` "
            f"(to split `reference`); got data={data!r} and label_column={label_column!r}."
        )
    options = dict(key=key, vector_column=vector_column, max_bytes=max_bytes, max_expanded_bytes=max_expanded_bytes,
                   features=features, ignore=ignore)
    if data is not None:
        tables = [os.path.splitext(os.fspath(p))[1].lower() in _TABLES for p in (reference, data)]
        if any(tables) and not all(tables):  # one table and one array: columns are chosen in the table only
            array = {k: None for k in ("features", "ignore")}
            ref = _load(reference, name="reference", **{**options, **({} if tables[0] else array)})
            dat = _load(data, name="data", **{**options, **({} if tables[1] else array)})
        else:
            ref = _load(reference, name="reference", **options)
            dat = _load(data, name="data", **options)
        data_vectors, columns = _aligned(ref, dat)
        try:
            check_same_width(data_vectors, ref.vectors)
        except ValueError as err:
            raise ValueError(_locate(_locate(str(err), "data", dat.path), "reference", ref.path)) from None
        notes = ref.notes + dat.notes
        _warn(notes)
        return EmbeddingPair(ref.vectors, data_vectors, ref.metadata, dat.metadata,
                             {ref.path: ref.sha256, dat.path: dat.sha256}, columns, notes)

    if reference_value is None or data_value is None:
        raise ValueError(
            f"`label_column` needs both `reference_value` and `data_value`; got {reference_value!r} and {data_value!r}."
        )
    if str(reference_value) == str(data_value):
        raise ValueError(f"`reference_value` and `data_value` must differ; got {reference_value!r} and {data_value!r}.")
    path = os.fspath(reference)
    where = _where("reference", path)
    content = _read(path, key, vector_column, max_bytes, max_expanded_bytes, "reference", keep=(label_column,),
                    features=_column_list(features, "features"), ignore=_column_list(ignore, "ignore"))
    values, metadata = content.values, content.metadata
    if label_column not in metadata.columns:  # a bare array; table readers check their own columns
        raise ValueError(f"{where} has no column {label_column!r} (`label_column`); columns: {_names(metadata.columns)}.")
    labels = metadata[label_column].astype(str).to_numpy()
    metadata = metadata.drop(columns=[label_column])
    sides = []
    for role, value in (("reference", reference_value), ("data", data_value)):
        rows = labels == str(value)
        if not rows.any():
            found = _names(sorted(set(labels))[:10], quote=True)
            raise ValueError(
                f"{where} has no {role} rows: no value of `label_column` {label_column!r} equals "
                f"`{role}_value` {str(value)!r}; values found: {found}."
            )
        vectors = _checked(values[rows], f"{role} rows", path, content.columns, np.flatnonzero(rows))
        sides.append((vectors, metadata[rows].reset_index(drop=True)))
    (ref_vectors, ref_meta), (data_vectors, data_meta) = sides
    _warn(content.notes)
    return EmbeddingPair(ref_vectors, data_vectors, ref_meta, data_meta, {path: sha256_file(path)},
                         content.columns, content.notes)


def _load(path, key, vector_column, max_bytes, max_expanded_bytes, name, features, ignore) -> EmbeddingTable:
    """load_embeddings without warning its notes (load_pair warns those of both files at once)."""
    path = os.fspath(path)
    content = _read(path, key, vector_column, max_bytes, max_expanded_bytes, name, keep=(),
                    features=_column_list(features, "features"), ignore=_column_list(ignore, "ignore"))
    vectors = _checked(content.values, name, path, content.columns)
    return EmbeddingTable(vectors, content.metadata, path, sha256_file(path), content.columns, content.notes)


def _warn(notes) -> None:
    for note in notes:
        warnings.warn(note, UserWarning, stacklevel=3)


def _column_list(names, argument: str) -> tuple | None:
    """``features`` / ``ignore`` as a tuple of column names (None when not given)."""
    if names is None:
        return None
    if isinstance(names, (str, bytes)) or not all(isinstance(n, str) for n in names):
        raise ValueError(f"`{argument}` must be a list of column names; got {names!r}.")
    if not names:
        raise ValueError(f"`{argument}` must name at least one column; got an empty list.")
    twice = sorted({n for n in names if list(names).count(n) > 1})
    if twice:
        raise ValueError(f"`{argument}` names {_names(twice, quote=True)} more than once.")
    return tuple(names)


def _aligned(ref: EmbeddingTable, dat: EmbeddingTable):
    """The data vectors with their columns in the reference's order, and the columns used."""
    if ref.columns is None or dat.columns is None:
        return dat.vectors, ref.columns if dat.columns is None else dat.columns
    if ref.columns == dat.columns:
        return dat.vectors, ref.columns
    if set(ref.columns) == set(dat.columns):
        return dat.vectors[:, [dat.columns.index(c) for c in ref.columns]], ref.columns
    for used, other, (role, other_role) in ((ref, dat, ("reference", "data")), (dat, ref, ("data", "reference"))):
        missing = [c for c in used.columns if c not in other.columns]
        if missing:
            break
    column = missing[0]
    used_where, other_where = _where(role, used.path), _where(other_role, other.path)
    if column not in other.metadata.columns:
        raise ValueError(
            f"{used_where} uses column {column!r} in the vectors, but {other_where} has no such column; "
            "choose the columns with `features` or `ignore`."
        )
    cells = other.metadata[column]
    bad = first_non_number(cells)
    if bad is not None:
        row, value = bad
        raise ValueError(
            f"column {column!r} is numeric in {used_where} but not in {other_where}, whose {row_place(other.path, row)} "
            f"holds {_shown(value)}; fix that cell, or leave the column out with `ignore`."
        )
    reason = (
        "as a row identifier (distinct ordered integers)" if identifier_like(cells) else f"(its type is {cells.dtype})"
    )
    raise ValueError(
        f"{used_where} uses column {column!r} in the vectors, but {other_where} leaves it out {reason}; "
        "choose the columns with `features` or `ignore`."
    )
