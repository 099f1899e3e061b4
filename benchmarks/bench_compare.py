"""SparKer against the baselines: power, type-I error, run time, peak memory, and where it points.

    python benchmarks/bench_compare.py --quick                  # smoke run for CI (a few minutes, 1 thread)
    python benchmarks/bench_compare.py --jobs 2                 # full: 50 realisations, null of 100; updates benchmarks/README.md
    python benchmarks/bench_compare.py --realisations 10        # the full cases, fewer realisations (the header says so)

Cases (each also with no signal; the data rows of the signal are known):
  nplm1d   the NPLM 1-D benchmark: reference Exp(1), N_R = 20,000; data Poisson(2,000) rows of Exp(1)
           plus n_signal rows of N(6.4, 0.16^2).
  (full mode: n_signal in {0, 10, 20} for nplm1d, gauss-d and digits, {0, 15, 30} for wiki)
  gauss-d  d-dimensional standard Gaussian, N_R = 4,000, N_D = 500, d in {2, 16, 128}; n_signal data
           rows replaced by a compact bump: centre (1, ..., 1) (a point at the typical radius sqrt(d)),
           per-coordinate sd 0.25.
  wiki     sample_data/wiki (MiniLM, d = 384): each realisation re-splits the 5,950 common sentences
           into a reference of 4,000 and 600 - n_signal data rows, plus n_signal of the 50
           "Andre Agassi" sentences.
  digits   sample_data/digits (d = 64): the 1,619 non-zero images re-split into a reference of 1,100 and
           400 - n_signal data rows, plus n_signal of the 24 zeros.
The wiki and digits realisations are random re-splits of one finite sample, not independent draws.

How the power is calibrated. SparKer's and the fixed-centre kernel NPLM's null toys are full fits, so
calibrating every realisation by its own toys would cost (1 + n_toys) fits per test. As in the NPLM
papers, these two statistics share one null per case instead: ``--n-null`` (100) NO-SIGNAL draws of
the case (the generator with n_signal = 0 and seeds NULL_SEED + j, disjoint from every realisation
seed; for wiki and digits, re-splits with n_signal = 0), one fit each, whose t values are the
method's null distribution for that case. Every realisation (every signal level, and n_signal = 0
for the type-I error) is then ONE fit with p = (1 + #{t_null >= t}) / (1 + n_null). The no-signal
realisations are fresh draws, independent of the null draws, so the type-I row is a real check.
This estimates the power of each statistic at its exact level; the per-dataset permutation
calibration a user runs (``SparKer.calibrate``, ``fixed_centers_np_test``) has the same level, and
it is what the run-time column times. The other methods are cheap to calibrate and keep their own
per-realisation calibration: MMD with the median bandwidth, MMDAgg-style aggregated MMD and the kNN
test (k = 10, data-only statistic) with ``--n-toys`` (100) permutations each; the cross-fitted
classifier test with the exact one-sided binomial test of its class-balanced held-out accuracy
(default logistic regression, no permutations; the held-out AUC with refitting permutations took
89 s per test on wiki).

Per case and signal it prints the rejection rate at alpha = 0.05 with Clopper-Pearson 95% intervals
(type-I error at n_signal = 0); the median seconds of one COMPLETE test as a user runs it (SparKer:
fit + ``calibrate(n_toys)``; fixed centres: ``fixed_centers_np_test(n_toys=...)``, both timed on
``--timing-runs`` (2) realisations at the largest signal; the others: every test of the power run)
with the ratio to SparKer's; the peak resident memory one complete test adds to its inputs, in a
fresh process (full mode); and for SparKer the share of its top kernel's data members
(``explain()`` row 0 of the single fit of each signal realisation) that are signal rows. It also
times SparKer with 100 toys against MMD with 1,000 permutations at N_R = 18,000, N_D = 2,000,
d = 384. Timings are printed, never asserted.
Full mode writes benchmarks/results/compare-DATE.md, .csv and one PNG of power vs signal per case,
and replaces the text between the compare markers of benchmarks/README.md (``--out`` elsewhere skips
that, unless ``--readme PATH`` names the file to update). The CSV holds one typed row per test, and
one per width of a multi-scale fit (compare/rows.py), each with its test's p-value. The pieces live
in benchmarks/compare/: cases.py, methods.py (the registry of methods), rows.py, run.py, report.py;
this file is the command line.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import shlex
import sys
import time
from pathlib import Path

import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
# Names the tests and other scripts read from this entry point are imported here too (F401).
from compare.cases import MAX_REALISATIONS, NULL_SEED, Case, cases, groups, realisation_seed  # noqa: E402,F401
from compare.methods import DEFAULT_METHODS, METHODS, shared_null  # noqa: E402
from compare.report import (  # noqa: E402,F401
    ALPHA,
    BEGIN,
    END,
    case_section,
    plot,
    readme_block,
    replace_between_markers,
    shared_pvalues,
    with_pvalues,
)
from compare.rows import fit_rows, to_frame  # noqa: E402,F401
from compare.run import Plan, run_units, set_threads, speed_ratio, units  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
README = ROOT / "benchmarks" / "README.md"


def parse(argv=None) -> tuple[argparse.Namespace, Plan]:
    """The options, checked, and the run's plan."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="small sizes, 2 realisations, null of 20, 20 permutations, 1 thread (CI smoke run)")
    parser.add_argument("--realisations", type=int, default=None, help="realisations per signal level (full: 50)")
    parser.add_argument("--n-null", type=int, default=None,
                        help="no-signal fits per case in the shared null of sparker and fixed (full: 100)")
    parser.add_argument("--n-toys", type=int, default=None,
                        help="permutations of mmd, mmd-agg, knn and toys of the timed complete tests (full: 100)")
    parser.add_argument("--timing-runs", type=int, default=None,
                        help="complete sparker / fixed tests timed per case at the largest signal (full: 2, quick: 1)")
    parser.add_argument("--cases", nargs="+", default=None,
                        help="case names to run, or the groups 'tuning' and 'heldout' (the evaluation panel's halves) "
                             "and 'old' (the cases before the panel) (default: all)")
    parser.add_argument("--methods", nargs="+", default=list(DEFAULT_METHODS), choices=METHODS)
    parser.add_argument("--threads", type=int, default=None,
                        help="cap torch/BLAS/OpenMP threads (full default: the libraries' own; quick default: 1, "
                             "which keeps a shared machine usable and avoids OpenMP spinning when cores are oversubscribed)")
    parser.add_argument("--jobs", type=int, default=1,
                        help="run the cases' independent pieces (shared null, each signal level, memory) in this many "
                             "processes, one thread each unless --threads says otherwise (full run here: 2)")
    parser.add_argument("--no-memory", action="store_true", help="skip the fresh-process peak-memory runs")
    parser.add_argument("--no-speed", action="store_true", help="skip the SparKer vs MMD speed comparison")
    parser.add_argument("--speed-only", action="store_true", help="only the SparKer vs MMD speed comparison (full sizes)")
    parser.add_argument("--out", type=Path, default=RESULTS, help="full mode: where results go")
    parser.add_argument("--readme", type=Path, default=None,
                        help="full mode: the file whose compare markers get the tables (default: benchmarks/README.md "
                             "when --out is benchmarks/results, else none)")
    args = parser.parse_args(argv)
    if args.quick and (args.readme or args.out != RESULTS):
        parser.error("--quick writes nothing: --out and --readme are for the full mode")
    pick = lambda given, quick, full: given if given is not None else (quick if args.quick else full)  # noqa: E731
    plan = Plan(n_real=pick(args.realisations, 2, 50), n_null=pick(args.n_null, 20, 100), n_toys=pick(args.n_toys, 20, 100),
                timing_runs=pick(args.timing_runs, 1, 2))
    if not 1 <= plan.n_real <= MAX_REALISATIONS:  # keeps realisation seeds below NULL_SEED
        parser.error(f"--realisations must be in 1..{MAX_REALISATIONS}; got {plan.n_real}")
    if plan.n_null < 1 or plan.n_toys < 1 or plan.timing_runs < 0:
        parser.error("--n-null and --n-toys must be positive and --timing-runs >= 0")
    plan = Plan(plan.n_real, plan.n_null, plan.n_toys, min(plan.timing_runs, plan.n_real))
    known = [c.name for c in cases(args.quick)]
    if args.cases:  # the group names "tuning" and "heldout" (the panel's halves) and "old" stand for their cases
        named = groups(known)
        args.cases = [n for name in args.cases for n in named.get(name, [name])]
    if args.cases and set(args.cases) - set(known):
        parser.error(f"--cases: unknown {sorted(set(args.cases) - set(known))}; known: {known}")
    args.readme = args.readme or (README if args.out.resolve() == RESULTS else None)
    if args.readme is not None and not args.quick:
        replace_between_markers(args.readme.read_text(), "")  # a README without its markers fails now, not after the run
    if args.jobs < 1:
        parser.error(f"--jobs must be >= 1; got {args.jobs}")
    if args.quick and args.threads is None:
        args.threads = 1
    args.methods = ["sparker"] + [m for m in args.methods if m != "sparker"]
    return args, plan


def header_lines(args: argparse.Namespace, plan: Plan, stamp: str) -> list[str]:
    """The run's facts: mode, sizes of the run, machine."""
    mode = "QUICK (smoke run: reduced sizes, not a measurement of power)" if args.quick else "full"
    if not args.quick and (plan.n_real < 50 or plan.n_null < 100 or plan.n_toys < 100):
        mode += (f" (REDUCED: {plan.n_real} realisations per signal level, null of {plan.n_null}, {plan.n_toys} permutations;"
                 " full is 50, 100 and 100)")
    shared = shared_null(args.methods)
    return [
        f"bench_compare.py, {stamp}, mode: {mode}",
        f"realisations per signal level: {plan.n_real} (fresh draws / re-splits); shared null of {', '.join(shared)}: "
        f"{plan.n_null} no-signal fits per case; permutations of mmd, mmd-agg, knn: {plan.n_toys}; c2st: exact binomial "
        f"test of held-out accuracy; complete tests timed for {' and '.join(shared)}: {plan.timing_runs} per case with "
        f"{plan.n_toys} toys; alpha = {ALPHA}",
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__} "
        f"with {torch.get_num_threads()} threads in each of {args.jobs} job(s); load average before: {os.getloadavg()[0]:.1f}",
    ]


def main() -> None:
    args, plan = parse()
    if args.speed_only:
        set_threads(args.threads or os.cpu_count())
        print(f"$ {shlex.join(['python', 'benchmarks/bench_compare.py', *sys.argv[1:]])}; load average {os.getloadavg()[0]:.1f}")
        for size in [(9000, 1000), (18000, 2000)]:
            print(speed_ratio(*size), flush=True)
        return
    threads = args.threads or (1 if args.jobs > 1 else None)  # each parallel job gets one thread unless told
    set_threads(threads)
    methods = args.methods
    selected = [c for c in cases(args.quick) if args.cases is None or c.name in args.cases]
    now = datetime.datetime.now()
    stamp, day = now.strftime("%Y-%m-%d %H:%M"), now.strftime("%Y-%m-%d")
    command = shlex.join(["python", "benchmarks/bench_compare.py", *sys.argv[1:]])
    header = header_lines(args, plan, stamp)
    print("\n".join(header), flush=True)
    start = time.perf_counter()

    pieces = units(selected, methods, measure_memory=not (args.quick or args.no_memory))
    partial = None
    if not args.quick:
        args.out.mkdir(parents=True, exist_ok=True)
        partial = args.out / f"compare-{day}.partial.csv"
        partial.unlink(missing_ok=True)
    results = dict(zip([(c.name, w) for c, w in pieces], run_units(pieces, plan, methods, threads, args.jobs, partial)))

    report, frames, sections, pngs = list(header), [], [], {}
    for case in selected:
        rows = to_frame([row for (name, what), out in results.items() if name == case.name and what != "memory" for row in out])
        frames.append(with_pvalues(rows))
        text = case_section(case.name, case.sizes, rows, plan.n_null, methods, results.get((case.name, "memory"), {}))
        print(text, flush=True)
        report.append(text)
        sections.append((case.name, text))
        if not args.quick:
            pngs[case.name] = args.out / f"compare-{day}-{case.name}.png"
            plot(shared_pvalues(rows), case.name, methods, pngs[case.name])
            pd.concat(frames).to_csv(args.out / f"compare-{day}.csv", index=False)
    if partial is not None:
        partial.unlink(missing_ok=True)  # the complete CSV now holds every row
    speed = None
    if not args.no_speed:
        set_threads(args.threads or os.cpu_count())  # the speed comparison runs alone, after the jobs, with the main process's threads
        sizes = [(4500, 500)] if args.quick else [(9000, 1000), (18000, 2000)]
        speed = "\n".join(speed_ratio(*size) for size in sizes)
        speed += " (QUICK: reduced size; the full mode uses N_R = 9,000 / 18,000, N_D = 1,000 / 2,000)" if args.quick else ""
        print("\n" + speed)
        report.append("\n" + speed)
    footer = f"total {time.perf_counter() - start:.0f} s; load average after: {os.getloadavg()[0]:.1f}"
    print(footer)
    report.append(footer)
    if args.quick:
        return
    (args.out / f"compare-{day}.md").write_text(f"`{command}`\n\n" + "\n".join(report) + "\n")
    print(f"wrote {args.out}/compare-{day}.md, .csv and .png")
    if args.readme is None:
        print("README not updated (--out is not benchmarks/results; give --readme PATH to update one)")
        return
    block = readme_block(command, header, sections, pngs, speed, footer, args.readme)
    args.readme.write_text(replace_between_markers(args.readme.read_text(), block))
    print(f"updated the compare markers of {args.readme}")


if __name__ == "__main__":
    main()
