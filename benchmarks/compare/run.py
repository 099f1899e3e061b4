"""The comparison's runs: per case a shared null, each signal level's realisations and the peak
memory, as independent units (in worker processes with ``jobs`` > 1), rows streamed to a CSV."""

from __future__ import annotations

import multiprocessing as mp
import resource
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from sparker_core import SparKer
from sparker_core.baselines import mmd_permutation_test

from .cases import NULL_SEED, Case, generate, realisation_seed
from .methods import REGISTRY, shared_null
from .rows import Row, append_csv, fit_rows


@dataclass(frozen=True)
class Plan:
    n_real: int  # realisations per signal level
    n_null: int  # no-signal fits per case in each shared null
    n_toys: int  # permutations of MMD, MMD-agg, kNN, and toys of the timed complete tests
    timing_runs: int  # complete SparKer / fixed-centre tests timed per case, at the largest signal


def set_threads(n_threads: int | None) -> None:
    """Cap torch's and the BLAS/OpenMP pools (None: leave the libraries' defaults)."""
    if n_threads:
        from threadpoolctl import threadpool_limits

        torch.set_num_threads(n_threads)
        threadpool_limits(n_threads)


def complete_test(method: str, reference, data, seed: int, n_toys: int) -> tuple[float, float, str]:
    """One test as a user runs it, with the method's own calibration: (p-value, t_obs, calibration)."""
    result = REGISTRY[method].complete_test(reference, data, seed, n_toys)
    return float(result.pvalue), float(result.t_obs), REGISTRY[method].calibration(n_toys)


def null_unit(case: Case, plan: Plan, shared: list) -> list[Row]:
    """Rows of kind "null": the shared nulls of the fit-based methods, one no-signal fit per draw."""
    rows = []
    for j in range(plan.n_null):
        seed = NULL_SEED + j
        reference, data, _ = generate(case, seed, 0)
        for m in shared:
            start = time.perf_counter()
            t, _ = REGISTRY[m].statistic(reference, data, seed)
            rows += fit_rows(case, "null", 0, j, seed, m, t=t, seconds=time.perf_counter() - start)
    return rows


def realisation_rows(case: Case, plan: Plan, method: str, n_signal: int, r: int, seed: int, reference, data, is_signal) -> list[Row]:
    """The rows of one realisation's test: a shared-null method's fit (its p comes later, from the
    null rows) or a complete test with the method's own calibration."""
    method_ = REGISTRY[method]
    start = time.perf_counter()
    if not method_.shared_null:
        pvalue, t, calibration = complete_test(method, reference, data, seed, plan.n_toys)
        return fit_rows(case, "test", n_signal, r, seed, method, t, pvalue, calibration, time.perf_counter() - start)
    t, model = method_.statistic(reference, data, seed)
    seconds = time.perf_counter() - start
    share = method_.top_region_shares(model, is_signal) if method_.reports_regions and n_signal else np.nan
    return fit_rows(case, "test", n_signal, r, seed, method, t, np.nan, f"shared null of {plan.n_null}", seconds, share)


def level_unit(case: Case, plan: Plan, methods, n_signal: int) -> list[Row]:
    """Rows of kind "test" for one signal level and, at the largest signal, "timing" rows of complete tests."""
    rows = []
    for r in range(plan.n_real):
        seed = realisation_seed(n_signal, r)
        reference, data, is_signal = generate(case, seed, n_signal)
        for m in methods:
            rows += realisation_rows(case, plan, m, n_signal, r, seed, reference, data, is_signal)
        if n_signal == max(case.signals) and r < plan.timing_runs:
            for m in shared_null(methods):  # a complete test as a user runs it: run time only
                start = time.perf_counter()
                pvalue, t, calibration = complete_test(m, reference, data, seed, plan.n_toys)
                rows += fit_rows(case, "timing", n_signal, r, seed, m, t, pvalue, calibration, time.perf_counter() - start)
    return rows


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


def units(cases: list[Case], methods, measure_memory: bool) -> list[tuple]:
    """The independent pieces of a run: (case, "null"), (case, n_signal) for each level, (case, "memory")."""
    out = []
    for case in cases:
        out += [(case, "null")] if shared_null(methods) else []
        out += [(case, n_signal) for n_signal in case.signals]
        out += [(case, "memory")] if measure_memory else []
    return out


def run_unit(unit: tuple, plan: Plan, methods, threads, t0: float):
    """One independent piece of work (run in a worker process with ``jobs``): rows or a memory dict."""
    set_threads(threads)
    case, what = unit
    if what == "null":
        out = null_unit(case, plan, shared_null(methods))
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
            append_csv(out, partial)

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


def speed_ratio(n_ref: int, n_data: int, d: int = 384) -> str:
    """SparKer's fit with 100 toys against MMD with 1,000 permutations on one standard Gaussian draw."""
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
