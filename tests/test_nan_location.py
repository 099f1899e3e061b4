"""A NaN or infinite value is an error that names the file as given and the first bad cell.

Tables name the cell by the file's line (CSV/TSV, the header is line 1) or 0-based row
(parquet) and the column's name; arrays by 0-based row and column indices.
"""

import re

import numpy as np
import pandas as pd
import pytest

from sparker_core import SparKer, load_embeddings, load_pair

GOOD = np.random.default_rng(0).normal(size=(6, 3))


def message(**call) -> str:
    loader = call.pop("loader", load_embeddings)
    with pytest.raises(ValueError, match=r"contains NaN or infinite values") as info:
        loader(**call)
    text = str(info.value)
    assert "\n" not in text
    return text


def test_csv_names_the_file_the_line_and_the_column(tmp_path):
    path = tmp_path / "emb.csv"
    # line 1 the header, line 3 blank (pandas skips it), line 5 holds the NaN in column 'b'
    path.write_text("a,b,text\n0.1,0.2,x\n\n0.3,0.4,y\n0.5,nan,z\n0.7,inf,w\n")
    assert message(path=path, name="reference") == (
        f"`reference` ({path}) contains NaN or infinite values (2 entries). The first is nan at line 5, column 'b'."
    )


def test_tsv_and_a_split_by_label_count_lines_of_the_file(tmp_path):
    path = tmp_path / "both.tsv"
    path.write_text("split\tx\ty\nr\t1\t2\nd\t3\t4\nr\t5\t6\nd\t-inf\t8\n")
    text = message(path=path, loader=lambda path: load_pair(path, label_column="split", reference_value="r",
                                                            data_value="d"))
    assert text == (f"`data rows` ({path}) contains NaN or infinite values (1 entries). "
                    "The first is -inf at line 5, column 'x'.")


def test_a_vector_column_names_the_element(tmp_path):
    path = tmp_path / "v.csv"
    path.write_text('id_text,v\na,"[1, 2, 3]"\nb,"[4, nan, 6]"\n')
    assert message(path=path, vector_column="v").endswith("The first is nan at line 3, column 'v', element 1 (0-based).")


def test_parquet_names_the_row_and_the_column(tmp_path):
    path = tmp_path / "emb.parquet"
    table = pd.DataFrame(GOOD, columns=["dim_a", "dim_b", "dim_c"])
    table.loc[4, "dim_c"] = np.inf
    table["text"] = list("abcdef")
    table.to_parquet(path)
    assert message(path=path, name="data") == (
        f"`data` ({path}) contains NaN or infinite values (1 entries). The first is inf at row 4 (0-based), column 'dim_c'."
    )


def test_npy_names_row_and_column_indices(tmp_path):
    path = tmp_path / "emb.npy"
    bad = GOOD.copy()
    bad[5, 0], bad[2, 1] = np.inf, np.nan  # the first in row-major order is (2, 1)
    np.save(path, bad)
    assert message(path=path, name="reference") == (
        f"`reference` ({path}) contains NaN or infinite values (2 entries). "
        "The first is nan at row 2, column 1 (0-based indices)."
    )


def test_two_files_name_the_bad_one(tmp_path):
    np.save(tmp_path / "ref.npy", GOOD)
    pd.DataFrame(np.where(np.eye(6, 3, k=1) > 0, np.nan, GOOD), columns=["p", "q", "r"]).to_csv(
        tmp_path / "data.csv", index=False)
    text = message(path=tmp_path / "ref.npy", loader=lambda path: load_pair(path, tmp_path / "data.csv"))
    assert text.startswith(f"`data` ({tmp_path / 'data.csv'}) contains") and text.endswith("at line 2, column 'q'.")


def test_fit_on_an_array_names_row_and_column_indices():
    data = GOOD.copy()
    data[3, 2] = np.nan
    pattern = (r"^`data` contains NaN or infinite values \(1 entries\)\. "
               r"The first is nan at row 3, column 2 \(0-based indices\)\.$")
    with pytest.raises(ValueError, match=pattern):
        SparKer().fit(GOOD, data)


def test_the_first_bad_entry_past_a_chunk_is_found():
    from sparker_core import data as data_module

    big = np.zeros((data_module._ROWS + 10, 2), dtype=np.float32)
    big[data_module._ROWS + 7, 1] = np.inf
    with pytest.raises(ValueError, match=re.escape(f"row {data_module._ROWS + 7}, column 1 (0-based indices)")):
        data_module.check_points(big, "reference")


def test_a_column_name_with_a_line_break_keeps_the_message_one_line(tmp_path):
    path = tmp_path / "odd.csv"
    path.write_text('"first\nname",b\n1,2\nnan,3\n')
    assert message(path=path).endswith("The first is nan at line 4, column 'first\\nname'.")  # repr escapes it
