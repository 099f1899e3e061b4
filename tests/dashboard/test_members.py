"""Kernel membership from the kernels table: the inversion checked against a loop over kernels."""

from __future__ import annotations

import numpy as np
import pandas as pd

from dashboard.components.figures import SPLIT_CODES
from dashboard.components.members import NO_KERNEL, kernel_of_rows, member_rows, selected_rows


def table() -> pd.DataFrame:
    return pd.DataFrame({"kernel": [4, 0, 7], "members_data": [np.array([5, 1]), np.array([], dtype=int), np.array([2])]})


def test_kernel_of_rows_inverts_the_members_lists():
    kernels = table()
    expected = np.full(8, NO_KERNEL)
    for row in kernels.itertuples():  # the obvious loop
        expected[np.asarray(row.members_data, dtype=int)] = row.kernel
    np.testing.assert_array_equal(kernel_of_rows(kernels, 8), expected)
    np.testing.assert_array_equal(kernel_of_rows(kernels.iloc[:0], 3), [NO_KERNEL] * 3)


def test_member_rows_and_selected_rows():
    np.testing.assert_array_equal(member_rows(table(), 4), [5, 1])
    assert member_rows(table(), 3) is None
    ref, data = SPLIT_CODES["reference"], SPLIT_CODES["data"]
    points = [{"customdata": [data, 3]}, {"customdata": [ref, 9]}, {"x": 0.0}, {"customdata": [data, 1]}]
    rows = selected_rows(points)
    np.testing.assert_array_equal(rows[0], [9])
    np.testing.assert_array_equal(rows[1], [3, 1])
    assert selected_rows([{"x": 0.0}]) is None
