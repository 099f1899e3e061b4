"""Kernel membership read from the kernels table: pure numpy over ``SparKer.explain()`` (no streamlit).

``explain`` lists each kernel's member rows; the pages also need the other direction (the kernel
of each row) and the rows a map selection picked.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .figures import SPLIT_CODES

NO_KERNEL = -1  # the kernel of a row that belongs to none


def member_rows(table: pd.DataFrame, kernel: int) -> np.ndarray | None:
    """Data rows of ``kernel`` in the kernels table; None when the table has no such kernel."""
    match = table.loc[table["kernel"] == kernel, "members_data"]
    return np.asarray(match.iloc[0], dtype=int) if len(match) else None


def kernel_of_rows(table: pd.DataFrame, n_rows: int) -> np.ndarray:
    """The kernel each of ``n_rows`` data rows is a member of (``NO_KERNEL`` for none), shape (n_rows,).

    ``explain`` gives every row to at most one kernel (its nearest), so the inversion is one scatter."""
    members = [np.asarray(m, dtype=int) for m in table["members_data"]]
    kernel_of = np.full(n_rows, NO_KERNEL)
    if members:
        kernel_of[np.concatenate(members)] = np.repeat(table["kernel"].to_numpy(), [m.size for m in members])
    return kernel_of


def selected_rows(points: list[dict]) -> tuple[np.ndarray, np.ndarray] | None:
    """(reference rows, data rows) of a map selection's points (``customdata`` = [split code, row]);
    None when no point with a row was picked."""
    picked = [p["customdata"] for p in points if p.get("customdata") is not None]
    if not picked:
        return None
    codes = np.array([int(c[0]) for c in picked])
    rows = np.array([int(c[1]) for c in picked])
    return rows[codes == SPLIT_CODES["reference"]], rows[codes == SPLIT_CODES["data"]]
