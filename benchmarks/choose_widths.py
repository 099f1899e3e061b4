"""Choose the final widths of SparKer's sigma_final="auto" on the evaluation panel's tuning half.

    python benchmarks/choose_widths.py benchmarks/results/panel-tuning/compare-DATE.csv [MORE.csv ...] [--max-widths 3]

Reads ``bench_compare.py`` CSVs that hold the baselines and one or more of the ladder methods
(``compare.methods.LADDER_VARIANTS``: "sparker-ladder" with the default settings, and variants with
other settings), each one fit per realisation and null draw at every width of LADDER_FRACTIONS x the
median pairwise reference distance. A candidate is a ladder method and a subset of its widths. A multi-scale fit's t at one width equals a single fit's t at that width (the same starts
and training), so every candidate ladder, a subset of LADDER_FRACTIONS, can be scored offline: its
p-value per realisation is the min-p combination of its widths calibrated on the case's shared null
draws (``calibration.combined_statistics``), exactly as ``compare.report.shared_pvalues`` scores the
default.

Per candidate it prints, over the tuning cases' signal levels: the number of cells (case, level)
where its power is at least the best baseline's minus 0.05 or inside that baseline's 95 % interval,
the number where it beats every baseline, its mean power, and its largest type-I error. Candidates
are ranked by those, in that order, and the cost (the number of widths) breaks ties. Only cases of
the tuning half are read: the held-out half must not choose anything.
"""

from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent / "panel"))
import panel  # noqa: E402
from compare.methods import LADDER_FRACTIONS, LADDER_VARIANTS  # noqa: E402
from compare.report import ALPHA, rate, shared_pvalues  # noqa: E402
from compare.rows import read_csv, width_matrix  # noqa: E402

from sparker_core import empirical_pvalue  # noqa: E402
from sparker_core.calibration import combined_statistics  # noqa: E402

BASELINES = ("mmd", "mmd-agg", "c2st", "knn", "fixed")
TOLERANCE = 0.05  # the target: at least the best baseline's power minus this, or inside its interval


def ladder_pvalues(frame: pd.DataFrame, case: str, method: str, columns: list[int]) -> pd.DataFrame:
    """(n_signal, pvalue) of every test of the ladder method ``method`` on ``case`` with the widths ``columns``."""
    rows = frame[(frame.case == case) & (frame.method == method)]
    t_all = width_matrix(rows)[:, columns]  # (n_fits, widths)
    fits = rows[rows.scale == 0]
    null = t_all[(fits.kind == "null").to_numpy()].T  # (widths, n_null)
    out = []
    for n_signal, t in zip(fits.n_signal[fits.kind == "test"], t_all[(fits.kind == "test").to_numpy()]):
        if len(columns) == 1:
            out.append((n_signal, empirical_pvalue(t[0], null[0])))
        else:
            stat, stat_null = combined_statistics(t, null, "minp")
            out.append((n_signal, empirical_pvalue(stat, stat_null)))
    return pd.DataFrame(out, columns=["n_signal", "pvalue"])


def best_baselines(frame: pd.DataFrame, case: str) -> dict:
    """Per signal level > 0: (best baseline, its power, its interval); ``frame`` one row per test, p filled
    (``shared_pvalues``)."""
    tests = frame[(frame.case == case) & (frame.kind == "test") & frame.method.isin(BASELINES)]
    best = {}
    for n_signal, group in tests[tests.n_signal > 0].groupby("n_signal"):
        rates = {m: rate(g.pvalue) for m, g in group.groupby("method")}
        name = max(rates, key=lambda m: rates[m][0])
        best[n_signal] = (name, *rates[name])
    return best


def score(frame: pd.DataFrame, fits: pd.DataFrame, cases: list[str], method: str, columns: list[int]) -> dict:
    """``frame``: the CSVs' rows; ``fits``: one row per test with its p-value (``shared_pvalues``)."""
    held, beats, powers, type1, cells = 0, 0, [], [], []
    for case in cases:
        pvalues = ladder_pvalues(frame, case, method, columns)
        best = best_baselines(fits, case)
        type1.append(rate(pvalues[pvalues.n_signal == 0].pvalue)[0])
        for n_signal, (name, power, low, high) in best.items():
            mine = rate(pvalues[pvalues.n_signal == n_signal].pvalue)[0]
            held += mine >= power - TOLERANCE or low <= mine <= high
            beats += mine > power  # above the best baseline is above every baseline
            powers.append(mine)
            cells.append(f"{case}@{n_signal}: {mine:.2f} vs {name} {power:.2f}")
    return dict(held=held, beats=beats, mean_power=float(np.mean(powers)), max_type1=max(type1), cells=cells)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("csv", type=Path, nargs="+", help="bench_compare.py CSVs with ladder methods and the baselines")
    parser.add_argument("--max-widths", type=int, default=3, help="largest ladder considered (cost grows with it)")
    parser.add_argument("--top", type=int, default=12, help="candidates printed")
    args = parser.parse_args()
    frames = [read_csv(path) for path in args.csv]
    seen: set = set()
    for i, part in enumerate(frames):  # a method read from an earlier file is not read again
        methods = set(part.method.unique())
        frames[i] = part[~part.method.isin(seen)]
        seen |= methods
    frame = pd.concat(frames, ignore_index=True)
    ladders = [m for m in LADDER_VARIANTS if m in set(frame.method)]
    if not ladders:
        parser.error("the CSVs hold no ladder method (compare.methods.LADDER_VARIANTS)")
    tuning = set(panel.halves()["tuning"])
    # the tuning cases every ladder method has finished (a partial CSV may lack some)
    cases = [c for c in frame.case.unique() if c in tuning and all(((frame.case == c) & (frame.method == m)).any() for m in ladders)]
    if not cases:
        parser.error("the CSV holds no case of the panel's tuning half")
    ignored = sorted(set(frame.case.unique()) - tuning)
    print(f"tuning cases: {', '.join(cases)}" + (f"; ignored (not tuning): {', '.join(ignored)}" if ignored else ""))
    fits = pd.concat([shared_pvalues(group) for _, group in frame[frame.case.isin(cases)].groupby("case")])
    results = []
    for method in ladders:
        for size in range(1, args.max_widths + 1):
            for columns in itertools.combinations(range(len(LADDER_FRACTIONS)), size):
                results.append((method, columns, score(frame, fits, cases, method, list(columns))))
    results.sort(key=lambda r: (-r[2]["held"], -r[2]["beats"], -r[2]["mean_power"], r[2]["max_type1"], len(r[1])))
    n_cells = len(results[0][2]["cells"])
    print(f"\n| method (settings) | widths (x median) | cells held (of {n_cells}) | cells beating every baseline | mean power | max type-I |")
    print("|---|---|---:|---:|---:|---:|")
    for method, columns, s in results[: args.top]:
        name = ", ".join(str(LADDER_FRACTIONS[c]) for c in columns)
        print(f"| {method} {LADDER_VARIANTS[method] or ''} | {name} | {s['held']} | {s['beats']} | {s['mean_power']:.3f} | {s['max_type1']:.2f} |")
    for method in ladders:  # the best candidate of each method, so the settings can be compared
        best = next(r for r in results if r[0] == method)
        print(f"best of {method}: widths {', '.join(str(LADDER_FRACTIONS[c]) for c in best[1])}, held {best[2]['held']}, "
              f"beats {best[2]['beats']}, mean power {best[2]['mean_power']:.3f}, max type-I {best[2]['max_type1']:.2f}")
    method, columns, s = results[0]
    print(f"\nchosen: {method} {LADDER_VARIANTS[method] or ''} at {', '.join(str(LADDER_FRACTIONS[c]) for c in columns)} x median; "
          "per cell (SparKer vs the best baseline):")
    for cell in s["cells"]:
        print(f"  {cell}")
    print(f"\n(alpha = {ALPHA}; 'held' = power >= best baseline - {TOLERANCE} or inside its 95 % interval)")


if __name__ == "__main__":
    main()
