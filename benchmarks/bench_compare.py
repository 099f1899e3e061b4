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
that, unless ``--readme PATH`` names the file to update).
"""

from __future__ import annotations

import argparse
import datetime
import multiprocessing as mp
import os
import platform
import resource
import shlex
import sys
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from sparker_core import SparKer, clopper_pearson, empirical_pvalue
from sparker_core.calibration import combined_statistics
from sparker_core.config import AUTO_SIGMA_FINAL_FRACTION, auto_sigmas

sys.path.insert(0, str(Path(__file__).resolve().parent / "panel"))
import panel  # noqa: E402  (benchmarks/panel/panel.py: the evaluation panel's cases)
from sparker_core.baselines import (
    classifier_two_sample_test,
    fixed_centers_np_statistic,
    fixed_centers_np_test,
    knn_two_sample_test,
    mmd_permutation_test,
)

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
README = ROOT / "benchmarks" / "README.md"
BEGIN, END = "<!-- compare:begin -->", "<!-- compare:end -->"
ALPHA = 0.05
# Variants of "sparker-ladder" with other settings, for choosing the default's other parameters the
# same way (benchmarks/choose_widths.py --method NAME).
LADDER_VARIANTS = {
    "sparker-ladder": {},
    "sparker-ladder-l1": {"sparsity": 1.0},
    "sparker-ladder-l3": {"sparsity": 3.0},
    "sparker-ladder-k16-l1": {"n_kernels": 16, "sparsity": 1.0},
    "sparker-ladder-e100": {"max_epochs": 100},
}
METHODS = ("sparker", "mmd", "mmd-agg", "c2st", "knn", "fixed", "sparker-random", "sparker-multi", "sparker-single",
           *LADDER_VARIANTS)
DEFAULT_METHODS = METHODS[:6]  # the others on request (--methods)
# "sparker" is the default SparKer(seed=...): with sigma_final="auto" it fits the final widths
# AUTO_SIGMA_FINAL_FRACTIONS (times the median pairwise reference distance) together, and its p-value
# combines the per-width p-values by their minimum, calibrated on the same null draws
# (calibration.combined_statistics), as ``calibrate()`` does with its toys. "sparker-random": the
# default with init="random" (kernels start on random data rows). "sparker-multi": the widths
# MULTI_FRACTIONS. "sparker-single": one width, 0.35 x median (the default before the multi-scale
# one). "sparker-ladder": every width of LADDER_FRACTIONS in one fit, for choosing the default's
# widths offline on the panel's tuning half (benchmarks/choose_widths.py): a width's t in a
# multi-scale fit is the t of a single fit at that width (the same starts and training).
SHARED_NULL = ("sparker", "fixed", "sparker-random", "sparker-multi", "sparker-single", *LADDER_VARIANTS)
MULTI_FRACTIONS = (0.2, 0.35, 0.6)
LADDER_FRACTIONS = (0.15, 0.2, 0.3, 0.45, 0.6, 0.75, 0.9)
# Realisation seeds are 1000 * n_signal + r (r < 1000, n_signal < 1000), so below NULL_SEED; null draw j uses NULL_SEED + j.
NULL_SEED = 1_000_000
MAX_REALISATIONS = 1000


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
    """The common rows (reference and data splits together) and the rare rows; read once per process."""
    frame = pd.read_parquet(ROOT / "sample_data" / name / "sample.parquet")
    vectors = np.stack(frame["embedding"].to_numpy()).astype(np.float32)
    rare = frame["is_anomaly"].to_numpy()
    return vectors[~rare], vectors[rare]


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
        Case("nplm1d", (0, 10, 20), dict(n_ref=20000, n_data=2000)),
        *[Case(f"gauss-{d}", (0, 10, 20), dict(d=d, n_ref=4000, n_data=500)) for d in (2, 16, 128)],
        Case("wiki", (0, 15, 30), dict(name="wiki", n_ref=4000, n_data=600)),
        Case("digits", (0, 10, 20), dict(name="digits", n_ref=1100, n_data=400)),
        *panel_cases(),
    ]


def panel_cases() -> list[Case]:
    """The evaluation panel (benchmarks/panel): real cases in a tuning and a held-out half."""
    return [Case(name, c.signals, dict(name=name, n_ref=c.n_ref, n_data=c.n_data)) for name, c in panel.CASES.items()]


def generate(case: Case, seed: int, n_signal: int):
    if case.name in panel.CASES:
        return panel.resplit(seed, n_signal, **case.sizes)
    return GENERATORS[case.name.split("-")[0]](seed, n_signal, **case.sizes)


def realisation_seed(n_signal: int, r: int) -> int:
    """Seed of realisation r at a signal level: the data draw and the method's own randomness."""
    return 1000 * n_signal + r


# ----------------------------------------------------------------------------------------- methods
def n_centers(data) -> int:
    return min(200, len(data))


def widths(reference, seed: int, fractions) -> list[float]:
    """Final widths: ``fractions`` times the median pairwise reference distance that SparKer's "auto"
    widths use (default preprocessing "none": the raw reference)."""
    median = auto_sigmas(np.asarray(reference, dtype=np.float64), seed)[0]
    return [f * median for f in fractions]


def sparker(method: str, reference, seed: int) -> SparKer:
    """The SparKer estimator of a method name (unfitted)."""
    if method == "sparker-random":
        return SparKer(seed=seed, init="random")
    fractions = {"sparker-multi": MULTI_FRACTIONS, "sparker-single": (AUTO_SIGMA_FINAL_FRACTION,),
                 **{name: LADDER_FRACTIONS for name in LADDER_VARIANTS}}.get(method)
    if fractions is None:
        return SparKer(seed=seed)
    values = widths(reference, seed, fractions)
    return SparKer(seed=seed, sigma_final=values if len(values) > 1 else values[0], **LADDER_VARIANTS.get(method, {}))


def statistic(method: str, reference, data, seed: int):
    """One fit of a shared-null method: (t, the fitted SparKer or None); a multi-scale fit gives a
    list of t, one per width."""
    if method.startswith("sparker"):
        model = sparker(method, reference, seed).fit(reference, data)
        t = model.t_scales_.tolist()
        return (t if len(t) > 1 else t[0]), model
    return fixed_centers_np_statistic(reference, data, n_centers=n_centers(data), seed=seed), None


def complete_test(method: str, reference, data, seed: int, n_toys: int):
    """One test as a user runs it, with the method's own calibration: (p-value, t_obs, calibration)."""
    if method.startswith("sparker"):
        result = sparker(method, reference, seed).fit(reference, data).calibrate(n_toys=n_toys, seed=seed)
    elif method == "fixed":
        result = fixed_centers_np_test(reference, data, n_centers=n_centers(data), n_toys=n_toys, seed=seed)
    elif method == "mmd":
        result = mmd_permutation_test(reference, data, n_permutations=n_toys, seed=seed)
    elif method == "mmd-agg":
        result = mmd_permutation_test(reference, data, n_permutations=n_toys, bandwidth="aggregate", seed=seed)
    elif method == "c2st":
        result = classifier_two_sample_test(reference, data, statistic="accuracy", seed=seed)  # exact binomial
    else:
        result = knn_two_sample_test(reference, data, n_permutations=n_toys, seed=seed)
    calibration = "binomial" if method == "c2st" else f"{n_toys} permutations"
    return float(result.pvalue), float(result.t_obs), calibration


def top_kernel_share(model: SparKer, is_signal: np.ndarray):
    """Share of the top region's data members (``explain()`` row 0: the first excess region) that are
    signal rows; for a multi-scale fit a list, one per width."""
    shares = []
    for scale in range(len(model.t_scales_)):
        members = np.asarray(model.show_scale(scale).explain().iloc[0]["members_data"], dtype=int)
        shares.append(float(is_signal[members].mean()) if members.size else np.nan)
    return shares if len(shares) > 1 else shares[0]


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
    seed = realisation_seed(max(case.signals), 0)
    reference, data, _ = generate(case, seed, max(case.signals))
    try:  # Linux: reset the high-water mark, so loading the inputs does not hide the test's own peak
        with open("/proc/self/clear_refs", "w") as refs:
            refs.write("5")
        before = _status_kib("VmRSS")
        complete_test(method, reference, data, seed, n_toys)
        queue.put((_status_kib("VmHWM") - before) / 1024.0)  # KiB -> MiB
    except OSError:  # elsewhere: growth of ru_maxrss, a lower bound
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        complete_test(method, reference, data, seed, n_toys)
        queue.put((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024.0)


def peak_memory(case: Case, method: str, n_toys: int, n_threads) -> float:
    """Peak resident memory (MiB) one complete test adds on top of its inputs, in a fresh process.

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
@dataclass(frozen=True)
class Plan:
    n_real: int  # realisations per signal level
    n_null: int  # no-signal fits per case in each shared null
    n_toys: int  # permutations of MMD, MMD-agg, kNN, and toys of the timed complete tests
    timing_runs: int  # complete SparKer / fixed-centre tests timed per case, at the largest signal


def _row(case: Case, kind: str, n_signal: int, r: int, seed: int, method: str, t=np.nan, pvalue=np.nan,
         calibration: str = "", seconds=np.nan, share=np.nan) -> dict:
    """One CSV row. For a multi-scale fit, ``t`` and ``share`` are lists (one per width), kept in
    ``t_widths`` / ``share_widths`` as ';'-joined text; ``shared_pvalues`` sets t, p and the share."""
    widths = isinstance(t, list)
    join = lambda values: ";".join(repr(float(v)) for v in values) if widths else ""  # noqa: E731
    return dict(case=case.name, kind=kind, n_signal=n_signal, realisation=r, seed=seed, method=method,
                t=t[0] if widths else t, pvalue=pvalue, calibration=calibration, seconds=seconds,
                top_kernel_signal_share=np.nan if widths else share, t_widths=join(t),
                share_widths=join(share) if widths and isinstance(share, list) else "")


def null_unit(case: Case, plan: Plan, shared: list) -> list[dict]:
    """Rows of kind "null": the shared nulls of the fit-based methods, one no-signal fit per draw."""
    rows = []
    for j in range(plan.n_null):
        seed = NULL_SEED + j
        reference, data, _ = generate(case, seed, 0)
        for m in shared:
            start = time.perf_counter()
            t, _ = statistic(m, reference, data, seed)
            rows.append(_row(case, "null", 0, j, seed, m, t=t, seconds=time.perf_counter() - start))
    return rows


def level_unit(case: Case, plan: Plan, methods, n_signal: int) -> list[dict]:
    """Rows of kind "test" for one signal level (shared-null methods get their p later, in
    ``shared_pvalues``) and, at the largest signal, "timing" rows of complete tests."""
    rows = []
    for r in range(plan.n_real):
        seed = realisation_seed(n_signal, r)
        reference, data, is_signal = generate(case, seed, n_signal)
        for m in methods:
            start = time.perf_counter()
            if m in SHARED_NULL:
                (t, model), pvalue, calibration = statistic(m, reference, data, seed), np.nan, f"shared null of {plan.n_null}"
            else:
                (pvalue, t, calibration), model = complete_test(m, reference, data, seed, plan.n_toys), None
            seconds = time.perf_counter() - start
            share = top_kernel_share(model, is_signal) if model is not None and n_signal else np.nan
            rows.append(_row(case, "test", n_signal, r, seed, m, t, pvalue, calibration, seconds, share))
        if n_signal == max(case.signals) and r < plan.timing_runs:
            for m in [m for m in methods if m in SHARED_NULL]:  # a complete test as a user runs it: run time only
                start = time.perf_counter()
                pvalue, t, calibration = complete_test(m, reference, data, seed, plan.n_toys)
                rows.append(_row(case, "timing", n_signal, r, seed, m, t, pvalue, calibration, time.perf_counter() - start))
    return rows


def _widths(text) -> np.ndarray:
    return np.array([float(v) for v in str(text).split(";")])


def shared_pvalues(frame: pd.DataFrame) -> pd.DataFrame:
    """Fill the p-values of the shared-null methods' tests from their case's null rows.

    Multi-scale methods (rows with ``t_widths``): each test's per-width t and the null draws' per-width
    t are combined by ``combined_statistics`` (min p, the test row ranked among all of them); t becomes
    that combined statistic, and the top-kernel share is the one of the width with the smallest p (the
    narrowest on ties)."""
    for m in frame.method.unique():
        null_rows = (frame.kind == "null") & (frame.method == m)
        tests = (frame.kind == "test") & (frame.method == m)
        if not null_rows.any():
            continue
        if _n_widths(frame[null_rows]) == 1:
            null = frame.loc[null_rows, "t"].to_numpy()
            frame.loc[tests, "pvalue"] = [empirical_pvalue(t, null) for t in frame.loc[tests, "t"]]
            continue
        null = np.stack([_widths(v) for v in frame.loc[null_rows, "t_widths"]], axis=1)  # (widths, n_null)
        for i in frame.index[tests]:
            t = _widths(frame.at[i, "t_widths"])
            stat, stat_null = combined_statistics(t, null, "minp")
            frame.at[i, "t"], frame.at[i, "pvalue"] = stat, empirical_pvalue(stat, stat_null)
            if isinstance(frame.at[i, "share_widths"], str) and frame.at[i, "share_widths"]:
                best = int(np.argmin([empirical_pvalue(t[j], null[j]) for j in range(t.size)]))
                frame.at[i, "top_kernel_signal_share"] = _widths(frame.at[i, "share_widths"])[best]
    return frame


def run_unit(unit: tuple, plan: Plan, methods, threads, t0: float):
    """One independent piece of work (run in a worker process with ``--jobs``): rows or a memory dict."""
    set_threads(threads)
    case, what = unit
    shared = [m for m in methods if m in SHARED_NULL]
    if what == "null":
        out = null_unit(case, plan, shared)
    elif what == "memory":
        out = {m: peak_memory(case, m, plan.n_toys, threads) for m in methods}
    else:
        out = level_unit(case, plan, methods, what)
    label = f"n_signal={what}" if isinstance(what, int) else what
    print(f"  [{time.time() - t0:7.0f} s] {case.name}: {label} done", flush=True)
    return out


def run_units(units: list, plan: Plan, methods, threads, jobs: int, partial: Path | None = None) -> list:
    """Results of every unit, in order; ``jobs`` > 1 runs them in that many spawned processes.

    ``partial``: a CSV to which each finished unit's rows are appended at once, so a stopped or
    failed run keeps what it finished.
    """
    t0 = time.time()

    def keep(out) -> None:
        if partial is not None and isinstance(out, list) and out:
            pd.DataFrame(out).to_csv(partial, mode="a", header=not partial.exists(), index=False)

    if jobs == 1:
        results = []
        for u in units:
            results.append(run_unit(u, plan, methods, threads, t0))
            keep(results[-1])
        return results
    from concurrent.futures import ProcessPoolExecutor, as_completed

    with ProcessPoolExecutor(max_workers=jobs, mp_context=mp.get_context("spawn")) as pool:
        futures = [pool.submit(run_unit, u, plan, methods, threads, t0) for u in units]
        for future in as_completed(futures):
            keep(future.result())
        return [f.result() for f in futures]


def rate(pvalues) -> tuple[float, float, float]:
    k, n = int(np.sum(np.asarray(pvalues) <= ALPHA)), len(pvalues)
    low, high = clopper_pearson(k, n)
    return k / n, low, high


def power_table(frame: pd.DataFrame, methods) -> str:
    """Rejection rate [95% CI] per signal level and method, and each rate over SparKer's."""
    tests = frame[frame.kind == "test"]
    lines = [f"| n_signal | {' | '.join(methods)} | " + " | ".join(f"{m}/sparker" for m in methods[1:]) + " |",
             "|---:|" + "---|" * (2 * len(methods) - 1)]
    for n_signal, group in tests.groupby("n_signal"):
        rates = {m: rate(group[group.method == m].pvalue) for m in methods}
        cells = [f"{r[0]:.2f} [{r[1]:.2f}, {r[2]:.2f}]" for r in rates.values()]
        ratios = [f"{rates[m][0] / rates['sparker'][0]:.2f}" if rates["sparker"][0] > 0 else "-" for m in methods[1:]]
        what = f"{n_signal} (type I)" if n_signal == 0 else str(n_signal)
        lines.append(f"| {what} | " + " | ".join(cells) + " | " + " | ".join(ratios) + " |")
    return "\n".join(lines)


def cost_table(frame: pd.DataFrame, methods, memory: dict) -> str:
    """Median seconds of one complete test (and of one fit, for the shared-null methods) and peak memory."""
    lines = ["| method | calibration in the power table | median s / complete test | ratio to sparker | complete tests timed "
             "| median s / fit (power run) | peak MiB above inputs (fresh process) |",
             "|---|---|---:|---:|---:|---:|---:|"]
    seconds, cells = {}, {}
    for m in methods:
        rows = frame[frame.method == m]
        complete = rows[rows.kind == ("timing" if m in SHARED_NULL else "test")]
        seconds[m] = complete.seconds.median()
        fit = f"{rows[rows.kind != 'timing'].seconds.median():.2f}" if m in SHARED_NULL else "-"
        n_widths = _n_widths(rows)
        fit += f" ({n_widths} widths in one fit)" if n_widths > 1 else ""
        cells[m] = (rows[rows.kind == "test"].calibration.iloc[0], complete.calibration.iloc[0] if len(complete) else "-",
                    len(complete), fit)
    for m in methods:
        calibration, timed_as, count, fit = cells[m]
        mem = f"{memory[m]:.0f}" if m in memory else "not measured"
        ratio = f"{seconds[m] / seconds['sparker']:.2f}" if seconds["sparker"] > 0 else "-"
        what = f"{calibration} (timed: {timed_as})" if m in SHARED_NULL else calibration
        lines.append(f"| {m} | {what} | {seconds[m]:.2f} | {ratio} | {count} | {fit} | {mem} |")
    return "\n".join(lines)


def _n_widths(rows: pd.DataFrame) -> int:
    """Widths of a method's fits: 1, or the length of its ';'-joined ``t_widths``."""
    text = rows.t_widths.fillna("").astype(str)
    text = text[text != ""]
    return len(text.iloc[0].split(";")) if len(text) else 1


def null_line(frame: pd.DataFrame, plan: Plan, methods) -> str:
    shared = [m for m in methods if m in SHARED_NULL]
    if not shared:
        return "No shared null (neither sparker nor fixed selected)."
    nulls = frame[frame.kind == "null"]
    parts, multi = [], []
    for m in shared:
        rows = nulls[nulls.method == m]
        if _n_widths(rows) == 1:
            parts.append(f"{m}: median t_null {rows.t.median():.3g}")
            continue
        by_width = np.stack([_widths(v) for v in rows.t_widths])  # (n_null, widths)
        parts.append(f"{m}: median t_null " + " / ".join(f"{v:.3g}" for v in np.median(by_width, 0)) + " by width")
        multi.append(m)
    floor = 1.0 / (1 + plan.n_null)
    note = (f" ({', '.join(multi)}: one fit of several widths, whose p-values are combined by min p over the same null "
            "draws, calibrated with combined_statistics)") if multi else ""
    warn = f" NOTE: with {plan.n_null} null fits the smallest p is {floor:.3f} > alpha: these methods cannot reject." \
        if floor > ALPHA else ""
    return (f"Shared null ({', '.join(shared)}): {plan.n_null} no-signal draws of the case, one fit each (seeds "
            f"{NULL_SEED}-{NULL_SEED + plan.n_null - 1}); each realisation is one fit with p = (1 + #{{t_null >= t}}) / "
            f"(1 + {plan.n_null}){note}; {'; '.join(parts)}.{warn}")


def location_line(frame: pd.DataFrame, methods) -> str:
    """Per SparKer method: the share of signal rows among the top region's data members, over every
    test with signal and over the tests that rejected (the target: >= 70 % where the test rejects)."""
    lines = []
    for m in [m for m in methods if m.startswith("sparker")]:
        tests = frame[(frame.kind == "test") & (frame.method == m) & (frame.n_signal > 0)]
        parts = []
        for k, group in tests.groupby("n_signal"):
            rejected = group[group.pvalue <= ALPHA].top_kernel_signal_share
            parts.append(f"n_signal={k}: {group.top_kernel_signal_share.mean():.0%} (where rejected: "
                         + (f"{rejected.mean():.0%} over {len(rejected)})" if len(rejected) else "none rejected)"))
        which = ", the width with the smallest p" if _n_widths(tests) > 1 else ""
        name = "SparKer" if m == "sparker" else m
        lines.append(f"{name} top region (first excess region of the single fit{which}), mean share of its data members "
                     "that are signal rows: " + ", ".join(parts))
    return "\n\n".join(lines)


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

    tests = frame[frame.kind == "test"]
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    levels = sorted(tests.n_signal.unique())
    nudge = 0.012 * (max(levels) - min(levels) or 1)  # side by side, so equal rates stay visible
    for i, m in enumerate(methods):
        stats = np.array([rate(tests[(tests.method == m) & (tests.n_signal == s)].pvalue) for s in levels])
        ax.errorbar(np.array(levels) + (i - (len(methods) - 1) / 2) * nudge, stats[:, 0],
                    yerr=[stats[:, 0] - stats[:, 1], stats[:, 2] - stats[:, 0]], marker="o", capsize=3, label=m)
    ax.axhline(ALPHA, color="grey", lw=0.8, ls="--")
    ax.set(xlabel="signal rows in the data", ylabel=f"rejection rate at alpha={ALPHA}", ylim=(-0.02, 1.02), title=case)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


# ----------------------------------------------------------------------------------------- output
def replace_between_markers(text: str, block: str) -> str:
    """``text`` with everything between BEGIN and END replaced by ``block`` (markers kept)."""
    if text.count(BEGIN) != 1 or text.count(END) != 1 or text.index(BEGIN) > text.index(END):
        raise ValueError(f"the README must hold one {BEGIN} followed by one {END}")
    head, rest = text.split(BEGIN)
    return head + BEGIN + "\n" + block.strip("\n") + "\n" + END + rest.split(END, 1)[1]


def readme_block(command: str, header: list[str], sections: list[tuple[str, str]], pngs: dict, speed: str | None,
                 footer: str, readme: Path) -> str:
    """The README's comparison text: command, run facts, per-case tables with links to their PNGs, speed line."""
    lines = [f"Produced by `{command}`; do not edit between the markers, the next full run replaces it.", ""]
    lines += [f"- {line}" for line in header + [footer]]
    for name, text in sections:
        lines += ["", text.replace("\n## ", "\n### ").lstrip("\n")]
        if name in pngs:
            link = Path(os.path.relpath(pngs[name], readme.parent)).as_posix()
            lines += ["", f"Power against signal rows: [{link}]({link})"]
    if speed:
        lines += ["", speed]
    return "\n".join(lines)


def main() -> None:
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
    parser.add_argument("--out", type=Path, default=RESULTS, help="full mode: where results go")
    parser.add_argument("--readme", type=Path, default=None,
                        help="full mode: the file whose compare markers get the tables (default: benchmarks/README.md "
                             "when --out is benchmarks/results, else none)")
    args = parser.parse_args()
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
        groups = {**panel.halves(), "old": [n for n in known if n not in panel.CASES]}
        args.cases = [n for name in args.cases for n in groups.get(name, [name])]
    if args.cases and set(args.cases) - set(known):
        parser.error(f"--cases: unknown {sorted(set(args.cases) - set(known))}; known: {known}")
    readme = args.readme or (README if args.out.resolve() == RESULTS else None)
    if readme is not None and not args.quick:
        replace_between_markers(readme.read_text(), "")  # a README without its markers fails now, not after the run
    if args.jobs < 1:
        parser.error(f"--jobs must be >= 1; got {args.jobs}")
    if args.quick and args.threads is None:
        args.threads = 1
    threads = args.threads or (1 if args.jobs > 1 else None)  # each parallel job gets one thread unless told
    set_threads(threads)
    methods = ["sparker"] + [m for m in args.methods if m != "sparker"]
    selected = [c for c in cases(args.quick) if args.cases is None or c.name in args.cases]
    measure_memory = not (args.quick or args.no_memory)
    now = datetime.datetime.now()
    stamp, day = now.strftime("%Y-%m-%d %H:%M"), now.strftime("%Y-%m-%d")
    command = shlex.join(["python", "benchmarks/bench_compare.py", *sys.argv[1:]])
    mode = "QUICK (smoke run: reduced sizes, not a measurement of power)" if args.quick else "full"
    if not args.quick and (plan.n_real < 50 or plan.n_null < 100 or plan.n_toys < 100):
        mode += (f" (REDUCED: {plan.n_real} realisations per signal level, null of {plan.n_null}, {plan.n_toys} permutations;"
                 " full is 50, 100 and 100)")
    header = [
        f"bench_compare.py, {stamp}, mode: {mode}",
        f"realisations per signal level: {plan.n_real} (fresh draws / re-splits); shared null of {', '.join(m for m in methods if m in SHARED_NULL)}: "
        f"{plan.n_null} no-signal fits per case; permutations of mmd, mmd-agg, knn: {plan.n_toys}; c2st: exact binomial "
        f"test of held-out accuracy; complete tests timed for {' and '.join(m for m in methods if m in SHARED_NULL)}: {plan.timing_runs} per case with "
        f"{plan.n_toys} toys; alpha = {ALPHA}",
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__} "
        f"with {torch.get_num_threads()} threads in each of {args.jobs} job(s); load average before: {os.getloadavg()[0]:.1f}",
    ]
    print("\n".join(header), flush=True)
    start = time.perf_counter()

    units = []
    for case in selected:  # the longest case first, so parallel jobs end together
        units += [(case, "null")] if any(m in SHARED_NULL for m in methods) else []
        units += [(case, n_signal) for n_signal in case.signals]
        units += [(case, "memory")] if measure_memory else []
    partial = None
    if not args.quick:
        args.out.mkdir(parents=True, exist_ok=True)
        partial = args.out / f"compare-{day}.partial.csv"
        partial.unlink(missing_ok=True)
    results = dict(zip([(c.name, w) for c, w in units], run_units(units, plan, methods, threads, args.jobs, partial)))

    report, frames, sections, pngs = list(header), [], [], {}
    for case in selected:
        rows = [row for (name, what), out in results.items() if name == case.name and what != "memory" for row in out]
        frame = shared_pvalues(pd.DataFrame(rows))
        frames.append(frame)
        memory = results.get((case.name, "memory"), {})
        text = "\n".join([f"\n## {case.name}  sizes {case.sizes}", "", null_line(frame, plan, methods), "",
                          "Rejection rate at alpha = 0.05 [95% CI]:", "", power_table(frame, methods), "",
                          cost_table(frame, methods, memory), "", location_line(frame, methods)])
        print(text, flush=True)
        report.append(text)
        sections.append((case.name, text))
        if not args.quick:
            args.out.mkdir(parents=True, exist_ok=True)
            pngs[case.name] = args.out / f"compare-{day}-{case.name}.png"
            plot(frame, case.name, methods, pngs[case.name])
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
    if readme is None:
        print("README not updated (--out is not benchmarks/results; give --readme PATH to update one)")
        return
    block = readme_block(command, header, sections, pngs, speed, footer, readme)
    readme.write_text(replace_between_markers(readme.read_text(), block))
    print(f"updated the compare markers of {readme}")


if __name__ == "__main__":
    main()
