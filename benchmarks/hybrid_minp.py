"""The default test's p-value, SparKer's widths and the fixed-centre companion combined, on a comparison run.

    python benchmarks/hybrid_minp.py benchmarks/results/defaults-2026-12-01/compare-2026-12-01.csv \
        --baselines benchmarks/results/compare-2026-12-01.csv

A post-hoc study of ``bench_compare.py`` CSVs: the ``sparker`` rows of the first and the baselines'
rows (``fixed`` among them) of ``--baselines`` (default: the same file), drawn on the same re-splits.
SparKer and the fixed-centre kernel NPLM (200 centres on data rows, width 0.35 x median: the
companion test of ``fixed_kernels``) are calibrated on the same shared null draws, so the joint null
of their statistics is known and their combination is calibrated exactly, as ``calibrate`` combines
them on its toys (``calibration.companion_statistics``: the widths' min-p statistic, then the min p
of it and the companion's t). Per case and signal level: the power at alpha = 0.05 of SparKer alone,
of the fixed-centre test, of the combination, the best baseline, and whether each holds the issue's
target; then per half the cells held, the cells where it beats every baseline, the mean power and the
combination's largest type-I error. Nothing is refitted.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent / "panel"))
import panel  # noqa: E402
from choose_widths import BASELINES, TOLERANCE, best_baselines  # noqa: E402
from compare.report import shared_pvalues  # noqa: E402
from compare.rows import read_csv  # noqa: E402

from sparker_core import empirical_pvalue  # noqa: E402
from sparker_core.calibration import combined_statistics, companion_statistics  # noqa: E402

ALPHA = 0.05


def _statistics(rows: pd.DataFrame, method: str) -> tuple[np.ndarray, np.ndarray]:
    """(seeds, t of shape (n, widths)) of one method's rows (``compare.rows.read_csv``: one per width), by seed."""
    table = rows[rows["method"] == method].pivot(index="seed", columns="scale", values="t").sort_index()
    return table.index.to_numpy(), table.to_numpy(dtype=float)


def _pvalues(null: pd.DataFrame, test: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    null_seeds, null_s = _statistics(null, "sparker")
    fixed_seeds, null_f = _statistics(null, "fixed")
    if not np.array_equal(null_seeds, fixed_seeds):
        raise ValueError("sparker and fixed were not run on the same null draws")
    seeds, t_s = _statistics(test, "sparker")
    fixed_test_seeds, t_f = _statistics(test, "fixed")
    if not np.array_equal(seeds, fixed_test_seeds):
        raise ValueError("sparker and fixed were not run on the same realisations")
    p_s, p_f, p_h = [], [], []
    for r in range(len(seeds)):
        s_obs, s_null = combined_statistics(t_s[r], null_s.T, "minp")
        p_s.append(empirical_pvalue(s_obs, s_null))
        p_f.append(empirical_pvalue(t_f[r, 0], null_f[:, 0]))
        h_obs, h_null = companion_statistics(t_s[r], null_s.T, "minp", t_f[r, 0], null_f[:, 0])  # as calibrate combines them
        p_h.append(empirical_pvalue(h_obs, h_null))
    return np.array(p_s), np.array(p_f), np.array(p_h)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("csv", type=Path, help="rows of the method sparker")
    parser.add_argument("--baselines", type=Path, help="rows of the baselines (default: csv)")
    args = parser.parse_args(argv)
    frame = read_csv(args.csv)
    rows = frame[frame["method"] == "sparker"]
    other = read_csv(args.baselines) if args.baselines else frame
    other = other[other["method"].isin(BASELINES) & other["case"].isin(rows["case"].unique())]
    baselines = pd.concat([shared_pvalues(group.copy()) for _, group in other.groupby("case")], ignore_index=True)
    rows = pd.concat([rows, other[other["method"] == "fixed"]])
    print(f"$ python benchmarks/hybrid_minp.py {' '.join(sys.argv[1:]) if argv is None else ' '.join(argv)}")
    print(f"power at alpha = {ALPHA}; held: at least the best baseline's power minus {TOLERANCE} or inside its interval\n")
    print("| case | n_signal | SparKer | fixed | min-p of both | best baseline | held: SparKer / both |")
    print("|---|---:|---:|---:|---:|---|---|")
    halves = {name: case.half for name, case in panel.CASES.items()}
    totals: dict = {}
    for case, group in rows.groupby("case", sort=False):
        null = group[group["kind"] == "null"]
        best = best_baselines(baselines, case)
        half = {"tuning": "tuning", "heldout": "held-out"}.get(halves.get(case), "before the panel")
        for n_signal, test in group[group["kind"] == "test"].groupby("n_signal"):
            powers = [float(np.mean(p <= ALPHA)) for p in _pvalues(null, test)]
            if n_signal == 0:
                print(f"| {case} | 0 | {powers[0]:.2f} | {powers[1]:.2f} | {powers[2]:.2f} | (type-I) | |")
                totals.setdefault(half, {"sparker": [], "both": [], "type1": []})["type1"].append(powers[2])
                continue
            name, best_power, low, high = best[n_signal]
            held = [p >= best_power - TOLERANCE or low <= p <= high for p in (powers[0], powers[2])]
            print(f"| {case} | {n_signal} | {powers[0]:.2f} | {powers[1]:.2f} | {powers[2]:.2f} | {name} {best_power:.2f} "
                  f"[{low:.2f}, {high:.2f}] | {'yes' if held[0] else 'no'} / {'yes' if held[1] else 'no'} |")
            cell = totals.setdefault(half, {"sparker": [], "both": [], "type1": []})
            cell["sparker"].append((powers[0], held[0], powers[0] > best_power))
            cell["both"].append((powers[2], held[1], powers[2] > best_power))
    print()
    for half, cell in totals.items():
        for label, key in (("SparKer alone", "sparker"), ("min-p with the companion", "both")):
            values = cell[key]
            print(f"{half}, {label}: held {sum(v[1] for v in values)} of {len(values)} cells, beats every baseline in "
                  f"{sum(v[2] for v in values)}, mean power {np.mean([v[0] for v in values]):.3f}")
        print(f"{half}, min-p with the companion: largest type-I error {max(cell['type1']):.2f}")


if __name__ == "__main__":
    main()
