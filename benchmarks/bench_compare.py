"""SparKer against the baselines: power, type-I error, run time, peak memory, and where it points.

    python benchmarks/bench_compare.py --quick                  # smoke run for CI, 3-4 minutes on 2 cores (1 thread)
    python benchmarks/bench_compare.py                          # full: 50 realisations, 100 toys (~20 h here)
    python benchmarks/bench_compare.py --realisations 10        # the full cases, fewer realisations

Cases (each also with no signal; the data rows of the signal are known):
  nplm1d   the NPLM 1-D benchmark: reference Exp(1), N_R = 20,000; data Poisson(2,000) rows of Exp(1)
           plus n_signal rows of N(6.4, 0.16^2).
  gauss-d  d-dimensional standard Gaussian, N_R = 4,000, N_D = 500, d in {2, 16, 128}; n_signal data
           rows replaced by a compact bump: centre (1, ..., 1) (a point at the typical radius sqrt(d)),
           per-coordinate sd 0.25.
  wiki     sample_data/wiki (MiniLM, d = 384): each realisation re-splits the 5,950 common sentences
           into a reference of 4,000 and 600 - n_signal data rows, plus n_signal of the 50
           "Andre Agassi" sentences.
  digits   sample_data/digits (d = 64): the 1,619 non-zero images re-split into a reference of 1,100 and
           400 - n_signal data rows, plus n_signal of the 24 zeros.
The wiki and digits realisations are random re-splits of one finite sample, not independent draws.

Methods: SparKer with its defaults and ``calibrate(n_toys)`` (permutation); MMD (median bandwidth)
and MMDAgg-style aggregated MMD with n_toys permutations; the cross-fitted classifier test (held-out
AUC, default logistic regression, n_toys permutations with refitting); the kNN test (k = 10, data-only
statistic, n_toys permutations); the fixed-centre kernel NPLM (200 centres, SparKer's toys).
Per case and signal it prints the rejection rate at alpha = 0.05 with Clopper-Pearson 95% intervals
(type-I error at n_signal = 0), the median seconds per test with the ratio to SparKer's, the peak
resident memory one test adds to its inputs, in a fresh process (full mode), and for SparKer the share of its top
kernel's data members (``explain()`` row 1) that are signal rows. It also times SparKer with 100
toys against MMD with 1,000 permutations at N = 20,000, d = 384. Timings are printed, never asserted.
Full mode writes benchmarks/results/compare-DATE.md, .csv and one PNG of power vs signal per case.
"""

from __future__ import annotations

import argparse
import datetime
import multiprocessing as mp
import os
import platform
import resource
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from sparker_core import SparKer, clopper_pearson
from sparker_core.baselines import (
    classifier_two_sample_test,
    fixed_centers_np_test,
    knn_two_sample_test,
    mmd_permutation_test,
)

ROOT = Path(__file__).resolve().parent.parent
ALPHA = 0.05
METHODS = ("sparker", "mmd", "mmd-agg", "c2st", "knn", "fixed")


# ----------------------------------------------------------------------------------------- cases
@dataclass(frozen=True)
class Case:
    name: str
    signals: tuple  # signal counts; 0 is the no-signal setting
    sizes: dict  # keyword arguments of the generator


def nplm1d(seed: int, n_signal: int, n_ref: int, n_data: int):
    rng = np.random.default_rng(seed)
    reference = rng.exponential(1.0, (n_ref, 1))
    background = rng.exponential(1.0, (rng.poisson(n_data), 1))
    signal = rng.normal(6.4, 0.16, (n_signal, 1))
    return reference, np.vstack([background, signal]), np.r_[np.zeros(len(background), bool), np.ones(n_signal, bool)]


def gauss(seed: int, n_signal: int, d: int, n_ref: int, n_data: int):
    rng = np.random.default_rng(seed)
    reference = rng.standard_normal((n_ref, d), dtype=np.float32)
    data = rng.standard_normal((n_data, d), dtype=np.float32)
    data[:n_signal] = 1.0 + 0.25 * rng.standard_normal((n_signal, d), dtype=np.float32)
    return reference, data, np.arange(n_data) < n_signal


@lru_cache(maxsize=None)
def sample(name: str):
    frame = pd.read_parquet(ROOT / "sample_data" / name / "sample.parquet")
    vectors = np.stack(frame["embedding"].to_numpy()).astype(np.float32)
    rare = frame["is_anomaly"].to_numpy()
    return vectors[~rare], vectors[rare]  # common rows (reference and data splits together), rare rows


def resplit(seed: int, n_signal: int, name: str, n_ref: int, n_data: int):
    common, rare = sample(name)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(common))
    reference = common[order[:n_ref]]
    data = np.vstack([common[order[n_ref : n_ref + n_data - n_signal]], rare[rng.choice(len(rare), n_signal, replace=False)]])
    return reference, data, np.arange(n_data) >= n_data - n_signal


GENERATORS = {"nplm1d": nplm1d, "gauss": gauss, "wiki": resplit, "digits": resplit}


def cases(quick: bool) -> list[Case]:
    if quick:  # smaller sizes and one signal level: a smoke run, not a measurement of power
        return [
            Case("nplm1d", (0, 10), dict(n_ref=4000, n_data=400)),
            Case("gauss-16", (0, 10), dict(d=16, n_ref=1000, n_data=200)),
            Case("wiki", (0, 30), dict(name="wiki", n_ref=2000, n_data=400)),
            Case("digits", (0, 20), dict(name="digits", n_ref=1100, n_data=400)),
        ]
    return [
        Case("nplm1d", (0, 5, 10, 20), dict(n_ref=20000, n_data=2000)),
        *[Case(f"gauss-{d}", (0, 5, 10, 20), dict(d=d, n_ref=4000, n_data=500)) for d in (2, 16, 128)],
        Case("wiki", (0, 15, 30), dict(name="wiki", n_ref=4000, n_data=600)),
        Case("digits", (0, 10, 20), dict(name="digits", n_ref=1100, n_data=400)),
    ]


def generate(case: Case, seed: int, n_signal: int):
    return GENERATORS[case.name.split("-")[0]](seed, n_signal, **case.sizes)


# ----------------------------------------------------------------------------------------- methods
def run_method(method: str, reference, data, seed: int, n_toys: int):
    """(p-value, top-kernel members of SparKer or None)."""
    if method == "sparker":
        model = SparKer(seed=seed).fit(reference, data)
        result = model.calibrate(n_toys=n_toys, batch=min(n_toys, 64), seed=seed)
        return result.pvalue, np.asarray(model.explain().iloc[0]["members_data"], dtype=int)
    if method == "mmd":
        return mmd_permutation_test(reference, data, n_permutations=n_toys, seed=seed).pvalue, None
    if method == "mmd-agg":
        return mmd_permutation_test(reference, data, n_permutations=n_toys, bandwidth="aggregate", seed=seed).pvalue, None
    if method == "c2st":
        return classifier_two_sample_test(reference, data, n_permutations=n_toys, statistic="auc", seed=seed).pvalue, None
    if method == "knn":
        return knn_two_sample_test(reference, data, n_permutations=n_toys, seed=seed).pvalue, None
    n_centers = min(200, len(data))
    return fixed_centers_np_test(reference, data, n_centers=n_centers, n_toys=n_toys, seed=seed).pvalue, None


def set_threads(n_threads: int | None) -> None:
    """Cap torch's and the BLAS/OpenMP pools (None: leave the libraries' defaults)."""
    if n_threads:
        from threadpoolctl import threadpool_limits

        torch.set_num_threads(n_threads)
        threadpool_limits(n_threads)


def _status_kib(field: str) -> int:
    """A memory field of /proc/self/status (VmRSS, VmHWM) in KiB."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise OSError(f"no {field} in /proc/self/status")


def _child_peak(case: Case, method: str, n_toys: int, n_threads, queue) -> None:
    set_threads(n_threads)
    reference, data, _ = generate(case, 0, max(case.signals))
    try:  # Linux: reset the high-water mark, so loading the inputs does not hide the test's own peak
        with open("/proc/self/clear_refs", "w") as refs:
            refs.write("5")
        before = _status_kib("VmRSS")
        run_method(method, reference, data, 0, n_toys)
        queue.put((_status_kib("VmHWM") - before) / 1024.0)  # KiB -> MiB
    except OSError:  # elsewhere: growth of ru_maxrss, a lower bound
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        run_method(method, reference, data, 0, n_toys)
        queue.put((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024.0)


def peak_memory(case: Case, method: str, n_toys: int, n_threads) -> float:
    """Peak resident memory (MiB) a test adds on top of its inputs, in a fresh process.

    tracemalloc does not see torch's allocations; the resident set does. On Linux the high-water
    mark is reset after the inputs are built (``/proc/self/clear_refs``) and the figure is the
    peak during the test minus the resident set before it.
    """
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_child_peak, args=(case, method, n_toys, n_threads, queue))
    proc.start()
    out = queue.get()
    proc.join()
    return out


# ----------------------------------------------------------------------------------------- runs
def run_case(case: Case, n_real: int, n_toys: int, methods) -> pd.DataFrame:
    rows = []
    for n_signal in case.signals:
        for r in range(n_real):
            seed = 1000 * n_signal + r
            reference, data, is_signal = generate(case, seed, n_signal)
            for method in methods:
                start = time.perf_counter()
                pvalue, members = run_method(method, reference, data, r, n_toys)
                seconds = time.perf_counter() - start
                share = float(is_signal[members].mean()) if members is not None and members.size and n_signal else np.nan
                rows.append(dict(case=case.name, n_signal=n_signal, realisation=r, method=method, pvalue=pvalue,
                                 seconds=seconds, top_kernel_signal_share=share))
        print(f"  {case.name}: n_signal={n_signal} done ({n_real} realisations)", flush=True)
    return pd.DataFrame(rows)


def rate(pvalues) -> tuple[float, float, float]:
    k, n = int(np.sum(np.asarray(pvalues) <= ALPHA)), len(pvalues)
    low, high = clopper_pearson(k, n)
    return k / n, low, high


def power_table(frame: pd.DataFrame, methods) -> str:
    """Rejection rate [95% CI] per signal level and method, and each rate over SparKer's."""
    lines = [f"| n_signal | {' | '.join(methods)} | " + " | ".join(f"{m}/sparker" for m in methods[1:]) + " |",
             "|---:|" + "---|" * (2 * len(methods) - 1)]
    for n_signal, group in frame.groupby("n_signal"):
        rates = {m: rate(group[group.method == m].pvalue) for m in methods}
        cells = [f"{r[0]:.2f} [{r[1]:.2f}, {r[2]:.2f}]" for r in rates.values()]
        ratios = [f"{rates[m][0] / rates['sparker'][0]:.2f}" if rates["sparker"][0] > 0 else "-" for m in methods[1:]]
        what = f"{n_signal} (type I)" if n_signal == 0 else str(n_signal)
        lines.append(f"| {what} | " + " | ".join(cells) + " | " + " | ".join(ratios) + " |")
    return "\n".join(lines)


def cost_table(frame: pd.DataFrame, methods, memory: dict) -> str:
    seconds = {m: frame[frame.method == m].seconds.median() for m in methods}
    lines = ["| method | median s / test | ratio to sparker | peak MiB above inputs (fresh process) |", "|---|---:|---:|---:|"]
    for m in methods:
        mem = f"{memory[m]:.0f}" if m in memory else "not measured"
        lines.append(f"| {m} | {seconds[m]:.2f} | {seconds[m] / seconds['sparker']:.2f} | {mem} |")
    return "\n".join(lines)


def location_line(frame: pd.DataFrame) -> str:
    shares = frame[(frame.method == "sparker") & (frame.n_signal > 0)].groupby("n_signal").top_kernel_signal_share.mean()
    parts = [f"n_signal={k}: {v:.0%}" for k, v in shares.items()]
    return "SparKer top kernel, mean share of its data members that are signal rows: " + ", ".join(parts)


def speed_ratio(n_ref: int, n_data: int, d: int = 384) -> str:
    rng = np.random.default_rng(0)
    reference = rng.standard_normal((n_ref, d), dtype=np.float32)
    data = rng.standard_normal((n_data, d), dtype=np.float32)
    start = time.perf_counter()
    SparKer(seed=0).fit(reference, data).calibrate(n_toys=100, batch=50, seed=0)
    t_sparker = time.perf_counter() - start
    start = time.perf_counter()
    mmd_permutation_test(reference, data, n_permutations=1000, seed=0)
    t_mmd = time.perf_counter() - start
    return (f"speed, N_R={n_ref:,}, N_D={n_data:,}, d={d} (standard Gaussian, no signal): SparKer fit + 100 toys "
            f"{t_sparker:.1f} s; MMD (median bandwidth) with 1,000 permutations {t_mmd:.1f} s; "
            f"SparKer / MMD = {t_sparker / t_mmd:.2f}")


def plot(frame: pd.DataFrame, case: str, methods, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    levels = sorted(frame.n_signal.unique())
    nudge = 0.012 * (max(levels) - min(levels) or 1)  # side by side, so equal rates stay visible
    for i, m in enumerate(methods):
        stats = np.array([rate(frame[(frame.method == m) & (frame.n_signal == s)].pvalue) for s in levels])
        ax.errorbar(np.array(levels) + (i - (len(methods) - 1) / 2) * nudge, stats[:, 0], yerr=[stats[:, 0] - stats[:, 1], stats[:, 2] - stats[:, 0]], marker="o",
                    capsize=3, label=m)
    ax.axhline(ALPHA, color="grey", lw=0.8, ls="--")
    ax.set(xlabel="signal rows in the data", ylabel=f"rejection rate at alpha={ALPHA}", ylim=(-0.02, 1.02), title=case)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, 2 realisations, 20 toys (CI smoke run)")
    parser.add_argument("--realisations", type=int, default=None, help="independent realisations per setting (full: 50)")
    parser.add_argument("--n-toys", type=int, default=None, help="toys / permutations per test (full: 100)")
    parser.add_argument("--cases", nargs="+", default=None, help="case names to run (default: all)")
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument("--threads", type=int, default=None,
                        help="cap torch/BLAS/OpenMP threads (quick default: 1, which keeps a shared machine usable "
                             "and avoids OpenMP spinning when cores are oversubscribed)")
    parser.add_argument("--no-memory", action="store_true", help="skip the fresh-process peak-memory runs")
    parser.add_argument("--no-speed", action="store_true", help="skip the SparKer vs MMD speed comparison")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results", help="full mode: where results go")
    args = parser.parse_args()
    n_real = args.realisations or (2 if args.quick else 50)
    n_toys = args.n_toys or (20 if args.quick else 100)
    if args.quick and args.threads is None:
        args.threads = 1
    set_threads(args.threads)
    methods = ["sparker"] + [m for m in args.methods if m != "sparker"]
    selected = [c for c in cases(args.quick) if args.cases is None or c.name in args.cases]
    measure_memory = not (args.quick or args.no_memory)
    stamp = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    mode = "QUICK (smoke run: reduced sizes, not a measurement of power)" if args.quick else "full"
    if not args.quick and n_real < 50:
        mode += f" (REDUCED: {n_real} realisations per setting instead of 50)"
    header = [
        f"bench_compare.py, {stamp}, mode: {mode}",
        f"realisations per setting: {n_real}; toys / permutations per test: {n_toys}; alpha = {ALPHA}",
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__} "
        f"with {torch.get_num_threads()} threads; load average before: {os.getloadavg()[0]:.1f}",
    ]
    print("\n".join(header), flush=True)
    start = time.perf_counter()
    report, frames = list(header), []
    for case in selected:
        print(f"\n## {case.name}  {case.sizes}", flush=True)
        frame = run_case(case, n_real, n_toys, methods)
        frames.append(frame)
        memory = {m: peak_memory(case, m, n_toys, args.threads) for m in methods} if measure_memory else {}
        text = "\n".join([f"\n## {case.name}  sizes {case.sizes}", "", "Rejection rate at alpha = 0.05 [95% CI]:", "",
                          power_table(frame, methods), "", cost_table(frame, methods, memory), "", location_line(frame)])
        print(text, flush=True)
        report.append(text)
        if not args.quick:
            args.out.mkdir(parents=True, exist_ok=True)
            plot(frame, case.name, methods, args.out / f"compare-{stamp[:10]}-{case.name}.png")
    if not args.no_speed:
        sizes = (4500, 500) if args.quick else (18000, 2000)
        line = speed_ratio(*sizes) + (" (QUICK: reduced size; the full mode uses N = 20,000)" if args.quick else "")
        print("\n" + line)
        report.append("\n" + line)
    footer = f"total {time.perf_counter() - start:.0f} s; load average after: {os.getloadavg()[0]:.1f}"
    print(footer)
    report.append(footer)
    if not args.quick:
        pd.concat(frames).to_csv(args.out / f"compare-{stamp[:10]}.csv", index=False)
        (args.out / f"compare-{stamp[:10]}.md").write_text("\n".join(report) + "\n")
        print(f"wrote {args.out}/compare-{stamp[:10]}.md, .csv and .png")


if __name__ == "__main__":
    main()
