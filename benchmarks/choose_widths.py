"""Choose the final widths of SparKer's sigma_final="auto" on the evaluation panel's tuning half.

    python benchmarks/choose_widths.py benchmarks/results/panel-tuning/compare-DATE.csv [--max-widths 3]

Reads a ``bench_compare.py`` CSV that holds the method "sparker-ladder" (one fit per realisation and
null draw at every width of LADDER_FRACTIONS x the median pairwise reference distance) and the
baselines. A multi-scale fit's t at one width equals a single fit's t at that width (the same starts
and training), so every candidate ladder, a subset of LADDER_FRACTIONS, can be scored offline: its
p-value per realisation is the min-p combination of its widths calibrated on the case's shared null
draws (``calibration.combined_statistics``), exactly as ``bench_compare.shared_pvalues`` scores the
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
from bench_compare import ALPHA, LADDER_FRACTIONS, _widths, rate  # noqa: E402

from sparker_core import empirical_pvalue  # noqa: E402
from sparker_core.calibration import combined_statistics  # noqa: E402

BASELINES = ("mmd", "mmd-agg", "c2st", "knn", "fixed")
TOLERANCE = 0.05  # the target: at least the best baseline's power minus this, or inside its interval


def ladder_pvalues(frame: pd.DataFrame, case: str, columns: list[int]) -> pd.DataFrame:
    """(n_signal, pvalue) of every "sparker-ladder" test of ``case`` with the widths ``columns``."""
    rows = frame[(frame.case == case) & (frame.method == "sparker-ladder")]
    null = np.stack([_widths(v)[columns] for v in rows[rows.kind == "null"].t_widths], axis=1)  # (widths, n_null)
    tests = rows[rows.kind == "test"]
    out = []
    for n_signal, text in zip(tests.n_signal, tests.t_widths):
        t = _widths(text)[columns]
        if len(columns) == 1:
            out.append((n_signal, empirical_pvalue(t[0], null[0])))
        else:
            stat, stat_null = combined_statistics(t, null, "minp")
            out.append((n_signal, empirical_pvalue(stat, stat_null)))
    return pd.DataFrame(out, columns=["n_signal", "pvalue"])


def best_baselines(frame: pd.DataFrame, case: str) -> dict:
    """Per signal level > 0: (best baseline, its power, its interval)."""
    tests = frame[(frame.case == case) & (frame.kind == "test") & frame.method.isin(BASELINES)]
    best = {}
    for n_signal, group in tests[tests.n_signal > 0].groupby("n_signal"):
        rates = {m: rate(g.pvalue) for m, g in group.groupby("method")}
        name = max(rates, key=lambda m: rates[m][0])
        best[n_signal] = (name, *rates[name])
    return best


def score(frame: pd.DataFrame, cases: list[str], columns: list[int]) -> dict:
    held, beats, powers, type1, cells = 0, 0, [], [], []
    for case in cases:
        pvalues = ladder_pvalues(frame, case, columns)
        best = best_baselines(frame, case)
        tests = frame[(frame.case == case) & (frame.kind == "test") & frame.method.isin(BASELINES)]
        type1.append(rate(pvalues[pvalues.n_signal == 0].pvalue)[0])
        for n_signal, (name, power, low, high) in best.items():
            mine = rate(pvalues[pvalues.n_signal == n_signal].pvalue)[0]
            others = [rate(g.pvalue)[0] for _, g in tests[tests.n_signal == n_signal].groupby("method")]
            held += mine >= power - TOLERANCE or low <= mine <= high
            beats += mine > max(others)
            powers.append(mine)
            cells.append(f"{case}@{n_signal}: {mine:.2f} vs {name} {power:.2f}")
    return dict(held=held, beats=beats, mean_power=float(np.mean(powers)), max_type1=max(type1), cells=cells)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("csv", type=Path, help="a bench_compare.py CSV with sparker-ladder and the baselines")
    parser.add_argument("--max-widths", type=int, default=3, help="largest ladder considered (cost grows with it)")
    parser.add_argument("--top", type=int, default=12, help="candidates printed")
    args = parser.parse_args()
    frame = pd.read_csv(args.csv, keep_default_na=False, na_values=[""])
    tuning = set(panel.halves()["tuning"])
    cases = [c for c in frame.case.unique() if c in tuning]
    if not cases:
        parser.error("the CSV holds no case of the panel's tuning half")
    ignored = sorted(set(frame.case.unique()) - tuning)
    print(f"tuning cases: {', '.join(cases)}" + (f"; ignored (not tuning): {', '.join(ignored)}" if ignored else ""))
    results = []
    for size in range(1, args.max_widths + 1):
        for columns in itertools.combinations(range(len(LADDER_FRACTIONS)), size):
            results.append((columns, score(frame, cases, list(columns))))
    results.sort(key=lambda r: (-r[1]["held"], -r[1]["beats"], -r[1]["mean_power"], r[1]["max_type1"], len(r[0])))
    n_cells = len(results[0][1]["cells"])
    print(f"\n| widths (x median) | cells held (of {n_cells}) | cells beating every baseline | mean power | max type-I |")
    print("|---|---:|---:|---:|---:|")
    for columns, s in results[: args.top]:
        name = ", ".join(str(LADDER_FRACTIONS[c]) for c in columns)
        print(f"| {name} | {s['held']} | {s['beats']} | {s['mean_power']:.3f} | {s['max_type1']:.2f} |")
    columns, s = results[0]
    print(f"\nchosen: {', '.join(str(LADDER_FRACTIONS[c]) for c in columns)} x median; per cell (SparKer vs the best baseline):")
    for cell in s["cells"]:
        print(f"  {cell}")
    print(f"\n(alpha = {ALPHA}; 'held' = power >= best baseline - {TOLERANCE} or inside its 95 % interval)")


if __name__ == "__main__":
    main()
