"""File loaders: every format gives the same vectors and metadata, and every bad file one clear line."""

import hashlib
import re
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

from sparker_core import EmbeddingPair, EmbeddingTable, load_embeddings, load_pair

VECTORS = np.random.default_rng(0).normal(size=(6, 3)).astype(np.float32)
TEXT = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta"]
COLUMNS = ["0", "1", "2"]  # numeric column names: still the vector, not metadata


class Unsafe:
    """A Python object: pickled into a .pt, weights_only loading must refuse it (and never build one)."""

    made = 0

    def __new__(cls):
        cls.made += 1
        return super().__new__(cls)


def frame(vectors=VECTORS, **extra):
    table = pd.DataFrame(vectors, columns=COLUMNS[: vectors.shape[1]])
    for name, values in extra.items():
        table[name] = values
    return table


def list_table(vectors=VECTORS, **extra):
    column = pa.FixedSizeListArray.from_arrays(pa.array(vectors.ravel(), type=pa.float32()), vectors.shape[1])
    return pa.table({"embedding": column, **{name: pa.array(values) for name, values in extra.items()}})


def raises(tmp_path, error, match, **call):
    """Run the loader, check the message, and that it is one line naming the file."""
    loader = call.pop("loader", load_embeddings)
    with pytest.raises(error, match=match) as info:
        loader(**call)
    message = str(info.value)
    assert "\n" not in message
    return message


# ------------------------------------------------------------------------------------ writers
def write_npy(tmp_path):
    np.save(tmp_path / "v.npy", VECTORS)
    return tmp_path / "v.npy", {}, False


def write_npz_key(tmp_path):
    np.savez(tmp_path / "v.npz", emb=VECTORS, other=VECTORS[:, :2])
    return tmp_path / "v.npz", {"key": "emb"}, False


def write_npz_single(tmp_path):
    np.savez_compressed(tmp_path / "v.npz", VECTORS)  # one array, "arr_0": no key needed
    return tmp_path / "v.npz", {}, False


def write_csv(tmp_path):
    frame(text=TEXT).to_csv(tmp_path / "v.csv", index=False)
    return tmp_path / "v.csv", {}, True


def write_tsv(tmp_path):
    frame(text=TEXT).to_csv(tmp_path / "V.TSV", index=False, sep="\t")  # extension case does not matter
    return tmp_path / "V.TSV", {}, True


def write_parquet_columns(tmp_path):
    frame(text=TEXT).to_parquet(tmp_path / "v.parquet")
    return tmp_path / "v.parquet", {}, True


def write_parquet_list(tmp_path):
    pq.write_table(list_table(text=TEXT), tmp_path / "v.parquet")
    return tmp_path / "v.parquet", {}, True


def write_h5_key(tmp_path):
    with h5py.File(tmp_path / "v.h5", "w") as handle:
        handle.create_dataset("group/emb", data=VECTORS)
        handle.create_dataset("other", data=VECTORS[:, :2])
    return tmp_path / "v.h5", {"key": "group/emb"}, False


def write_h5_single(tmp_path):
    with h5py.File(tmp_path / "v.hdf5", "w") as handle:
        handle.create_dataset("emb", data=VECTORS)
        handle.create_dataset("ids", data=np.arange(6))  # 1-D: not a candidate
    return tmp_path / "v.hdf5", {}, False


def write_pt_tensor(tmp_path):
    torch.save(torch.from_numpy(VECTORS), tmp_path / "v.pt")
    return tmp_path / "v.pt", {}, False


def write_pt_dict(tmp_path):
    torch.save({"emb": torch.from_numpy(VECTORS), "other": torch.zeros(6, 2), "step": 3}, tmp_path / "v.pth")
    return tmp_path / "v.pth", {"key": "emb"}, False


WRITERS = [write_npy, write_npz_key, write_npz_single, write_csv, write_tsv, write_parquet_columns,
           write_parquet_list, write_h5_key, write_h5_single, write_pt_tensor, write_pt_dict]


@pytest.mark.parametrize("write", WRITERS, ids=lambda w: w.__name__[6:])
def test_every_format_gives_the_same_vectors_and_metadata(tmp_path, write):
    path, options, has_text = write(tmp_path)
    table = load_embeddings(path, **options)
    assert isinstance(table, EmbeddingTable)
    np.testing.assert_allclose(table.vectors, VECTORS, rtol=1e-6, atol=0)
    assert table.vectors.dtype in (np.float32, np.float64)
    assert list(table.metadata.index) == list(range(6))
    assert list(table.metadata.columns) == (["text"] if has_text else [])
    if has_text:
        assert table.metadata["text"].tolist() == TEXT
    assert table.path == str(path)
    assert table.sha256 == hashlib.sha256(Path(path).read_bytes()).hexdigest()


@pytest.mark.parametrize("write", [write_npy, write_parquet_list, write_pt_tensor, write_h5_key])
def test_float32_stays_float32(tmp_path, write):
    path, options, _ = write(tmp_path)
    assert load_embeddings(path, **options).vectors.dtype == np.float32


def test_float16_and_integers_become_float(tmp_path):
    np.save(tmp_path / "h.npy", VECTORS.astype(np.float16))
    np.save(tmp_path / "i.npy", np.arange(6).reshape(3, 2))
    assert load_embeddings(tmp_path / "h.npy").vectors.dtype == np.float32
    ints = load_embeddings(tmp_path / "i.npy").vectors
    assert ints.dtype == np.float64
    np.testing.assert_array_equal(ints, np.arange(6).reshape(3, 2))


def test_vector_column_as_text(tmp_path):
    texts = ["[" + ", ".join(str(float(x)) for x in row) + "]" for row in VECTORS]
    texts[1] = " ".join(str(float(x)) for x in VECTORS[1])  # "0.1 0.2 0.3" works too
    pd.DataFrame({"vec": texts, "id": range(6)}).to_csv(tmp_path / "t.csv", index=False)
    table = load_embeddings(tmp_path / "t.csv", vector_column="vec")
    np.testing.assert_allclose(table.vectors, VECTORS, rtol=1e-6, atol=0)
    assert table.metadata["id"].tolist() == list(range(6))  # numeric, yet metadata: the vector is `vec`


def test_parquet_list_column_chosen_by_vector_column(tmp_path):
    table = list_table(text=TEXT).append_column("second", list_table(2 * VECTORS).column("embedding"))
    pq.write_table(table, tmp_path / "two.parquet")
    loaded = load_embeddings(tmp_path / "two.parquet", vector_column="second")
    np.testing.assert_allclose(loaded.vectors, 2 * VECTORS, rtol=1e-6, atol=0)
    assert list(loaded.metadata.columns) == ["embedding", "text"]


# ------------------------------------------------------------------------------------ load_pair
def test_load_pair_from_two_files(tmp_path):
    np.save(tmp_path / "ref.npy", VECTORS)
    frame(VECTORS[:4] + 1, text=TEXT[:4]).to_csv(tmp_path / "data.csv", index=False)
    pair = load_pair(tmp_path / "ref.npy", tmp_path / "data.csv")
    assert isinstance(pair, EmbeddingPair)
    np.testing.assert_allclose(pair.reference, VECTORS, rtol=1e-6, atol=0)
    np.testing.assert_allclose(pair.data, VECTORS[:4] + 1, rtol=1e-6, atol=0)
    assert pair.reference_metadata.shape == (6, 0)
    assert pair.data_metadata["text"].tolist() == TEXT[:4]
    assert pair.files == {
        str(tmp_path / name): hashlib.sha256((tmp_path / name).read_bytes()).hexdigest()
        for name in ("ref.npy", "data.csv")
    }


def test_load_pair_splits_one_csv_by_an_integer_label(tmp_path):
    labels = [0, 1, 0, 2, 1, 0]  # 2: neither side, dropped
    frame(label=labels, text=TEXT).to_csv(tmp_path / "all.csv", index=False)
    pair = load_pair(tmp_path / "all.csv", label_column="label", reference_value="0", data_value="1")
    np.testing.assert_allclose(pair.reference, VECTORS[[0, 2, 5]], rtol=1e-6, atol=0)  # label is not a feature
    np.testing.assert_allclose(pair.data, VECTORS[[1, 4]], rtol=1e-6, atol=0)
    assert pair.reference_metadata["text"].tolist() == ["alpha", "gamma", "zeta"]  # row-aligned
    assert pair.data_metadata["text"].tolist() == ["beta", "epsilon"]
    assert list(pair.reference_metadata.columns) == ["text"] and list(pair.data_metadata.index) == [0, 1]
    path = str(tmp_path / "all.csv")
    assert pair.files == {path: hashlib.sha256(Path(path).read_bytes()).hexdigest()}
    same = load_pair(path, label_column="label", reference_value=0, data_value=1)  # ints compare as strings
    np.testing.assert_array_equal(same.data, pair.data)


def test_load_pair_splits_a_parquet_list_file_by_a_text_label(tmp_path):
    split = ["reference", "data", "reference", "data", "reference", "reference"]
    pq.write_table(list_table(split=split, text=TEXT), tmp_path / "sample.parquet")
    pair = load_pair(tmp_path / "sample.parquet", label_column="split", reference_value="reference", data_value="data")
    np.testing.assert_allclose(pair.data, VECTORS[[1, 3]], rtol=1e-6, atol=0)
    assert pair.reference.dtype == np.float32
    assert pair.data_metadata["text"].tolist() == ["beta", "delta"]
    assert "split" not in pair.reference_metadata.columns


# ------------------------------------------------------------------------------------ bad inputs
def test_missing_file(tmp_path):
    message = raises(tmp_path, ValueError, r"`reference` \(.*nope\.npy\) does not exist\.",
                     loader=load_pair, reference=tmp_path / "nope.npy", data=tmp_path / "nope.npy")
    assert str(tmp_path) in message


def test_unknown_extension(tmp_path):
    (tmp_path / "v.txt").write_text("1 2\n3 4\n")
    raises(tmp_path, ValueError, r"v\.txt\) has an unsupported extension '\.txt'; supported: \.npy, \.npz, \.csv",
           path=tmp_path / "v.txt")


def test_text_file_named_npy(tmp_path):
    (tmp_path / "v.npy").write_text("0.1,0.2\n0.3,0.4\n")
    raises(tmp_path, ValueError, r"v\.npy\) is not a valid \.npy file", path=tmp_path / "v.npy")


def test_truncated_npy(tmp_path):
    np.save(tmp_path / "v.npy", VECTORS)
    (tmp_path / "v.npy").write_bytes((tmp_path / "v.npy").read_bytes()[:-8])
    raises(tmp_path, ValueError, r"v\.npy\) is not a valid \.npy file: its header declares more data",
           path=tmp_path / "v.npy")


def test_a_header_declaring_a_huge_array_is_refused_before_allocating(tmp_path):
    with open(tmp_path / "huge.npy", "wb") as handle:
        np.lib.format.write_array_header_1_0(handle, {"descr": "<f8", "fortran_order": False, "shape": (10**9, 1000)})
        handle.write(b"\0" * 64)
    raises(tmp_path, ValueError, r"huge\.npy\) is not a valid \.npy file: its header declares more data",
           path=tmp_path / "huge.npy")
    import zipfile

    with zipfile.ZipFile(tmp_path / "huge.npz", "w") as archive:
        archive.write(tmp_path / "huge.npy", "emb.npy")
    raises(tmp_path, ValueError, r"huge\.npz\) is not a valid \.npz file: its header declares more data",
           path=tmp_path / "huge.npz")


def test_object_npy_and_npz_are_refused(tmp_path):
    objects = np.array([{"a": 1}, None], dtype=object)
    np.save(tmp_path / "o.npy", objects)  # written with pickle here; the loader must not unpickle it
    np.savez(tmp_path / "o.npz", objects)
    for name in ("o.npy", "o.npz"):
        raises(tmp_path, ValueError,
               re.escape(f"{name}) holds Python objects; only numeric arrays are loaded (pickle is never allowed)."),
               path=tmp_path / name)


def test_pt_with_a_pickled_object_is_refused(tmp_path):
    torch.save({"emb": torch.zeros(3, 2), "obj": Unsafe()}, tmp_path / "o.pt")
    made = Unsafe.made
    raises(tmp_path, ValueError,
           r"o\.pt\) does not hold a tensor or a dict of tensors readable by torch\.load\(weights_only=True\); "
           r"only weights_only loading is allowed", path=tmp_path / "o.pt")
    assert Unsafe.made == made  # nothing was built from the file


def test_pt_holding_a_list_and_a_text_file(tmp_path):
    torch.save([torch.zeros(3, 2)], tmp_path / "l.pt")
    raises(tmp_path, ValueError, r"l\.pt\) holds a list, not a tensor or a dict of tensors\.", path=tmp_path / "l.pt")
    (tmp_path / "t.pt").write_text("not a tensor\n")
    raises(tmp_path, ValueError, r"t\.pt\) does not hold a tensor", path=tmp_path / "t.pt")


def test_nan_and_inf(tmp_path):
    bad = VECTORS.copy()
    bad[1, 2], bad[3, 0] = np.nan, np.inf
    np.save(tmp_path / "bad.npy", bad)
    raises(tmp_path, ValueError, r"^`data` \(.*bad\.npy\) contains NaN or infinite values \(2 entries\)\."
           r" The first is nan at row 1, column 2 \(0-based indices\)\.$",
           path=tmp_path / "bad.npy", name="data")


def test_ragged_csv(tmp_path):
    (tmp_path / "long.csv").write_text("0,1,text\n0.1,0.2,a\n0.3,0.4,b,extra\n0.5,0.6,c\n")
    raises(tmp_path, ValueError, r"long\.csv\) is ragged: line 3 has 4 fields, but the header has 3\.",
           path=tmp_path / "long.csv")
    (tmp_path / "short.csv").write_text("0,1,text\n0.1,0.2,a\n0.3,0.4\n0.5,0.6,c\n")
    raises(tmp_path, ValueError, r"short\.csv\) is ragged: line 3 has 2 fields, but the header has 3\.",
           path=tmp_path / "short.csv")
    (tmp_path / "every.csv").write_text("0,1\n0.1,0.2,0.3\n0.4,0.5,0.6\n")  # pandas would make an index of it
    raises(tmp_path, ValueError, r"every\.csv\) is ragged: line 2 has 3 fields, but the header has 2\.",
           path=tmp_path / "every.csv")


def test_csv_without_numeric_column_or_header(tmp_path):
    (tmp_path / "text.csv").write_text("name,kind\na,x\nb,y\n")
    raises(tmp_path, ValueError, r"text\.csv\) has no numeric column to use as the vectors; columns: name, kind\.",
           path=tmp_path / "text.csv")
    (tmp_path / "bare.csv").write_text("0.1,0.2\n0.3,0.4\n0.5,0.6\n")
    raises(tmp_path, ValueError, r"bare\.csv\) has no header row", path=tmp_path / "bare.csv")


def test_empty_files(tmp_path):
    (tmp_path / "zero.npy").write_bytes(b"")
    raises(tmp_path, ValueError, r"zero\.npy\) is empty \(0 bytes\)\.", path=tmp_path / "zero.npy")
    (tmp_path / "header.csv").write_text("0,1,text\n")
    raises(tmp_path, ValueError, r"header\.csv\) is empty: it has columns but no rows\.", path=tmp_path / "header.csv")
    (tmp_path / "blank.tsv").write_text("\n\n")
    raises(tmp_path, ValueError, r"blank\.tsv\) is empty \(no header and no rows\)\.", path=tmp_path / "blank.tsv")


def test_single_row(tmp_path):
    frame(VECTORS[:1]).to_csv(tmp_path / "one.csv", index=False)
    raises(tmp_path, ValueError, r"^`file` \(.*one\.csv\) must have at least 2 rows; got 1\.$", path=tmp_path / "one.csv")


def test_different_widths(tmp_path):
    np.save(tmp_path / "r.npy", VECTORS)
    np.save(tmp_path / "d.npy", VECTORS[:, :2])
    raises(tmp_path, ValueError,
           r"^`data` \(.*d\.npy\) and `reference` \(.*r\.npy\) must have the same number of features; got 2 and 3\.$",
           loader=load_pair, reference=tmp_path / "r.npy", data=tmp_path / "d.npy")


def test_label_column_problems(tmp_path):
    frame(label=[0, 0, 0, 2, 2, 2]).to_csv(tmp_path / "l.csv", index=False)
    split = dict(loader=load_pair, reference=tmp_path / "l.csv", label_column="label")
    raises(tmp_path, ValueError,
           r"l\.csv\) has no data rows: no value of `label_column` 'label' equals `data_value` '1'; values found: '0', '2'\.",
           reference_value="0", data_value="1", **split)
    raises(tmp_path, ValueError, r"l\.csv\) has no reference rows", reference_value="1", data_value="2", **split)
    raises(tmp_path, ValueError, r"^`data rows` \(.*one_zero\.csv\) must have at least 2 rows; got 1\.$",
           reference_value="2", data_value="0", **{**split, "reference": _one_zero_row(tmp_path)})
    raises(tmp_path, ValueError, r"l\.csv\) has no column 'group' \(`label_column`\); columns: 0, 1, 2, label\.",
           reference_value="0", data_value="2", **{**split, "label_column": "group"})
    np.save(tmp_path / "v.npy", VECTORS)
    raises(tmp_path, ValueError, r"v\.npy\) has no column 'label' \(`label_column`\); columns: \(none\)\.",
           reference_value="0", data_value="2", **{**split, "reference": tmp_path / "v.npy"})


def _one_zero_row(tmp_path):
    frame(label=[2, 2, 2, 0, 1, 1]).to_csv(tmp_path / "one_zero.csv", index=False)
    return tmp_path / "one_zero.csv"


def test_load_pair_argument_errors(tmp_path):
    np.save(tmp_path / "v.npy", VECTORS)
    path = tmp_path / "v.npy"
    raises(tmp_path, ValueError, r"give either `data` \(a second file\) or `label_column`", loader=load_pair, reference=path)
    raises(tmp_path, ValueError, r"give either `data`", loader=load_pair, reference=path, data=path, label_column="x")
    raises(tmp_path, ValueError, r"`label_column` needs both `reference_value` and `data_value`; got '0' and None\.",
           loader=load_pair, reference=path, label_column="x", reference_value="0")
    raises(tmp_path, ValueError, r"`reference_value` and `data_value` must differ; got 1 and '1'\.",
           loader=load_pair, reference=path, label_column="x", reference_value=1, data_value="1")


def test_npz_zip_bomb_and_size_limits(tmp_path):
    np.savez_compressed(tmp_path / "big.npz", emb=np.zeros((1000, 100)))  # 800 kB unpacked, a few kB on disk
    assert (tmp_path / "big.npz").stat().st_size < 10_000
    raises(tmp_path, ValueError,
           r"big\.npz\): its arrays would take 800,\d+ bytes unpacked, over the limit of 100,000 bytes \(`max_expanded_bytes`\)\.",
           path=tmp_path / "big.npz", max_expanded_bytes=100_000)
    size = (tmp_path / "big.npz").stat().st_size
    raises(tmp_path, ValueError,
           rf"big\.npz\) is too large: {size:,} bytes, over the limit of 1,000 bytes \(`max_bytes`\)\.",
           path=tmp_path / "big.npz", max_bytes=1000)
    frame(text=TEXT).to_parquet(tmp_path / "v.parquet")
    raises(tmp_path, ValueError, r"v\.parquet\): its table would take", path=tmp_path / "v.parquet", max_expanded_bytes=10)
    write_h5_key(tmp_path)
    raises(tmp_path, ValueError, r"v\.h5\): dataset 'group/emb' would take 72 bytes unpacked",
           path=tmp_path / "v.h5", key="group/emb", max_expanded_bytes=10)


def test_unknown_or_missing_key(tmp_path):
    np.savez(tmp_path / "v.npz", emb=VECTORS, other=VECTORS)
    raises(tmp_path, ValueError, r"v\.npz\) has no array 'x' \(`key`\); available: emb, other\.",
           path=tmp_path / "v.npz", key="x")
    raises(tmp_path, ValueError, r"v\.npz\) holds 2 arrays \(emb, other\); choose one with `key`\.", path=tmp_path / "v.npz")
    write_h5_key(tmp_path)
    raises(tmp_path, ValueError, r"v\.h5\) has no dataset 'x' \(`key`\); available: group/emb, other\.",
           path=tmp_path / "v.h5", key="x")
    raises(tmp_path, ValueError, r"v\.h5\) holds 2 2-D numeric datasets \(group/emb, other;", path=tmp_path / "v.h5")
    write_pt_dict(tmp_path)
    raises(tmp_path, ValueError, r"v\.pth\) has no tensor 'x' \(`key`\); available: emb, other\.",
           path=tmp_path / "v.pth", key="x")


def test_malformed_containers(tmp_path):
    for name in ("v.npz", "v.parquet", "v.h5"):
        (tmp_path / name).write_text("just some text\n")
    raises(tmp_path, ValueError, r"v\.npz\) is not a valid \.npz file \(not a zip archive\)\.", path=tmp_path / "v.npz")
    raises(tmp_path, ValueError, r"v\.parquet\) is not a valid \.parquet file", path=tmp_path / "v.parquet")
    raises(tmp_path, ValueError, r"v\.h5\) is not a valid HDF5 file", path=tmp_path / "v.h5")
    raises(tmp_path, ValueError, r"is not a file\.", path=tmp_path)


def test_parquet_vector_column_problems(tmp_path):
    table = list_table(text=TEXT).append_column("second", list_table().column("embedding"))
    pq.write_table(table, tmp_path / "two.parquet")
    raises(tmp_path, ValueError, r"two\.parquet\) has 2 list columns \(embedding, second\); choose the vectors with `vector_column`\.",
           path=tmp_path / "two.parquet")
    raises(tmp_path, ValueError, r"two\.parquet\) has no column 'vec' \(`vector_column`\)",
           path=tmp_path / "two.parquet", vector_column="vec")
    ragged = pa.table({"emb": pa.array([[0.1, 0.2], [0.3, 0.4], [0.5]], type=pa.list_(pa.float64()))})
    pq.write_table(ragged, tmp_path / "r.parquet")
    raises(tmp_path, ValueError, r"r\.parquet\) column 'emb' holds vectors of different lengths: row 0 has 2 values, row 2 has 1\.",
           path=tmp_path / "r.parquet")
    pd.DataFrame({"vec": ["[0.1, 0.2]", "[0.3]"]}).to_csv(tmp_path / "t.csv", index=False)
    raises(tmp_path, ValueError, r"t\.csv\) column 'vec' holds vectors of different lengths",
           path=tmp_path / "t.csv", vector_column="vec")


# ------------------------------------------------------------------------------------ source
@pytest.mark.parametrize("module", ["loaders.py", "readers.py"])
def test_loaders_never_unpickle(module):
    source = (Path(__file__).resolve().parent.parent / "sparker_core" / module).read_text()
    assert "allow_pickle=True" not in source
    assert "import pickle" not in source
    assert not re.search(r"pickle\.loads?\(|cPickle|dill|joblib", source)
    # the pickle module is touched only to name the exception weights_only loading raises
    assert re.findall(r"^from pickle import .*$", source, flags=re.M) == (
        ["from pickle import UnpicklingError  # the exception type only, to catch it: nothing here unpickles"]
        if module == "readers.py" else [])
    calls = re.findall(r"torch\.load\(([^)]*)\)", source)
    assert (calls or module == "loaders.py") and all("weights_only=True" in args for args in calls)
    assert "weights_only=False" not in source


# ------------------------------------------------------------------------------------ never a wrong answer in silence
def test_a_first_line_of_numbers_is_data_never_a_lost_header(tmp_path):
    rng = np.random.default_rng(3)
    for rows in (600, 200):  # distinct integers: pandas took the first row as names and lost it
        np.savetxt(tmp_path / f"ints{rows}.csv", rng.permutation(10**6)[: 4 * rows].reshape(rows, 4), fmt="%d", delimiter=",")
        raises(tmp_path, ValueError,
               rf"ints{rows}\.csv\) has no header row: its first line \(\d+,\d+,\d+,\d+\) is numbers, which would be "
               r"data read as column names; add a header line such as 0,1,2,\.\.\.$", path=tmp_path / f"ints{rows}.csv")
    (tmp_path / "mixed.csv").write_text("3,5,7,alpha\n1,2,3,beta\n4,5,6,gamma\n")  # numbers beside text: still data
    raises(tmp_path, ValueError, r"mixed\.csv\) has no header row: its first line \(3,5,7,alpha\) holds the number 3,",
           path=tmp_path / "mixed.csv")
    named = "0,1,2,3\n" + (tmp_path / "ints600.csv").read_text()  # a column's own position is a name
    (tmp_path / "named.csv").write_text(named)
    assert load_embeddings(tmp_path / "named.csv").vectors.shape == (600, 4)


def write_int8_npz_streaming(path, n_values):
    """A small deflated .npz of n_values int8 zeros, written in 1 MB chunks (the test never holds the array)."""
    import zipfile

    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        with archive.open("emb.npy", "w", force_zip64=True) as member:
            np.lib.format.write_array_header_1_0(member, {"descr": "|i1", "fortran_order": False, "shape": (n_values, 1)})
            for start in range(0, n_values, 2**20):
                member.write(bytes(min(2**20, n_values - start)))


def peak_bytes_while(call):
    import tracemalloc

    tracemalloc.start()
    try:
        call()
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return peak


def test_the_memory_guard_counts_the_float_copy_not_the_unpacked_bytes(tmp_path):
    n = 8 * 2**20  # 8 MiB of int8 unpacked: under the 16 MiB limit, but 72 MiB with its float64 copy
    write_int8_npz_streaming(tmp_path / "bomb.npz", n)
    assert (tmp_path / "bomb.npz").stat().st_size < 100_000
    message = re.escape(
        f"bomb.npz): its array 'emb' (int8 values, with their float64 copy) would take {9 * n:,} bytes unpacked, "
        f"over the limit of {16 * 2**20:,} bytes (`max_expanded_bytes`)."
    )
    peak = peak_bytes_while(lambda: raises(tmp_path, ValueError, message, path=tmp_path / "bomb.npz",
                                           max_expanded_bytes=16 * 2**20))
    assert peak < 2**20  # refused from the header, before any large allocation

    np.save(tmp_path / "i.npy", np.zeros((1000, 10), dtype=np.int8))  # 10 kB; 90 kB with the float64 copy
    raises(tmp_path, ValueError, r"i\.npy\): its array \(int8 values, with their float64 copy\) would take 90,000 bytes",
           path=tmp_path / "i.npy", max_expanded_bytes=50_000)
    assert load_embeddings(tmp_path / "i.npy", max_expanded_bytes=90_000).vectors.shape == (1000, 10)
    np.save(tmp_path / "h.npy", np.zeros((1000, 10), dtype=np.float16))  # float16 becomes float32: 20 + 40 kB
    raises(tmp_path, ValueError, r"h\.npy\): its array \(float16 values, with their float32 copy\) would take 60,000",
           path=tmp_path / "h.npy", max_expanded_bytes=50_000)
    with h5py.File(tmp_path / "i.h5", "w") as handle:
        handle.create_dataset("emb", data=np.zeros((1000, 10), dtype=np.int8))
    raises(tmp_path, ValueError, r"i\.h5\): dataset 'emb' \(int8 values, with their float64 copy\) would take 90,000",
           path=tmp_path / "i.h5", max_expanded_bytes=50_000)
    torch.save(torch.zeros(1000, 10, dtype=torch.int8), tmp_path / "i.pt")
    raises(tmp_path, ValueError, r"i\.pt\): its tensor \(torch\.int8\) would take 90,000", path=tmp_path / "i.pt",
           max_expanded_bytes=50_000)


def test_a_parquet_run_of_zeros_is_counted_as_it_unpacks(tmp_path):
    zeros = pd.DataFrame({"a": np.zeros(10**6, dtype=np.int8), "b": np.zeros(10**6, dtype=np.int8)})
    zeros.to_parquet(tmp_path / "zeros.parquet")  # a few kB on disk and in its declared page sizes
    assert (tmp_path / "zeros.parquet").stat().st_size < 20_000
    peak = peak_bytes_while(lambda: raises(
        tmp_path, ValueError, r"zeros\.parquet\): its table would take [\d,]+ bytes unpacked, over the limit of 1,000,000",
        path=tmp_path / "zeros.parquet", max_expanded_bytes=10**6))
    assert peak < 4 * 10**6


def test_npy_holding_more_data_than_its_header_declares(tmp_path):
    np.save(tmp_path / "v.npy", VECTORS)
    (tmp_path / "v.npy").write_bytes((tmp_path / "v.npy").read_bytes() + b"\0" * 24)  # numpy would drop it silently
    raises(tmp_path, ValueError, r"v\.npy\) is not a valid \.npy file: it holds 24 bytes more than its header declares "
           r"\(shape \(6, 3\), float32\)\.", path=tmp_path / "v.npy")


def test_an_array_of_non_numbers_is_a_value_error(tmp_path):
    np.save(tmp_path / "c.npy", VECTORS.astype(np.complex64))
    raises(tmp_path, ValueError, r"^`file` \(.*c\.npy\) must be a numeric array; got dtype complex64\.$",
           path=tmp_path / "c.npy")


def test_a_typo_in_a_numeric_column_is_named_not_dropped(tmp_path):
    table = frame(text=TEXT).astype({"1": str})
    table.loc[3, "1"] = "O.5"  # a letter O: the column was quietly moved to the metadata
    table.to_csv(tmp_path / "typo.csv", index=False)
    frame(text=TEXT).to_csv(tmp_path / "good.csv", index=False)
    raises(tmp_path, ValueError,
           r"^`file` \(.*typo\.csv\) column '1' holds numbers but for 1 cell, the first on line 5: 'O\.5'; "
           r"fix the file, or leave the column out with `ignore`\.$", path=tmp_path / "typo.csv")
    raises(tmp_path, ValueError, r"^`data` \(.*typo\.csv\) column '1' holds numbers but for 1 cell",
           loader=load_pair, reference=tmp_path / "good.csv", data=tmp_path / "typo.csv")
    kept = load_embeddings(tmp_path / "typo.csv", ignore=["1"])
    assert kept.columns == ("0", "2") and kept.metadata["1"].tolist()[3] == "O.5"
    big = "0,1\n1,99999999999999999999\n5,3\n2,7\n"  # an integer past int64 is still a number
    (tmp_path / "big.csv").write_text(big)
    np.testing.assert_allclose(load_embeddings(tmp_path / "big.csv").vectors[:, 1], [1e20, 3, 7], rtol=1e-12, atol=0)


def test_a_column_numeric_in_one_file_only_is_named(tmp_path):
    frame(text=TEXT).to_csv(tmp_path / "ref.csv", index=False)
    frame(text=TEXT).assign(**{"2": ["missing"] * 6}).to_csv(tmp_path / "text.csv", index=False)
    raises(tmp_path, ValueError,
           r"^column '2' is numeric in `reference` \(.*ref\.csv\) but not in `data` \(.*text\.csv\), whose line 2 holds "
           r"'missing'; fix that cell, or leave the column out with `ignore`\.$",
           loader=load_pair, reference=tmp_path / "ref.csv", data=tmp_path / "text.csv")
    # as wide, other columns: ref uses 0, 1; data uses 0, 2 (its 1 is text): no longer compared column by position
    frame(text=TEXT).assign(**{"2": TEXT}).to_csv(tmp_path / "r.csv", index=False)
    frame(text=TEXT).assign(**{"1": TEXT}).to_csv(tmp_path / "d.csv", index=False)
    raises(tmp_path, ValueError, r"^column '1' is numeric in `reference` \(.*r\.csv\) but not in `data` \(.*d\.csv\), "
           r"whose line 2 holds 'alpha'", loader=load_pair, reference=tmp_path / "r.csv", data=tmp_path / "d.csv")
    np.save(tmp_path / "v.npy", VECTORS)
    pd.DataFrame({"0": VECTORS[:, 0], "1": VECTORS[:, 1]}).to_csv(tmp_path / "two.csv", index=False)
    raises(tmp_path, ValueError, r"^`reference` \(.*ref\.csv\) uses column '2' in the vectors, but `data` "
           r"\(.*two\.csv\) has no such column; choose the columns with `features` or `ignore`\.$",
           loader=load_pair, reference=tmp_path / "ref.csv", data=tmp_path / "two.csv")


def test_the_data_columns_follow_the_reference_order(tmp_path):
    named = frame(text=TEXT).rename(columns={"0": "x", "1": "y", "2": "z"})
    named.to_csv(tmp_path / "ref.csv", index=False)
    named[["text", "z", "x", "y"]].to_csv(tmp_path / "shuffled.csv", index=False)  # was compared column by position
    pair = load_pair(tmp_path / "ref.csv", tmp_path / "shuffled.csv")
    assert pair.columns == ("x", "y", "z")
    np.testing.assert_allclose(pair.data, pair.reference, rtol=1e-6, atol=0)


def test_an_identifier_column_is_left_out_with_a_note(tmp_path):
    frame(text=TEXT).assign(id=range(100, 106)).to_csv(tmp_path / "ids.csv", index=False)
    with pytest.warns(UserWarning, match=r"^`file` \(.*ids\.csv\): column 'id' \(distinct ordered integers, like a row "
                      r"id\) is left out of the vectors and kept as metadata; name it in `features` to use it\.$"):
        table = load_embeddings(tmp_path / "ids.csv")
    np.testing.assert_allclose(table.vectors, VECTORS, rtol=1e-6, atol=0)
    assert table.columns == ("0", "1", "2") and table.metadata["id"].tolist() == list(range(100, 106))
    assert len(table.notes) == 1 and "'id'" in table.notes[0]
    chosen = load_embeddings(tmp_path / "ids.csv", features=["id", "0"])  # named: used, no note
    assert chosen.columns == ("id", "0") and chosen.notes == ()
    np.testing.assert_array_equal(chosen.vectors[:, 0], np.arange(100, 106))
    frame(text=TEXT).assign(id=range(6)).to_parquet(tmp_path / "ids.parquet")
    with pytest.warns(UserWarning, match="column 'id'"):
        pair = load_pair(tmp_path / "ids.csv", tmp_path / "ids.parquet")
    assert pair.columns == ("0", "1", "2") and len(pair.notes) == 2 and pair.reference.shape == (6, 3)
    (tmp_path / "only.csv").write_text("a,b,text\n1,2,x\n2,3,y\n3,4,z\n")  # nothing else numeric: used, with a note
    with pytest.warns(UserWarning, match=r"columns 'a', 'b' \(distinct ordered integers, like a row id\) are the only "
                      r"numeric columns, so they form the vectors"):
        assert load_embeddings(tmp_path / "only.csv").columns == ("a", "b")


def test_features_and_ignore_choose_the_columns(tmp_path):
    frame(text=TEXT, label=[0, 1, 0, 1, 0, 1]).to_csv(tmp_path / "t.csv", index=False)
    frame(text=TEXT, label=[0, 1, 0, 1, 0, 1]).to_parquet(tmp_path / "t.parquet")
    for name in ("t.csv", "t.parquet"):
        chosen = load_embeddings(tmp_path / name, features=["2", "0"])
        np.testing.assert_allclose(chosen.vectors, VECTORS[:, [2, 0]], rtol=1e-6, atol=0)
        assert chosen.columns == ("2", "0") and list(chosen.metadata.columns) == ["1", "text", "label"]
        ignored = load_embeddings(tmp_path / name, ignore=["label"])
        np.testing.assert_allclose(ignored.vectors, VECTORS, rtol=1e-6, atol=0)
        assert ignored.columns == ("0", "1", "2") and ignored.metadata["label"].tolist() == [0, 1, 0, 1, 0, 1]
        raises(tmp_path, ValueError, rf"{name}\) has no column 'x', 'y' \(`features`\); columns: 0, 1, 2, text, label\.",
               path=tmp_path / name, features=["0", "x", "y"])
        raises(tmp_path, ValueError, rf"{name}\) has no column 'x' \(`ignore`\)", path=tmp_path / name, ignore=["x"])
        raises(tmp_path, ValueError, rf"{name}\) column 'text' \(`features`\) must hold numbers; its (line|row) [02] "
               r"holds 'alpha'\.", path=tmp_path / name, features=["0", "text"])
    pair = load_pair(tmp_path / "t.csv", label_column="label", reference_value=0, data_value=1, features=["1"])
    assert pair.columns == ("1",) and pair.reference.shape == (3, 1)
    np.save(tmp_path / "v.npy", VECTORS)
    raises(tmp_path, ValueError, r"^`features` chooses columns of a table \(\.csv, \.tsv, \.parquet\); `file` "
           r"\(.*v\.npy\) is an array file\.$", path=tmp_path / "v.npy", features=["0"])
    raises(tmp_path, ValueError, r"^give either `features` or `ignore`, not both; got features=\['0'\]\.$",
           path=tmp_path / "t.csv", features=["0"], ignore=["1"])
    raises(tmp_path, ValueError, r"^`features` must be a list of column names; got '0'\.$", path=tmp_path / "t.csv",
           features="0")
    raises(tmp_path, ValueError, r"^`ignore` names '1' more than once\.$", path=tmp_path / "t.csv", ignore=["1", "1"])
    raises(tmp_path, ValueError, r"^`features` cannot name the label column 'label' \(`label_column`\)\.$",
           loader=load_pair, reference=tmp_path / "t.csv", label_column="label", reference_value=0, data_value=1,
           features=["0", "label"])
    assert load_embeddings(tmp_path / "v.npy").columns is None
    assert load_pair(tmp_path / "v.npy", tmp_path / "t.csv", ignore=["label"]).columns == ("0", "1", "2")
    raises(tmp_path, ValueError, r"^`features` chooses columns of a table", loader=load_pair, reference=tmp_path / "v.npy",
           data=tmp_path / "v.npy", features=["0"])
