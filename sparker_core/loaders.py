"""The file loaders: files of embeddings in, plain arrays and metadata out, clear one-line errors.

Nothing here unpickles: .npy/.npz are read with allow_pickle=False and .pt/.pth only with
torch.load(weights_only=True).
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import math
import os
import re
import zipfile
from dataclasses import dataclass
from pickle import UnpicklingError  # the exception type only, to catch it: nothing here unpickles

import numpy as np
import pandas as pd

from .data import check_points, check_same_width


def _half_physical_memory() -> int:
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // 2
    except (AttributeError, ValueError, OSError):  # no sysconf (Windows) or no such name
        return 8 * 2**30


MAX_FILE_BYTES = _half_physical_memory()  # default `max_bytes`: the largest file read
MAX_EXPANDED_BYTES = MAX_FILE_BYTES  # default `max_expanded_bytes`: the largest unpacked array / table


@dataclass(frozen=True, eq=False)
class EmbeddingTable:
    """One file of embeddings: the vectors and, row-aligned, everything else the file holds."""

    vectors: np.ndarray  # (n_samples, n_features) float32 or float64, finite
    metadata: pd.DataFrame  # n_samples rows (text, image path, id, ...), index 0..n-1; may have no columns
    path: str  # the file as given
    sha256: str  # hex digest of the file's bytes


@dataclass(frozen=True, eq=False)
class EmbeddingPair:
    """What a test needs: reference and data vectors, their metadata, and the files they came from."""

    reference: np.ndarray  # (n_reference, n_features)
    data: np.ndarray  # (n_data, n_features)
    reference_metadata: pd.DataFrame  # n_reference rows, index 0..n_reference-1
    data_metadata: pd.DataFrame  # n_data rows, index 0..n_data-1
    files: dict  # {path: sha256} of every file read


@dataclass(frozen=True)
class _Request:
    path: str
    where: str  # "`reference` (path)": how messages name the file
    key: str | None
    vector_column: str | None
    max_expanded_bytes: int
    keep: tuple  # columns that stay metadata even when numeric (a label column)


def load_embeddings(path, key=None, vector_column=None, max_bytes=None, max_expanded_bytes=None,
                    name="file") -> EmbeddingTable:
    """Read one file of embeddings, chosen by its extension, and validate it.

    .npy; .npz, .h5/.hdf5 and .pt/.pth (a tensor or a dict of tensors), where ``key`` names the
    array (it may be omitted when there is exactly one; other formats ignore it); .csv/.tsv with a
    header row and .parquet, where the numeric columns form the vector whatever their names and
    the other columns are metadata, or ``vector_column`` names the one column holding whole vectors
    (a parquet list column, found by itself when there is only one, or text like "[0.1, 0.2]").
    ``max_bytes`` bounds the file size and ``max_expanded_bytes`` the unpacked size of .npz,
    .parquet and .h5 contents (defaults ``MAX_FILE_BYTES`` and ``MAX_EXPANDED_BYTES``).
    ``name`` is how error messages call the file ("reference", "data").

    Every problem raises one one-line ``ValueError`` (``TypeError`` for non-numeric values)
    that names the file.
    """
    path = os.fspath(path)
    values, metadata = _read(path, key, vector_column, max_bytes, max_expanded_bytes, name, keep=())
    return EmbeddingTable(_checked(values, name, path), metadata, path, _sha256(path))


def load_pair(reference, data=None, label_column=None, reference_value=None, data_value=None, key=None,
              vector_column=None, max_bytes=None, max_expanded_bytes=None) -> EmbeddingPair:
    """Reference and data embeddings, from two files or from one file split by a label column.

    Either ``data`` is a second file, or ``label_column`` names a column of ``reference`` whose
    value ``reference_value`` marks reference rows and ``data_value`` data rows (compared as
    strings, so 0 and "0" match); rows with other values are dropped, and the label column is
    neither part of the vectors nor of the metadata. Other arguments as for ``load_embeddings``.
    """
    if (data is None) == (label_column is None):
        raise ValueError(
            "give either `data` (a second file) or `label_column` with `reference_value` and `data_value` "
            f"(to split `reference`); got data={data!r} and label_column={label_column!r}."
        )
    options = dict(key=key, vector_column=vector_column, max_bytes=max_bytes, max_expanded_bytes=max_expanded_bytes)
    if data is not None:
        ref = load_embeddings(reference, name="reference", **options)
        dat = load_embeddings(data, name="data", **options)
        try:
            check_same_width(dat.vectors, ref.vectors)
        except ValueError as err:
            raise ValueError(_locate(_locate(str(err), "data", dat.path), "reference", ref.path)) from None
        return EmbeddingPair(ref.vectors, dat.vectors, ref.metadata, dat.metadata, {ref.path: ref.sha256, dat.path: dat.sha256})

    if reference_value is None or data_value is None:
        raise ValueError(
            f"`label_column` needs both `reference_value` and `data_value`; got {reference_value!r} and {data_value!r}."
        )
    if str(reference_value) == str(data_value):
        raise ValueError(f"`reference_value` and `data_value` must differ; got {reference_value!r} and {data_value!r}.")
    path = os.fspath(reference)
    where = _where("reference", path)
    values, metadata = _read(path, key, vector_column, max_bytes, max_expanded_bytes, "reference", keep=(label_column,))
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
        sides.append((_checked(values[rows], f"{role} rows", path), metadata[rows].reset_index(drop=True)))
    (ref_vectors, ref_meta), (data_vectors, data_meta) = sides
    return EmbeddingPair(ref_vectors, data_vectors, ref_meta, data_meta, {path: _sha256(path)})


# ------------------------------------------------------------------------------------ helpers
def _where(name: str, path: str) -> str:
    return f"`{name}` ({path})"


def _locate(message: str, name: str, path: str) -> str:
    """Put the file after the first "`name`" of a message from check_points / check_same_width."""
    return message.replace(f"`{name}`", _where(name, path), 1)


def _one_line(text) -> str:
    return " ".join(str(text).split())


def _names(names, quote: bool = False) -> str:
    shown = [repr(str(n)) if quote else str(n) for n in names]
    return ", ".join(shown) if shown else "(none)"


def _checked(values, name: str, path: str) -> np.ndarray:
    """check_points with the file in its message; float16 becomes float32, float32/float64 stay."""
    try:
        array = check_points(values, name)
    except (ValueError, TypeError) as err:
        raise type(err)(_locate(str(err), name, path)) from None
    if array.dtype not in (np.float32, np.float64):
        array = array.astype(np.float32 if array.dtype.itemsize < 4 else np.float64)
    return array


def _sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _read(path, key, vector_column, max_bytes, max_expanded_bytes, name, keep) -> tuple[np.ndarray, pd.DataFrame]:
    """The file's raw values and metadata (index 0..n-1), after the checks common to all formats."""
    where = _where(name, path)
    max_bytes = MAX_FILE_BYTES if max_bytes is None else max_bytes
    max_expanded_bytes = MAX_EXPANDED_BYTES if max_expanded_bytes is None else max_expanded_bytes
    if not os.path.exists(path):
        raise ValueError(f"{where} does not exist.")
    if not os.path.isfile(path):
        raise ValueError(f"{where} is not a file.")
    extension = os.path.splitext(path)[1].lower()
    if extension not in _READERS:
        raise ValueError(
            f"{where} has an unsupported extension {extension or '(none)'!r}; supported: {', '.join(_READERS)}."
        )
    size = os.path.getsize(path)
    if size > max_bytes:
        raise ValueError(f"{where} is too large: {size:,} bytes, over the limit of {max_bytes:,} bytes (`max_bytes`).")
    if size == 0:
        raise ValueError(f"{where} is empty (0 bytes).")
    request = _Request(path, where, key, vector_column, max_expanded_bytes, tuple(keep))
    try:
        values, metadata = _READERS[extension](request)
    except OSError as err:  # permissions, I/O; format readers turn their own parse errors into messages
        raise ValueError(f"{where} could not be read: {_one_line(err.strerror or err)}.") from None
    if metadata is None:
        metadata = pd.DataFrame(index=pd.RangeIndex(len(values) if np.ndim(values) else 0))
    return values, metadata


def _choose(request: _Request, available: list, what: str) -> str:
    """The name of the array to read: ``key``, or the only one there is."""
    if request.key is not None:
        if str(request.key) not in available:
            raise ValueError(f"{request.where} has no {what} {request.key!r} (`key`); available: {_names(available)}.")
        return str(request.key)
    if len(available) != 1:
        raise ValueError(
            f"{request.where} holds {len(available)} {what}s ({_names(available)}); choose one with `key`."
        )
    return available[0]


def _too_large(request: _Request, n_bytes: int, what: str) -> None:
    if n_bytes > request.max_expanded_bytes:
        raise ValueError(
            f"{request.where}: {what} would take {n_bytes:,} bytes unpacked, over the limit of "
            f"{request.max_expanded_bytes:,} bytes (`max_expanded_bytes`)."
        )


# ------------------------------------------------------------------------------------ .npy / .npz
def _npy_header(handle, request: _Request, kind: str, n_bytes: int):
    """(shape, dtype) from a .npy header; refuses object arrays and arrays larger than their bytes."""
    try:
        version = np.lib.format.read_magic(handle)
        read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, _, dtype = read(handle)  # version 3.0 differs from 2.0 only by utf-8 field names
    except (ValueError, EOFError) as err:
        raise ValueError(f"{request.where} is not a valid {kind} file ({_one_line(err)}).") from None
    if dtype.hasobject:
        raise ValueError(
            f"{request.where} holds Python objects; only numeric arrays are loaded (pickle is never allowed)."
        )
    if math.prod(shape) * dtype.itemsize > n_bytes - handle.tell():  # checked before numpy allocates it
        raise ValueError(f"{request.where} is not a valid {kind} file: its header declares more data than it holds.")
    return shape, dtype


def _read_npy(request: _Request):
    with open(request.path, "rb") as handle:
        _npy_header(handle, request, ".npy", os.path.getsize(request.path))
    try:
        return np.load(request.path, allow_pickle=False), None
    except (ValueError, EOFError) as err:
        raise ValueError(f"{request.where} is not a valid .npy file ({_one_line(err)}).") from None


def _read_npz(request: _Request):
    if not zipfile.is_zipfile(request.path):
        raise ValueError(f"{request.where} is not a valid .npz file (not a zip archive).")
    try:
        with zipfile.ZipFile(request.path) as archive:
            members = archive.infolist()  # the zip directory: sizes are known before anything is unpacked
            _too_large(request, sum(member.file_size for member in members), "its arrays")
            by_key = {m.filename[:-4] if m.filename.endswith(".npy") else m.filename: m for m in members}
            member = by_key[_choose(request, list(by_key), "array")]
            with archive.open(member) as handle:
                _npy_header(handle, request, ".npz", member.file_size)
            with archive.open(member) as handle:
                try:
                    return np.lib.format.read_array(handle, allow_pickle=False), None
                except (ValueError, EOFError) as err:
                    raise ValueError(f"{request.where} is not a valid .npz file ({_one_line(err)}).") from None
    except (zipfile.BadZipFile, NotImplementedError) as err:  # broken archive, CRC error, unknown compression
        raise ValueError(f"{request.where} is not a valid .npz file ({_one_line(err)}).") from None


# ------------------------------------------------------------------------------------ tables
_RAGGED = re.compile(r"Expected (\d+) fields in line (\d+), saw (\d+)")


def _read_csv(request: _Request):
    sep = "\t" if request.path.lower().endswith(".tsv") else ","
    try:
        frame = pd.read_csv(request.path, sep=sep)
    except pd.errors.EmptyDataError:
        raise ValueError(f"{request.where} is empty (no header and no rows).") from None
    except pd.errors.ParserError as err:
        match = _RAGGED.search(str(err))
        if match:
            header, line, fields = match.groups()
            raise ValueError(f"{request.where} is ragged: line {line} has {fields} fields, but the header has {header}.") from None
        raise ValueError(f"{request.where} could not be parsed: {_one_line(err)}.") from None
    except UnicodeDecodeError as err:
        raise ValueError(f"{request.where} is not UTF-8 text ({_one_line(err)}).") from None
    if not isinstance(frame.index, pd.RangeIndex):  # pandas took the first field as an index: one field too many
        raise ValueError(
            f"{request.where} is ragged: line 2 has {len(frame.columns) + 1} fields, but the header has {len(frame.columns)}."
        )
    if frame.isna().to_numpy().any():  # pandas pads short rows with NaN: say so rather than "NaN values"
        short = _first_short_line(request.path, sep)
        if short:
            line, fields, header = short
            raise ValueError(f"{request.where} is ragged: line {line} has {fields} fields, but the header has {header}.")
    names = [str(c) for c in frame.columns]
    if all(_is_number(c) for c in names) and not all(c.isdigit() for c in names):
        raise ValueError(
            f"{request.where} has no header row: its first line ({_one_line(','.join(names))[:60]}) is numbers; "
            "add a header line such as 0,1,2,..."
        )
    return _split_frame(frame, request)


def _first_short_line(path: str, sep: str):
    """(line, n_fields, n_header_fields) of the first row with another number of fields than the header."""
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle, delimiter=sep)
        header = next(reader, [])
        for row in reader:
            if row and len(row) != len(header):
                return reader.line_num, len(row), len(header)
    return None


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _split_frame(frame: pd.DataFrame, request: _Request):
    """Vectors from the numeric columns (or from ``vector_column``), metadata from the rest."""
    _check_kept(request, frame.columns)
    if len(frame) == 0:
        raise ValueError(f"{request.where} is empty: it has columns but no rows.")
    if request.vector_column is not None:
        if request.vector_column not in frame.columns:
            raise ValueError(
                f"{request.where} has no column {request.vector_column!r} (`vector_column`); "
                f"columns: {_names(frame.columns)}."
            )
        values = _text_vectors(frame[request.vector_column], request)
        columns = [request.vector_column]
    else:
        columns = [
            c for c in frame.columns
            if c not in request.keep and pd.api.types.is_numeric_dtype(frame[c]) and not pd.api.types.is_bool_dtype(frame[c])
        ]
        if not columns:
            raise ValueError(
                f"{request.where} has no numeric column to use as the vectors; columns: {_names(frame.columns)}."
            )
        all_float32 = all(frame[c].dtype == np.float32 for c in columns)
        values = frame[columns].to_numpy(dtype=np.float32 if all_float32 else np.float64, na_value=np.nan)
    metadata = frame.drop(columns=columns)
    return values, metadata.reset_index(drop=isinstance(metadata.index, pd.RangeIndex))


def _check_kept(request: _Request, columns) -> None:
    for column in request.keep:
        if column not in columns:
            raise ValueError(f"{request.where} has no column {column!r} (`label_column`); columns: {_names(columns)}.")


def _text_vectors(column: pd.Series, request: _Request) -> np.ndarray:
    """Vectors written as text, "[0.1, 0.2]" or "0.1 0.2", one per row."""
    parts = column.astype(str).str.strip().str.strip("[]").str.replace(",", " ").str.split()
    lengths = parts.str.len().to_numpy()
    if (lengths != lengths[0]).any():
        row = int(np.argmax(lengths != lengths[0]))
        raise ValueError(
            f"{request.where} column {request.vector_column!r} holds vectors of different lengths: "
            f"row 0 has {lengths[0]} values, row {row} has {lengths[row]}."
        )
    try:
        return np.array(parts.tolist(), dtype=np.float64)
    except ValueError:
        raise ValueError(
            f"{request.where} column {request.vector_column!r} must hold vectors of numbers such as "
            "'[0.1, 0.2]' or '0.1 0.2'; some entries are not numbers."
        ) from None


def _is_list(kind) -> bool:
    import pyarrow as pa

    return pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_fixed_size_list(kind)


def _read_parquet(request: _Request):
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        handle = pq.ParquetFile(request.path)
        meta = handle.metadata
        _too_large(request, sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups)), "its table")
        table = handle.read()
    except pa.ArrowException as err:
        raise ValueError(f"{request.where} is not a valid .parquet file ({_one_line(err)}).") from None
    _check_kept(request, table.schema.names)
    lists = [f.name for f in table.schema if _is_list(f.type) and f.name not in request.keep]
    chosen = request.vector_column
    if chosen is None and len(lists) > 1:
        raise ValueError(
            f"{request.where} has {len(lists)} list columns ({_names(lists)}); choose the vectors with `vector_column`."
        )
    if chosen is None and lists:
        chosen = lists[0]
    if chosen is None or chosen not in table.schema.names or not _is_list(table.schema.field(chosen).type):
        return _split_frame(table.to_pandas(), request)  # numeric columns, text vectors, or a missing-column error
    values = _list_vectors(table.column(chosen).combine_chunks(), request, chosen)
    metadata = table.drop_columns([chosen]).to_pandas()
    return values, metadata.reset_index(drop=isinstance(metadata.index, pd.RangeIndex))


def _list_vectors(column, request: _Request, name: str) -> np.ndarray:
    """A list<number> column as an array of shape (n_rows, list length)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    n_rows = len(column)
    if n_rows == 0:
        raise ValueError(f"{request.where} is empty: it has columns but no rows.")
    value_type = column.type.value_type
    if not (pa.types.is_integer(value_type) or pa.types.is_floating(value_type)):
        raise TypeError(f"{request.where} column {name!r} must hold lists of numbers; got lists of {value_type}.")
    if column.null_count:
        raise ValueError(f"{request.where} column {name!r} has {column.null_count} rows with no vector.")
    lengths = pc.list_value_length(column).to_numpy()
    if (lengths != lengths[0]).any():
        row = int(np.argmax(lengths != lengths[0]))
        raise ValueError(
            f"{request.where} column {name!r} holds vectors of different lengths: "
            f"row 0 has {lengths[0]} values, row {row} has {lengths[row]}."
        )
    flat = column.flatten().to_numpy(zero_copy_only=False)  # nulls inside a vector become NaN
    return flat.reshape(n_rows, int(lengths[0]))


# ------------------------------------------------------------------------------------ .h5 / .pt
def _read_h5(request: _Request):
    import h5py

    try:
        handle = h5py.File(request.path, "r")
    except OSError as err:
        raise ValueError(f"{request.where} is not a valid HDF5 file ({_one_line(err)}).") from None
    with handle:
        datasets = {}
        handle.visititems(lambda name, item: datasets.update({name: item}) if isinstance(item, h5py.Dataset) else None)
        if request.key is not None:
            name = _choose(dataclasses.replace(request, key=str(request.key).strip("/")), list(datasets), "dataset")
        else:
            candidates = [n for n, d in datasets.items() if d.ndim == 2 and d.dtype.kind in "iuf"]
            if len(candidates) != 1:
                raise ValueError(
                    f"{request.where} holds {len(candidates)} 2-D numeric datasets ({_names(candidates)}; "
                    f"all datasets: {_names(datasets)}); choose one with `key`."
                )
            name = candidates[0]
        dataset = datasets[name]
        _too_large(request, math.prod(dataset.shape) * dataset.dtype.itemsize, f"dataset {name!r}")
        return dataset[()], None


def _read_pt(request: _Request):
    import torch

    try:
        content = torch.load(request.path, weights_only=True, map_location="cpu")
    except (UnpicklingError, RuntimeError, EOFError, KeyError, ValueError):
        raise ValueError(
            f"{request.where} does not hold a tensor or a dict of tensors readable by torch.load(weights_only=True); "
            "only weights_only loading is allowed (pickled Python objects are never loaded)."
        ) from None
    if isinstance(content, dict):
        tensors = {str(k): v for k, v in content.items() if isinstance(v, torch.Tensor)}
        content = tensors[_choose(request, list(tensors), "tensor")]
    if not isinstance(content, torch.Tensor):
        raise ValueError(f"{request.where} holds a {type(content).__name__}, not a tensor or a dict of tensors.")
    tensor = content.detach().cpu()
    if tensor.layout != torch.strided:
        tensor = tensor.to_dense()
    if tensor.is_floating_point() and tensor.dtype not in (torch.float32, torch.float64):
        tensor = tensor.float()  # float16, bfloat16: numpy has no bfloat16
    return tensor.numpy(), None


_READERS = {
    ".npy": _read_npy, ".npz": _read_npz, ".csv": _read_csv, ".tsv": _read_csv, ".parquet": _read_parquet,
    ".h5": _read_h5, ".hdf5": _read_h5, ".pt": _read_pt, ".pth": _read_pt,
}
SUPPORTED_EXTENSIONS = tuple(_READERS)
