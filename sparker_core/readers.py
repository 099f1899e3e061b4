"""The file-format readers behind ``sparker_core.loaders``: one function per format, each returning the
vectors (and, for tables, the metadata and the columns used) or raising a one-line ``ValueError`` that
names the file as the user gave it. Which columns of a table form the vectors is decided in
``sparker_core.columns``.

Nothing here unpickles: .npy/.npz are read with allow_pickle=False and .pt/.pth only with
torch.load(weights_only=True). The memory guard counts the array a reader will build (its float copy
included) before building it.
"""

from __future__ import annotations

import csv
import dataclasses
import math
import os
import re
import struct
import zipfile
import zlib
from pickle import UnpicklingError  # the exception type only, to catch it: nothing here unpickles
from tokenize import TokenError

import numpy as np
import pandas as pd

from .columns import (
    _Content, _names, _one_line, _Request, cell_place, check_header, is_list, list_column, list_vectors, split_frame,
)
from .data import check_points


def _half_physical_memory() -> int:
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // 2
    except (AttributeError, ValueError, OSError):  # no sysconf (Windows) or no such name
        return 8 * 2**30


MAX_FILE_BYTES = _half_physical_memory()  # default `max_bytes`: the largest file read
MAX_EXPANDED_BYTES = MAX_FILE_BYTES  # default `max_expanded_bytes`: the largest unpacked array / table



# ------------------------------------------------------------------------------------ helpers
def _where(name: str, path: str) -> str:
    return f"`{name}` ({path})"


def _locate(message: str, name: str, path: str) -> str:
    """Put the file after the first "`name`" of a message from check_points / check_same_width."""
    return message.replace(f"`{name}`", _where(name, path), 1)


def _checked(values, name: str, path: str, columns=None, rows=None) -> np.ndarray:
    """check_points with the file (and the file's cell, see ``cell_place``) in its message; float16 becomes float32."""
    try:
        array = check_points(values, name, place=cell_place(path, columns, values, rows))
    except (ValueError, TypeError) as err:  # a file of non-numbers (complex, dates, text) is a bad file: ValueError
        raise ValueError(_locate(str(err), name, path)) from None
    if array.dtype not in (np.float32, np.float64):
        array = array.astype(np.float32 if array.dtype.itemsize < 4 else np.float64)
    return array


_TABLES = (".csv", ".tsv", ".parquet")


def _read(path, key, vector_column, max_bytes, max_expanded_bytes, name, keep, features=None, ignore=None) -> _Content:
    """The file's raw values, metadata (index 0..n-1), columns and notes, after the checks common to all formats."""
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
    for argument, names in (("features", features), ("ignore", ignore)):
        if names is not None and extension not in _TABLES:
            raise ValueError(
                f"`{argument}` chooses columns of a table ({', '.join(_TABLES)}); {where} is an array file."
            )
    if features is not None and (ignore is not None or vector_column is not None):
        other = "`ignore`" if ignore is not None else "`vector_column`"
        raise ValueError(f"give either `features` or {other}, not both; got features={list(features)!r}.")
    if features is not None and set(features) & set(keep):
        raise ValueError(f"`features` cannot name the label column {keep[0]!r} (`label_column`).")
    size = os.path.getsize(path)
    if size > max_bytes:
        raise ValueError(f"{where} is too large: {size:,} bytes, over the limit of {max_bytes:,} bytes (`max_bytes`).")
    if size == 0:
        raise ValueError(f"{where} is empty (0 bytes).")
    request = _Request(path, where, key, vector_column, max_expanded_bytes, tuple(keep), features, tuple(ignore or ()))
    try:
        content = _READERS[extension](request)
    except OSError as err:  # permissions, I/O; format readers turn their own parse errors into messages
        raise ValueError(f"{where} could not be read: {_one_line(err.strerror or err)}.") from None
    if content.metadata is None:
        n_rows = len(content.values) if np.ndim(content.values) else 0
        content = dataclasses.replace(content, metadata=pd.DataFrame(index=pd.RangeIndex(n_rows)))
    return content


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


class _TooLarge(ValueError):
    """Over ``max_expanded_bytes``: kept apart from the errors of a damaged file."""


def _too_large(request: _Request, n_bytes: int, what: str) -> None:
    if n_bytes > request.max_expanded_bytes:
        raise _TooLarge(
            f"{request.where}: {what} would take {n_bytes:,} bytes unpacked, over the limit of "
            f"{request.max_expanded_bytes:,} bytes (`max_expanded_bytes`)."
        )


def _check_array_size(request: _Request, shape, dtype: np.dtype, what: str) -> None:
    """Refuse, before it is built, an array whose values and their float copy exceed ``max_expanded_bytes``.

    Integers become float64 and float16 float32 (see ``_checked``), next to the array as read.
    """
    n_values = math.prod(shape)
    if dtype in (np.float32, np.float64):
        _too_large(request, n_values * dtype.itemsize, what)
        return
    final = np.dtype(np.float32 if dtype.kind == "f" and dtype.itemsize < 4 else np.float64)
    _too_large(request, n_values * (dtype.itemsize + final.itemsize),
               f"{what} ({dtype} values, with their {final} copy)")


# ------------------------------------------------------------------------------------ .npy / .npz
# what numpy raises on a damaged header: it is parsed as a Python literal (ast, tokenize)
_HEADER_ERRORS = (ValueError, EOFError, SyntaxError, TypeError, UnicodeDecodeError, TokenError, OverflowError,
                  MemoryError, RecursionError)


def _npy_header(handle, request: _Request, kind: str, n_bytes: int):
    """(shape, dtype) from a .npy header; refuses object arrays and data of another size than declared."""
    try:
        version = np.lib.format.read_magic(handle)
        read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, _, dtype = read(handle)  # version 3.0 differs from 2.0 only by utf-8 field names
    except _HEADER_ERRORS as err:
        reason = _one_line(err) or type(err).__name__
        raise ValueError(f"{request.where} is not a valid {kind} file ({reason}).") from None
    if dtype.hasobject:
        raise ValueError(
            f"{request.where} holds Python objects; only numeric arrays are loaded (pickle is never allowed)."
        )
    if any(n < 0 for n in shape):
        raise ValueError(f"{request.where} is not a valid {kind} file: its header declares the shape {shape}.")
    declared, held = math.prod(shape) * dtype.itemsize, n_bytes - handle.tell()
    if declared > held:  # checked before numpy allocates it
        raise ValueError(f"{request.where} is not a valid {kind} file: its header declares more data than it holds.")
    if declared < held:  # numpy would read the first rows only: a truncated header or appended bytes
        raise ValueError(
            f"{request.where} is not a valid {kind} file: it holds {held - declared:,} bytes more than its header "
            f"declares (shape {shape}, {dtype})."
        )
    return shape, dtype


def _read_npy(request: _Request):
    with open(request.path, "rb") as handle:
        shape, dtype = _npy_header(handle, request, ".npy", os.path.getsize(request.path))
    _check_array_size(request, shape, dtype, "its array")
    try:
        return _Content(np.load(request.path, allow_pickle=False))
    except (ValueError, EOFError) as err:
        raise ValueError(f"{request.where} is not a valid .npy file ({_one_line(err)}).") from None


# what a damaged zip archive raises: a bad directory, CRC, compressed stream, field or name
_ZIP_ERRORS = (zipfile.BadZipFile, zlib.error, NotImplementedError, EOFError, struct.error, OverflowError,
               UnicodeDecodeError)


def _read_npz(request: _Request):
    if not zipfile.is_zipfile(request.path):
        raise ValueError(f"{request.where} is not a valid .npz file (not a zip archive).")
    try:
        with zipfile.ZipFile(request.path) as archive:
            members = archive.infolist()  # the zip directory: sizes are known before anything is unpacked
            _too_large(request, sum(member.file_size for member in members), "its arrays")
            by_key = {m.filename[:-4] if m.filename.endswith(".npy") else m.filename: m for m in members}
            key = _choose(request, list(by_key), "array")
            member = by_key[key]
            with archive.open(member) as handle:
                shape, dtype = _npy_header(handle, request, ".npz", member.file_size)
            _check_array_size(request, shape, dtype, f"its array {key!r}")
            with archive.open(member) as handle:
                try:
                    return _Content(np.lib.format.read_array(handle, allow_pickle=False))
                except (ValueError, EOFError) as err:
                    raise ValueError(f"{request.where} is not a valid .npz file ({_one_line(err)}).") from None
    except _ZIP_ERRORS as err:
        raise ValueError(f"{request.where} is not a valid .npz file ({_one_line(err) or type(err).__name__}).") from None


# ------------------------------------------------------------------------------------ tables
_RAGGED = re.compile(r"Expected (\d+) fields in line (\d+), saw (\d+)")


def _read_csv(request: _Request):
    sep = "\t" if request.path.lower().endswith(".tsv") else ","
    header = _first_row(request, sep)
    if header is None:
        raise ValueError(f"{request.where} is empty (no header and no rows).")
    check_header(request, header)
    # the float64 table pandas parses and the vectors copied from it, 8 bytes a cell each
    _too_large(request, 16 * len(header) * _count_lines(request.path), "its table")
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
    return split_frame(frame, request, text=True)


def _first_row(request: _Request, sep: str):
    """The fields of the first line that is not blank (pandas skips blank lines too), or None."""
    try:
        with open(request.path, newline="", encoding="utf-8-sig") as handle:
            for line in handle:
                if line.strip():
                    return next(csv.reader([line], delimiter=sep), [])
    except UnicodeDecodeError as err:
        raise ValueError(f"{request.where} is not UTF-8 text ({_one_line(err)}).") from None
    except csv.Error as err:
        raise ValueError(f"{request.where} could not be parsed: {_one_line(err)}.") from None
    return None


def _count_lines(path: str) -> int:
    with open(path, "rb") as handle:
        return 1 + sum(block.count(b"\n") for block in iter(lambda: handle.read(1 << 20), b""))


def _first_short_line(path: str, sep: str):
    """(line, n_fields, n_header_fields) of the first row with another number of fields than the header."""
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle, delimiter=sep)
        header = next(reader, [])
        for row in reader:
            if row and len(row) != len(header):
                return reader.line_num, len(row), len(header)
    return None


def _read_parquet(request: _Request):
    import pyarrow as pa
    import pyarrow.parquet as pq

    # what a damaged file raises, from its footer, pages or pandas metadata (a JSON blob pyarrow trusts)
    broken = (pa.ArrowException, OSError, ValueError, TypeError, KeyError, IndexError, UnicodeDecodeError)
    try:
        handle = pq.ParquetFile(request.path)
        meta = handle.metadata
        _too_large(request, sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups)), "its table")
        table = _read_batches(handle, request)
    except _TooLarge:
        raise
    except broken as err:
        raise ValueError(f"{request.where} is not a valid .parquet file ({_one_line(err)}).") from None
    chosen = list_column(table, request)
    if chosen is None:
        try:
            frame = table.to_pandas()
        except broken as err:
            raise ValueError(f"{request.where} is not a valid .parquet file ({_one_line(err)}).") from None
        return split_frame(frame, request)  # numeric columns, text vectors, or a missing-column error
    values = list_vectors(table.column(chosen).combine_chunks(), request, chosen)
    try:
        metadata = table.drop_columns([chosen]).to_pandas()
    except broken as err:
        raise ValueError(f"{request.where} is not a valid .parquet file ({_one_line(err)}).") from None
    return _Content(values, metadata.reset_index(drop=isinstance(metadata.index, pd.RangeIndex)), (chosen,))


def _read_batches(handle, request: _Request):
    """The table, read a few thousand rows at a time so that memory is counted as it grows.

    Encoded pages can unpack to far more than the file's declared sizes (a run of zeros), and
    pyarrow's per-column metadata aborts the process on some damaged files, so the table and its
    values as float64 are counted while reading, not predicted.
    """
    import pyarrow as pa

    batches, n_bytes = [], 0
    for batch in handle.iter_batches(batch_size=4096):
        n_values = sum(len(c.flatten()) if is_list(c.type) else len(c) for c in batch.columns)
        n_bytes += batch.nbytes + 8 * n_values  # the table and its values' float64 copy
        _too_large(request, n_bytes, "its table")
        batches.append(batch)
    return pa.Table.from_batches(batches, schema=handle.schema_arrow)


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
        _check_array_size(request, dataset.shape, dataset.dtype, f"dataset {name!r}")
        return _Content(dataset[()])


def _read_pt(request: _Request):
    import torch

    if zipfile.is_zipfile(request.path):  # torch.save's format: the zip directory gives the unpacked size
        try:
            with zipfile.ZipFile(request.path) as archive:
                _too_large(request, sum(member.file_size for member in archive.infolist()), "its tensors")
        except _ZIP_ERRORS:
            pass  # torch.load says what is wrong
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
    # the tensor as loaded and its float copy: float16 becomes float32, integers float64 (see _checked)
    copy = 0 if tensor.dtype in (torch.float32, torch.float64) else 4 if tensor.is_floating_point() else 8
    _too_large(request, tensor.numel() * (tensor.element_size() + copy), f"its tensor ({tensor.dtype})")
    if tensor.layout != torch.strided:
        tensor = tensor.to_dense()
    if tensor.is_floating_point() and tensor.dtype not in (torch.float32, torch.float64):
        tensor = tensor.float()  # float16, bfloat16: numpy has no bfloat16
    return _Content(tensor.numpy())


_READERS = {
    ".npy": _read_npy, ".npz": _read_npz, ".csv": _read_csv, ".tsv": _read_csv, ".parquet": _read_parquet,
    ".h5": _read_h5, ".hdf5": _read_h5, ".pt": _read_pt, ".pth": _read_pt,
}
SUPPORTED_EXTENSIONS = tuple(_READERS)
