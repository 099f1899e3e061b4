"""The sensitivity explorer on the wiki case of bench_compare, timed, with its curve beside bench_compare's power.

    python benchmarks/bench_sensitivity.py [--experiments 20] [--counts 0,8,15,22,30] [--compare CSV]

The case is bench_compare's "wiki": the sample's common rows (reference and data splits together) as
the background, its 50 held-out-topic rows as the kind, 4,000 pseudo-reference and 600 pseudo-data
rows. ``sparker_core.sensitivity`` runs the counts with SparKer's defaults without the companion test
(``fixed_kernels=0``, as bench_compare's sparker rows) and MMD on one shared null; the table puts its power at each count beside the power bench_compare measured at the same
count (from the committed CSV, its own draws and null), with both 95 % Clopper-Pearson intervals.
The two agree where the intervals overlap.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from compare.cases import sample  # noqa: E402
from compare.report import rate, shared_pvalues  # noqa: E402
from compare.rows import read_csv  # noqa: E402

from sparker_core.sensitivity import LEVELS, estimate_cost, plan_sensitivity, sensitivity_iter  # noqa: E402

CASE = "wiki"
SIZES = {"n_reference": 4000, "n_data": 600}  # bench_compare's wiki case
SPARKER_ALONE = {"fixed_kernels": 0}  # bench_compare's sparker rows are SparKer without the companion test
METHODS = {"sparker": "sparker", "mmd": "mmd"}  # sensitivity's method -> bench_compare's


def compare_power(path: Path) -> dict:
    """bench_compare's (power, low, high) per (method, count) of the wiki case."""
    rows = read_csv(path)
    fits = shared_pvalues(rows[rows.case == CASE])
    tests = fits[fits.kind == "test"]
    return {(m, int(k)): rate(group.pvalue) for (m, k), group in tests.groupby(["method", "n_signal"])}


def cell(power: float, low: float, high: float) -> str:
    return f"{power:.2f} [{low:.2f}, {high:.2f}]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experiments", type=int, default=20)
    parser.add_argument("--counts", default="0,8,15,22,30")
    parser.add_argument("--compare", default=str(HERE / "results" / "compare-2026-12-01.csv"))
    args = parser.parse_args()

    print(f"bench_sensitivity.py, {time.strftime('%Y-%m-%d %H:%M')}; load average before: {os.getloadavg()[0]:.1f}")
    common, rare = sample(CASE)
    counts = [int(k) for k in args.counts.split(",")]
    plan = plan_sensitivity(common, rare, counts, n_experiments=args.experiments, options=SPARKER_ALONE, **SIZES)
    print(f"case {CASE}: background {len(common)} common rows, {len(rare)} rows of the held-out topic; "
          f"{plan.n_reference} reference + {plan.n_data} data rows per pseudo-experiment")
    start = time.perf_counter()
    cost = estimate_cost(plan)
    print(f"estimate ({time.perf_counter() - start:.1f} s to measure): {cost.describe()}", flush=True)
    start = time.perf_counter()
    for curve in sensitivity_iter(plan):
        pass
    seconds = time.perf_counter() - start
    print(f"run: {len(counts)} counts x {plan.n_experiments} pseudo-experiments + a shared null of {plan.n_null}, "
          f"{len(plan.methods)} methods: {seconds:.0f} s (estimated {cost.seconds:.0f} s)\n")

    theirs = compare_power(Path(args.compare))
    print(f"power at alpha = {plan.alpha:g} [95% CI]; bench_compare: {Path(args.compare).name}, its own draws and null\n")
    print("| k | sensitivity sparker | bench_compare sparker | sensitivity mmd | bench_compare mmd (own permutations) |")
    print("|---:|---|---|---|---|")
    agree = []
    for k in counts:
        line = [str(k)]
        for m in plan.methods:
            row = curve.power(m).set_index("count").loc[k]
            ours = (row.power, row.low, row.high)
            line.append(cell(*ours))
            other = theirs.get((METHODS[m], k))
            line.append(cell(*other) if other else "-")
            if other:
                agree.append(ours[1] <= other[2] and other[1] <= ours[2])
        print("| " + " | ".join(line) + " |")
    print(f"\nintervals overlap at {sum(agree)} of {len(agree)} compared points")
    for m in plan.methods:
        found = ", ".join(f"{level:.0%} power at k = {curve.smallest_count(level, m)}" for level in LEVELS)
        print(f"{m}: {found}")


if __name__ == "__main__":
    main()
