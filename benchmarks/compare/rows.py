"""The comparison's result row, one value per cell, and the reader of its CSVs.

A fit of several widths (a multi-scale SparKer) gives one row per width, numbered by ``scale``
(0 = the narrowest); every other test gives one row with scale 0. The p-value of a shared-null
method's test is not measured per row: ``report.shared_pvalues`` computes it from the case's null rows.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .cases import Case

NAN = math.nan


@dataclass(frozen=True)
class Row:
    case: str  # case name
    kind: str  # "null" (a shared-null draw), "test" (a realisation) or "timing" (a complete test, timed)
    n_signal: int  # signal rows in the data
    realisation: int  # realisation index (null draw index for "null")
    seed: int  # seed of the data draw and of the method
    method: str  # a name of methods.REGISTRY
    scale: int = 0  # the width's index in a multi-scale fit; 0 otherwise
    t: float = NAN  # the test statistic (of this width)
    pvalue: float = NAN  # the method's own p-value; NaN where the shared null gives it
    calibration: str = ""  # how the p-value is calibrated
    seconds: float = NAN  # seconds of the whole fit or test (the same on every width's row)
    top_kernel_signal_share: float = NAN  # share of signal rows among the top region's data members (this width)


FIELDS = [f.name for f in dataclasses.fields(Row)]
TYPES = {f.name: {"str": str, "int": int, "float": float}[f.type] for f in dataclasses.fields(Row)}


def fit_rows(case: Case | str, kind: str, n_signal: int, realisation: int, seed: int, method: str, t=NAN,
             pvalue=NAN, calibration: str = "", seconds=NAN, share=NAN) -> list[Row]:
    """The rows of one fit or test: one per width when ``t`` is a list (``share`` then a list too, or NaN)."""
    name = case if isinstance(case, str) else case.name
    ts = list(t) if isinstance(t, (list, tuple, np.ndarray)) else [t]
    shares = list(share) if isinstance(share, (list, tuple, np.ndarray)) else [share] * len(ts)
    return [Row(name, kind, int(n_signal), int(realisation), int(seed), method, scale, float(value), float(pvalue),
                calibration, float(seconds), float(part)) for scale, (value, part) in enumerate(zip(ts, shares))]


def to_frame(rows: list[Row]) -> pd.DataFrame:
    return pd.DataFrame([dataclasses.astuple(row) for row in rows], columns=FIELDS)


def append_csv(rows: list[Row], path: Path) -> None:
    """Append ``rows`` to the CSV at ``path`` (with the header when the file is new)."""
    to_frame(rows).to_csv(path, mode="a", header=not path.exists(), index=False)


def read_csv(path: Path) -> pd.DataFrame:
    """The rows of a comparison CSV, typed as ``Row``; a CSV of the older layout (a multi-scale fit's
    widths ';'-joined in ``t_widths`` / ``share_widths``) is converted to one row per width."""
    frame = pd.read_csv(path, keep_default_na=False, na_values=[""])
    if "t_widths" in frame.columns:
        frame = _from_joined_widths(frame)
    missing = sorted(set(FIELDS) - set(frame.columns))
    if missing:
        raise ValueError(f"{path} is not a bench_compare.py CSV: no column {', '.join(missing)}.")
    frame = frame[FIELDS].copy()
    frame["calibration"] = frame["calibration"].fillna("").astype(str)
    return frame.astype(TYPES)


def _from_joined_widths(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per width from the older layout, where a row of a multi-scale fit held its widths' t and
    shares as ';'-joined text (its ``t`` and ``pvalue`` were derived from them, and are recomputed)."""
    out = []
    for row in frame.to_dict("records"):
        joined = row.pop("t_widths")
        shares = row.pop("share_widths")
        if not isinstance(joined, str) or not joined:
            out.append({**row, "scale": 0})
            continue
        ts = [float(v) for v in joined.split(";")]
        parts = [float(v) for v in shares.split(";")] if isinstance(shares, str) and shares else [NAN] * len(ts)
        out += [{**row, "scale": s, "t": t, "pvalue": NAN, "top_kernel_signal_share": p}
                for s, (t, p) in enumerate(zip(ts, parts))]
    return pd.DataFrame(out)


KEYS = ["case", "kind", "n_signal", "realisation"]  # with the method, they name one fit or test


def n_widths(rows: pd.DataFrame) -> int:
    """Widths of the fits in ``rows`` (one method's): 1 + the largest scale."""
    return int(rows.scale.max()) + 1 if len(rows) else 1


def width_matrix(rows: pd.DataFrame, column: str = "t") -> np.ndarray:
    """``column`` of one method's fits at every width: an array of shape (n_fits, n_widths), the fits in
    the order of their scale-0 rows."""
    wide = rows.set_index(KEYS + ["scale"])[column].unstack("scale")
    return wide.reindex(pd.MultiIndex.from_frame(rows.loc[rows.scale == 0, KEYS])).to_numpy(dtype=float)
