"""One line per case and signal level of a ``bench_compare.py`` run: SparKer against the best baseline.

    python benchmarks/summarise.py benchmarks/results/compare-DATE.csv [--method sparker] [--baselines OTHER.csv]

For each case (grouped by the evaluation panel's half, then the cases before the panel) and signal
level: SparKer's power at alpha = 0.05 with its 95 % interval, the best baseline's, whether SparKer
holds the issue's target (at least the best baseline's power minus 0.05, or inside its interval),
whether it beats every baseline, the type-I error of SparKer and of the best baseline at that case,
and the share of signal rows among the top region's members where SparKer rejected (target: >= 70 %).
The p-values of the shared-null methods are filled exactly as ``bench_compare.py`` fills them
(``compare.report.shared_pvalues``); CSVs of the older layout (';'-joined widths) are read too.
``--baselines OTHER.csv`` takes the baselines' rows from another run of the same cases (their draws
depend on the case, the signal level and the realisation index only, so a SparKer-only run with the
same number of realisations is compared on the very same data): the baselines do not depend on
SparKer's settings, and rerunning them costs most of a comparison's time.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent / "panel"))
import panel  # noqa: E402
from compare.report import ALPHA, rate, shared_pvalues  # noqa: E402
from compare.rows import read_csv  # noqa: E402
from choose_widths import BASELINES, TOLERANCE, best_baselines  # noqa: E402


def summarise(frame: pd.DataFrame, method: str) -> list[str]:
    halves = panel.halves()
    groups = [("tuning", halves["tuning"]), ("held-out", halves["heldout"]),
              ("before the panel", [c for c in frame.case.unique() if c not in panel.CASES])]
    lines = ["| half | case | signal | SparKer | best baseline | held | beats all | type-I SparKer / best | top region signal share where rejected |",
             "|---|---|---:|---|---|:-:|:-:|---|---|"]
    totals = {}
    for half, names in groups:
        for case in [c for c in names if c in set(frame.case)]:
            tests = frame[(frame.case == case) & (frame.kind == "test")]
            type1 = {m: rate(g.pvalue)[0] for m, g in tests[tests.n_signal == 0].groupby("method")}
            for n_signal, (best, best_power, best_low, best_high) in best_baselines(frame, case).items():
                mine = tests[(tests.n_signal == n_signal) & (tests.method == method)]
                power, low, high = rate(mine.pvalue)
                held = power >= best_power - TOLERANCE or best_low <= power <= best_high
                beats = power > best_power  # above the best baseline is above every baseline
                rejected = mine[mine.pvalue <= ALPHA].top_kernel_signal_share.dropna()
                share = f"{rejected.mean():.0%} over {len(rejected)}" if len(rejected) else "none rejected"
                lines.append(f"| {half} | {case} | {n_signal} | {power:.2f} [{low:.2f}, {high:.2f}] | {best} "
                             f"{best_power:.2f} [{best_low:.2f}, {best_high:.2f}] | {'yes' if held else 'no'} | "
                             f"{'yes' if beats else 'no'} | {type1.get(method, np.nan):.2f} / {type1.get(best, np.nan):.2f} | {share} |")
                held_n, beats_n, powers = totals.get(half, (0, 0, []))
                totals[half] = (held_n + held, beats_n + beats, powers + [power])
    lines.append("")
    for half, (held_n, beats_n, powers) in totals.items():
        lines.append(f"{half}: held {held_n} of {len(powers)} cells, beats every baseline in {beats_n}, "
                     f"mean power {np.mean(powers):.3f}")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("csv", type=Path, help="a bench_compare.py CSV (full mode)")
    parser.add_argument("--method", default="sparker", help="the SparKer method to summarise (default: sparker)")
    parser.add_argument("--baselines", type=Path, default=None,
                        help="take the baselines' rows from this bench_compare.py CSV (same cases and realisations)")
    args = parser.parse_args()
    frame = read_csv(args.csv)
    if args.baselines is not None:
        other = read_csv(args.baselines)
        other = other[other.method.isin(BASELINES) & other.case.isin(set(frame.case))]
        mine = frame[(frame.method == args.method) & (frame.scale == 0)]  # one row per test
        sizes = {(c, k): len(g) for (c, k), g in mine[mine.kind == "test"].groupby(["case", "n_signal"])}
        for (case, n_signal), g in other[other.kind == "test"].groupby(["case", "n_signal"]):
            if g.realisation.nunique() != sizes.get((case, n_signal)):
                sys.exit(f"--baselines: {case} at {n_signal} has {g.realisation.nunique()} realisations there and "
                         f"{sizes.get((case, n_signal))} of {args.method} here; the draws must be the same.")
        frame = pd.concat([frame[~frame.method.isin(BASELINES)], other], ignore_index=True)
    frame = pd.concat([shared_pvalues(group.copy()) for _, group in frame.groupby("case")], ignore_index=True)
    source = f" (baselines from {args.baselines})" if args.baselines else ""
    print(f"{args.csv}: {args.method} against the best of {', '.join(BASELINES)}{source} (alpha = {ALPHA})\n")
    print("\n".join(summarise(frame, args.method)))


if __name__ == "__main__":
    main()
