"""Speed of the null calibration: batched toys versus a loop of single fits, full-analysis time,
and peak memory by batch size.

    python benchmarks/bench_calibration.py             # all tables (about 5 minutes here)
    python benchmarks/bench_calibration.py --quick     # small sizes only
    python benchmarks/bench_calibration.py --million   # peak memory with a 1,000,000 x 384 reference
    python benchmarks/bench_calibration.py --full-only [--before DIR]
        # the complete default test only (fit + 100 toys), in a fresh process; --before DIR: the same
        # test with sparker_core imported from DIR (e.g. a `git worktree` of an earlier commit), in the same run

The loop is ``calibrate(batch=1)``: the same toys, seeds and epochs, trained one fit per call.
Peak memory is the maximum resident set size of a fresh child process that runs one batch.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import resource
import subprocess
import sys
import time

import numpy as np
import torch

from sparker_core import SparKer
from sparker_core.config import AUTO_SIGMA_FINAL_FRACTION, AUTO_SIGMA_FINAL_FRACTIONS, auto_sigmas


def sample(n_ref: int, n_data: int, d: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((n_ref, d), dtype=np.float32), rng.standard_normal((n_data, d), dtype=np.float32))


def batched_vs_loop(n_ref, n_data, d, n_kernels, n_toys, epochs) -> tuple[float, float]:
    reference, data = sample(n_ref, n_data, d)
    model = SparKer(n_kernels=n_kernels, max_epochs=epochs, seed=0).fit(reference, data)
    start = time.perf_counter()
    batched = model.calibrate(n_toys=n_toys, batch=n_toys, seed=0)
    t_batched = time.perf_counter() - start
    start = time.perf_counter()
    looped = model.calibrate(n_toys=n_toys, batch=1, seed=0)
    t_loop = time.perf_counter() - start
    np.testing.assert_allclose(batched.null_distribution, looped.null_distribution, rtol=1e-3, atol=1e-3)
    return t_batched, t_loop


def full_analysis(n_ref, n_data, d, n_kernels, n_toys, sigma_final="auto", **params) -> tuple[float, float, float]:
    reference, data = sample(n_ref, n_data, d, seed=1)
    if sigma_final != "auto":  # a fraction of the median pairwise reference distance
        sigma_final = sigma_final * auto_sigmas(reference.astype(np.float64), 0)[0]
    start = time.perf_counter()
    model = SparKer(n_kernels=n_kernels, sigma_final=sigma_final, seed=0, **params).fit(reference, data)
    t_fit = time.perf_counter() - start
    result = model.calibrate(n_toys=n_toys, batch=64, seed=0)
    total = time.perf_counter() - start
    return t_fit, total, result.pvalue


# The settings before the evaluation panel (200 epochs, learning rate 0.05, amplitude clip 5): with one
# width (0.35 x median) they are the default the panel's cost target is measured against.
BEFORE_PANEL = {"max_epochs": 200, "learning_rate": 0.05, "amplitude_clip": 5.0}


def full_table() -> None:
    """The complete test at the large size, run one after the other in this process, with ratios to the
    default before the evaluation panel (one width, AUTO_SIGMA_FINAL_FRACTION x median, BEFORE_PANEL):
    the default (every width of sigma_final="auto" on the same toys, the library's other defaults),
    the same widths with BEFORE_PANEL, and one width with BEFORE_PANEL."""
    ladder = ", ".join(str(f) for f in AUTO_SIGMA_FINAL_FRACTIONS)
    default = SparKer()
    print(f"\nfull analysis at N_R=15000, N_D=2500, d=384, M=8: observed fit + 100 toys")
    print(f"{'settings':>66} {'fit s':>6} {'fit + 100 toys s':>17} {'p':>6} {'ratio':>6}")
    runs = [
        (f"default: auto ({ladder} x median), {default.max_epochs} epochs, lr {default.learning_rate}, "
         f"clip {default.amplitude_clip:g}", "auto", {}),
        (f"auto, {BEFORE_PANEL['max_epochs']} epochs, lr {BEFORE_PANEL['learning_rate']}, "
         f"clip {BEFORE_PANEL['amplitude_clip']:g}", "auto", BEFORE_PANEL),
        (f"before the panel: one width ({AUTO_SIGMA_FINAL_FRACTION} x median), same", AUTO_SIGMA_FINAL_FRACTION, BEFORE_PANEL),
    ]
    rows = [(name, *full_analysis(15000, 2500, 384, 8, 100, value, **params)) for name, value, params in runs]
    base = rows[-1][2]
    for name, t_fit, total, pvalue in rows:
        print(f"{name:>66} {t_fit:>6.1f} {total:>17.1f} {pvalue:>6.3f} {total / base:>5.2f}x")


COMPLETE_TEST = """
import time
import numpy as np
import sparker_core
from sparker_core import SparKer
rng = np.random.default_rng(1)
reference = rng.standard_normal((15000, 384), dtype=np.float32); data = rng.standard_normal((2500, 384), dtype=np.float32)
start = time.perf_counter()
model = SparKer(seed=0).fit(reference, data)
t_fit = time.perf_counter() - start
result = model.calibrate(n_toys=100, batch=64, seed=0)
print(t_fit, time.perf_counter() - start, result.pvalue, sparker_core.__file__)
"""


def complete_test(tree: str | None, extra_env: dict | None = None) -> tuple[float, float, float, str]:
    """(fit s, fit + 100 toys s, p, the sparker_core imported) of the default test at the large size,
    in a fresh process importing sparker_core from ``tree`` (None: this checkout)."""
    env = dict(os.environ) | ({"PYTHONPATH": os.path.abspath(tree)} if tree else {}) | (extra_env or {})
    cwd = os.path.abspath(tree) if tree else None  # `python -c` puts the working directory first on sys.path
    out = subprocess.run([sys.executable, "-c", COMPLETE_TEST], env=env, cwd=cwd, capture_output=True, text=True, check=True)
    t_fit, total, pvalue, where = out.stdout.split()
    return float(t_fit), float(total), float(pvalue), os.path.dirname(os.path.dirname(where))


def complete_table(before: str | None) -> None:
    """The complete default test at N_R=15000, N_D=2500, d=384 (the cost target), and before a change."""
    print("complete default test at N_R=15000, N_D=2500, d=384: fit + 100 toys (batch 64), a fresh process each")
    print(f"{'sparker_core from':>40} {'threads':>22} {'fit s':>6} {'fit + 100 toys s':>17} {'p':>6}")
    runs = [(None, "from the load (default)", {}), (None, "fixed", {"SPARKER_THREADS": "fixed"})]
    runs += [(before, "fixed (torch's)", {})] if before else []
    rows = [(threads, *complete_test(tree, extra)) for tree, threads, extra in runs]
    for threads, t_fit, total, pvalue, where in rows:
        print(f"{where:>40} {threads:>22} {t_fit:>6.1f} {total:>17.1f} {pvalue:>6.3f}")
    if before:
        print(f"\nspeed-up, both with fixed threads: {rows[2][2] / rows[1][2]:.2f}x")


def _child_peak(args, queue) -> None:
    n_ref, n_data, d, n_kernels, batch, epochs = args
    reference, data = sample(n_ref, n_data, d)
    model = SparKer(n_kernels=n_kernels, max_epochs=epochs, seed=0).fit(reference, data)
    del reference, data
    start = time.perf_counter()
    model.calibrate(n_toys=batch, batch=batch, seed=0)
    seconds = time.perf_counter() - start
    queue.put((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, seconds))


def peak_memory(n_ref, n_data, d, n_kernels, batch, epochs) -> tuple[float, float]:
    """(peak RSS in GiB, seconds for one batch) in a fresh process."""
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_child_peak, args=((n_ref, n_data, d, n_kernels, batch, epochs), queue))
    proc.start()
    out = queue.get()
    proc.join()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--million", action="store_true")
    parser.add_argument("--loop-epochs", type=int, default=50, help="epochs of the batched-vs-loop comparison")
    parser.add_argument("--full-only", action="store_true", help="only the complete default test at the large size")
    parser.add_argument("--before", metavar="DIR", help="with --full-only: also time the test with sparker_core from DIR")
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, load average {os.getloadavg()[0]:.2f}\n")
    if args.full_only:
        complete_table(args.before)
        return

    if args.million:
        print("peak memory, N_R=1,000,000, N_D=10,000, d=384, M=8, 20 epochs, one batch of toys")
        print(f"{'batch':>6} {'peak RSS GiB':>13} {'s/batch':>8}")
        for batch in (4, 16):
            gib, seconds = peak_memory(1_000_000, 10_000, 384, 8, batch, 20)
            print(f"{batch:>6} {gib:>13.2f} {seconds:>8.1f}")
        return

    sizes = [("small", 2000, 200, 16)] if args.quick else [("large", 15000, 2500, 384), ("small", 2000, 200, 16)]
    print(f"100 toys, {args.loop_epochs} epochs, M=8: batched (one call) vs a loop of single fits")
    print(f"{'size':>6} {'N_R':>6} {'N_D':>5} {'d':>4} {'batched s':>10} {'loop s':>8} {'speed-up':>9}")
    for name, n_ref, n_data, d in sizes:
        t_b, t_l = batched_vs_loop(n_ref, n_data, d, 8, 100, args.loop_epochs)
        print(f"{name:>6} {n_ref:>6} {n_data:>5} {d:>4} {t_b:>10.2f} {t_l:>8.2f} {t_l / t_b:>8.2f}x")

    if args.quick:
        return
    full_table()

    print("\npeak memory by batch size (same size, 20 epochs, one batch per fresh process)")
    print(f"{'batch':>6} {'peak RSS GiB':>13} {'s/batch':>8} {'ms/toy-epoch':>13}")
    for batch in (16, 64, 128):
        gib, seconds = peak_memory(15000, 2500, 384, 8, batch, 20)
        print(f"{batch:>6} {gib:>13.2f} {seconds:>8.1f} {1e3 * seconds / (batch * 20):>13.2f}")


if __name__ == "__main__":
    main()
