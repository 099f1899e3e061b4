"""Power of SparKer settings on evaluation-panel cases, on one shared null per (case, setting).

    python benchmarks/ablate_settings.py --cases text-topic-a digits-5 \\
        --variant default '{}' --variant clip10 '{"amplitude_clip": 10}' [--n-null 60] [--realisations 30]

Each variant is a name and a JSON object of ``SparKer`` parameters on top of the defaults (the
default final widths are "auto": ``AUTO_SIGMA_FINAL_FRACTIONS`` x the median distance, combined by
min-p). Per case and variant: ``--n-null`` no-signal re-splits (seeds 1000000...) and
``--realisations`` re-splits per signal level (seeds 1000 n_signal + r, as ``bench_compare.py``),
one fit each; a realisation's p-value is its min-p statistic ranked among the null draws'
(``calibration.combined_statistics``, then ``empirical_pvalue``). Printed per cell: the median null
t of each width (how much of t a fit gains on noise), the power of each width alone, and the power
of the combined test, at alpha = 0.05. Only tuning-half cases are accepted unless ``--heldout`` is
given: defaults are chosen on the tuning half.

Runs ``--jobs`` processes with one torch thread each.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from multiprocessing import get_context
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent / "panel"))
import panel  # noqa: E402

from sparker_core import SparKer, empirical_pvalue  # noqa: E402
from sparker_core.calibration import combined_statistics  # noqa: E402

ALPHA = 0.05
NULL_SEED = 1_000_000


def fit_t(case: str, settings: dict, seed: int, n_signal: int) -> list[float]:
    """t of every final width of one fit of one re-split."""
    spec = panel.CASES[case]
    reference, data, _ = panel.resplit(seed, n_signal, case, spec.n_ref, spec.n_data)
    return SparKer(seed=seed, **settings).fit(reference, data).t_scales_.tolist()


def _unit(job):
    os.environ["OMP_NUM_THREADS"] = "1"
    import torch

    torch.set_num_threads(1)
    case, name, settings, n_null, n_real = job
    start = time.perf_counter()
    null = np.array([fit_t(case, settings, NULL_SEED + i, 0) for i in range(n_null)]).T  # (widths, n_null)
    tests = {k: np.array([fit_t(case, settings, 1000 * k + r, k) for r in range(n_real)]).T
             for k in panel.CASES[case].signals[1:]}
    return case, name, null, tests, time.perf_counter() - start


def summarise(null: np.ndarray, tests: dict) -> tuple[list[float], dict]:
    """(median null t per width, {n_signal: (power per width, combined power)})."""
    out = {}
    for k, t in tests.items():
        per_width = [float(np.mean([empirical_pvalue(v, null[w]) <= ALPHA for v in t[w]])) for w in range(len(null))]
        combined = []
        for r in range(t.shape[1]):
            stat, stat_null = combined_statistics(t[:, r], null, "minp")
            combined.append(empirical_pvalue(stat, stat_null) <= ALPHA)
        out[k] = (per_width, float(np.mean(combined)))
    return np.median(null, axis=1).tolist(), out


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variant", nargs=2, action="append", metavar=("NAME", "JSON"), required=True)
    args = panel.study_arguments(parser, 60, 30, argv)
    variants = {name: json.loads(text) for name, text in args.variant}
    jobs = [(case, name, settings, args.n_null, args.realisations) for case in args.cases for name, settings in variants.items()]
    print(f"$ python benchmarks/ablate_settings.py {' '.join(sys.argv[1:]) if argv is None else ' '.join(argv)}")
    print(f"null draws {args.n_null}, realisations {args.realisations} per level, alpha {ALPHA}\n")
    print("| case | variant | median null t by width | n_signal: power by width -> combined | s |")
    print("|---|---|---|---|---:|")
    totals: dict[str, list[float]] = {name: [] for name in variants}
    with get_context("spawn").Pool(args.jobs) as pool:
        for case, name, null, tests, seconds in pool.imap(_unit, jobs):
            medians, power = summarise(null, tests)
            totals[name] += [p[1] for p in power.values()]
            cells = "; ".join(f"{k}: {'/'.join(f'{v:.2f}' for v in p[0])} -> {p[1]:.2f}" for k, p in power.items())
            print(f"| {case} | {name} | {' / '.join(f'{m:.1f}' for m in medians)} | {cells} | {seconds:.0f} |", flush=True)
    print()
    for name, values in totals.items():
        print(f"{name}: mean combined power {np.mean(values):.3f} over {len(values)} cells")


if __name__ == "__main__":
    main()
