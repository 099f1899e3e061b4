"""Damaged files: each either loads correctly or raises one clear one-line ValueError, never anything else.

Small valid .csv, .npy, .npz and .parquet files are corrupted at random (truncation, byte flips,
inserted garbage, deleted lines or bytes, swapped delimiters, NaN/inf text, huge numbers, empty
files) with a seeded generator, and every one is loaded. A load counts as correct when it gives
finite floats with the file's columns and as many rows as the damaged file still holds.
"""

import csv
import io
import time
import warnings

import numpy as np
import pandas as pd
import pytest

from sparker_core import load_embeddings

N_ROWS, N_COLUMNS = 12, 3
WORDS = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet", "kilo", "lima"]
ROUNDS = 250  # per format: 1,000 damaged files in all


def valid_files(rng):
    """{extension: bytes} of small valid files holding the same (N_ROWS, N_COLUMNS) vectors and a text column."""
    vectors = np.round(rng.normal(size=(N_ROWS, N_COLUMNS)), 4)
    table = pd.DataFrame(vectors, columns=[f"f{i}" for i in range(N_COLUMNS)]).assign(text=WORDS[:N_ROWS])
    files = {".csv": table.to_csv(index=False, float_format="%.4f").encode()}
    for extension, write in ((".npy", lambda b: np.save(b, vectors)), (".npz", lambda b: np.savez_compressed(b, emb=vectors)),
                             (".parquet", lambda b: table.to_parquet(b))):
        buffer = io.BytesIO()
        write(buffer)
        files[extension] = buffer.getvalue()
    return files


# ------------------------------------------------------------------------------------ corruptions
def truncate(content, rng):
    return content[: int(rng.integers(0, len(content)))]


def flip_bytes(content, rng):
    data = bytearray(content)
    for at in rng.integers(0, len(data), size=int(rng.integers(1, 4))):
        data[at] ^= 1 << int(rng.integers(0, 8))
    return bytes(data)


def insert_garbage(content, rng):
    at = int(rng.integers(0, len(content) + 1))
    garbage = [rng.bytes(int(rng.integers(1, 9))), b"x", b",", b"\n", b'"', b"\x00", b"\xff\xfe", b"1e999"]
    return content[:at] + garbage[int(rng.integers(len(garbage)))] + content[at:]


def delete_piece(content, rng):
    lines = content.split(b"\n")
    if len(lines) > 2 and rng.random() < 0.7:  # a whole line (of text; of bytes in a binary file)
        del lines[int(rng.integers(len(lines)))]
        return b"\n".join(lines)
    at = int(rng.integers(0, len(content)))
    return content[:at] + content[at + int(rng.integers(1, 16)):]


def swap_delimiters(content, rng):
    new = [b";", b"\t", b" ", b"|", b",,"][int(rng.integers(5))]
    if rng.random() < 0.5:
        return content.replace(b",", new)
    lines = content.split(b"\n")
    at = int(rng.integers(len(lines)))
    lines[at] = lines[at].replace(b",", new)
    return b"\n".join(lines)


def replace_number(content, rng):
    """A number's text becomes NaN / inf text, a huge or tiny number, or an empty cell."""
    text = [b"nan", b"NaN", b"inf", b"-inf", b"Infinity", b"1e400", b"-1e308", b"1e-400", b"9" * 40, b"", b"0x1F",
            b"1,5", b"--1", b"1e5"][int(rng.integers(14))]
    lines = content.split(b"\n")
    at = int(rng.integers(len(lines)))
    fields = lines[at].split(b",")
    fields[int(rng.integers(len(fields)))] = text
    lines[at] = b",".join(fields)
    return b"\n".join(lines)


def empty(content, rng):
    return [b"", b"\n", b" ", b"\n\n\n"][int(rng.integers(4))]


CORRUPTIONS = [truncate, flip_bytes, insert_garbage, delete_piece, swap_delimiters, replace_number, empty]


# ------------------------------------------------------------------------------------ what a correct load is
def rows_present(content: bytes) -> int | None:
    """Data rows a damaged CSV still holds (pandas skips blank lines), or None if it is not UTF-8 text."""
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError:
        return None
    rows = [r for r in csv.reader(io.StringIO(text, newline="")) if any(f.strip() for f in r)]
    return len(rows) - 1


def expected_rows(extension, content):
    if extension == ".csv":
        return rows_present(content)
    return N_ROWS  # a binary file holds the array its header declares, or it is refused


@pytest.mark.parametrize("extension", [".csv", ".npy", ".npz", ".parquet"])
def test_damaged_files_load_correctly_or_raise_one_clear_line(tmp_path, extension):
    rng = np.random.default_rng({".csv": 1, ".npy": 2, ".npz": 3, ".parquet": 4}[extension])
    start = time.perf_counter()
    outcomes = {"loaded": 0, "refused": 0}
    for round_ in range(ROUNDS):
        original = valid_files(rng)[extension]
        corrupt = CORRUPTIONS[round_ % len(CORRUPTIONS)]
        content = corrupt(original, rng)
        path = tmp_path / f"f{round_}{extension}"
        path.write_bytes(content)
        case = f"round {round_}, {corrupt.__name__}: {content[:200]!r}"
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # notes on identifier-like columns are warned; not checked here
                table = load_embeddings(path)
        except ValueError as err:
            message = str(err)
            assert message and "\n" not in message, case
            assert str(path) in message, case
            outcomes["refused"] += 1
            continue
        except Exception as err:  # noqa: BLE001 - the point of the test: report any other exception with its case
            pytest.fail(f"{type(err).__name__}: {err} ({case})")
        vectors = table.vectors
        assert vectors.dtype in (np.float32, np.float64), case
        assert np.isfinite(vectors).all(), case
        assert vectors.shape == (expected_rows(extension, content), N_COLUMNS), case
        assert len(table.metadata) == len(vectors), case
        outcomes["loaded"] += 1
        assert time.perf_counter() - start < 30, f"too slow: a hang? ({case})"
    assert outcomes["loaded"] > 0 and outcomes["refused"] > 0, outcomes
