"""Which region ranking and which member radius put the anomalies in the region ranked first?

    python benchmarks/bench_localisation.py --cases text-topic-a digits-5 [--n-null 40] [--realisations 20]

For each evaluation-panel case: ``--n-null`` no-signal re-splits and ``--realisations`` re-splits per
signal level (the seeds of ``ablate_settings.py``), one default fit each. A realisation's p-value is
its min-p over the final widths, ranked among the null draws' (``calibration.combined_statistics``);
the scale shown is the width with the smallest p, as ``SparKer.calibrate`` shows it. On that scale's
regions every rule below picks a first region; its *share* is the fraction of its data members that
are anomalies. Printed per (case, signal level): how many of the shown scale's initial centres
are anomaly rows (mean over the realisations), and over the rejecting realisations (p <= 0.05) the mean
share of every rule and how many of them reach a share of 0.7 (the issue's target); a first region
with no data member counts as share 0.

Rules: a ranking of the active excess regions (``delta_t``: the drop in t when the kernel is silenced,
the library's ranking; ``significance``: the local binomial Z of the member split; ``excess``: data
members minus the reference's expectation) with a member radius (``half``: k >= 1/2, the library's
``MEMBER_RADIUS``; ``tight``: k >= 0.8). Only tuning-half cases are accepted unless ``--heldout``.
Runs ``--jobs`` processes with one torch thread each.
"""

from __future__ import annotations

import argparse
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
RADII = {"half": float(np.sqrt(2.0 * np.log(2.0))), "tight": float(np.sqrt(2.0 * np.log(1.0 / 0.8)))}
RANKINGS = ("delta_t", "significance", "excess")
TARGET = 0.7


def _first_region_shares(model: SparKer, is_signal: np.ndarray) -> dict[str, float]:
    """rule name -> signal share of the data members of the first active excess region (0 when none)."""
    shares = {}
    for radius_name, radius in RADII.items():
        table = model.explain(member_radius=radius)
        excess = table[table["kind"] == "excess"]
        for ranking in RANKINGS:
            if excess.empty:
                shares[f"{ranking}/{radius_name}"] = 0.0
                continue
            first = excess.sort_values(ranking, ascending=False, kind="stable").iloc[0]
            members = np.asarray(first["members_data"], dtype=int)
            shares[f"{ranking}/{radius_name}"] = float(is_signal[members].mean()) if members.size else 0.0
    return shares


def _anomaly_starts(model: SparKer, data: np.ndarray, is_signal: np.ndarray) -> int:
    """How many of the shown scale's initial centres (data rows, ``init="excess"``) are anomalies."""
    starts = np.asarray(model.history_[0].centers, dtype=np.float64)
    rows = np.asarray(data, dtype=np.float64)
    d2 = (starts**2).sum(1)[:, None] - 2.0 * starts @ rows.T + (rows**2).sum(1)[None]
    return int(is_signal[d2.argmin(1)].sum())


def _unit(job):
    os.environ["OMP_NUM_THREADS"] = "1"
    import torch

    torch.set_num_threads(1)
    case, n_null, n_real = job
    spec = panel.CASES[case]
    start = time.perf_counter()
    null = []
    for i in range(n_null):
        reference, data, _ = panel.resplit(NULL_SEED + i, 0, case, spec.n_ref, spec.n_data)
        null.append(SparKer(seed=NULL_SEED + i).fit(reference, data).t_scales_)
    null = np.array(null).T  # (widths, n_null)
    cells = {}
    for k in spec.signals[1:]:
        rows = []
        for r in range(n_real):
            seed = 1000 * k + r
            reference, data, is_signal = panel.resplit(seed, k, case, spec.n_ref, spec.n_data)
            model = SparKer(seed=seed).fit(reference, data)
            t = model.t_scales_
            stat, stat_null = combined_statistics(t, null, "minp")
            p = empirical_pvalue(stat, stat_null)
            shown = int(np.argmin([empirical_pvalue(t[w], null[w]) for w in range(len(t))]))
            shown_model = model.show_scale(shown)
            shares = _first_region_shares(shown_model, is_signal)
            shares["starts"] = _anomaly_starts(shown_model, data, is_signal)
            rows.append((p, shares))
        cells[k] = rows
    return case, cells, time.perf_counter() - start


def main(argv=None) -> None:
    args = panel.study_arguments(argparse.ArgumentParser(description=__doc__.splitlines()[0]), 40, 20, argv)
    rules = [f"{ranking}/{radius}" for radius in RADII for ranking in RANKINGS]
    print(f"$ python benchmarks/bench_localisation.py {' '.join(sys.argv[1:]) if argv is None else ' '.join(argv)}")
    print(f"null draws {args.n_null}, realisations {args.realisations} per level, alpha {ALPHA}; "
          f"per rule: mean share of anomalies in the first region over the rejecting realisations, "
          f"and how many reach {TARGET:.0%}\n")
    print("| case | n_signal | rejected | anomalies among the starts | " + " | ".join(rules) + " | s |")
    print("|---|---:|---:|---:|" + "---|" * len(rules) + "---:|")
    totals = {rule: [] for rule in rules}
    everywhere = {rule: [] for rule in rules}  # every realisation, rejecting or not
    cells_met = {rule: 0 for rule in rules}
    n_cells = 0
    jobs = [(case, args.n_null, args.realisations) for case in args.cases]
    with get_context("spawn").Pool(args.jobs) as pool:
        for case, cells, seconds in pool.imap(_unit, jobs):
            for k, rows in cells.items():
                rejected = [shares for p, shares in rows if p <= ALPHA]
                for rule in rules:
                    everywhere[rule] += [shares[rule] for _, shares in rows]
                text = []
                for rule in rules:
                    values = [shares[rule] for shares in rejected]
                    totals[rule] += values
                    if values:
                        mean = float(np.mean(values))
                        cells_met[rule] += mean >= TARGET
                        text.append(f"{mean:.2f} ({sum(v >= TARGET for v in values)})")
                    else:
                        text.append("-")
                n_cells += bool(rejected)
                starts = np.mean([shares["starts"] for _, shares in rows])
                print(f"| {case} | {k} | {len(rejected)}/{len(rows)} | {starts:.1f} | " + " | ".join(text)
                      + f" | {seconds:.0f} |", flush=True)
    print()
    for rule in rules:
        values = totals[rule]
        print(f"{rule}: mean share {np.mean(values) if values else float('nan'):.3f} over {len(values)} rejecting "
              f"realisations; {sum(v >= TARGET for v in values)} reach {TARGET:.0%}; "
              f"cells with mean share >= {TARGET:.0%}: {cells_met[rule]} of {n_cells}; "
              f"mean share over all {len(everywhere[rule])} realisations {np.mean(everywhere[rule]):.3f}")


if __name__ == "__main__":
    main()
