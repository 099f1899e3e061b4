"""A complete test on an idle machine and beside one CPU-bound process, for four thread settings.

    python benchmarks/bench_load.py [--toys 20] [--repeats 2]

Each measurement is a fresh process running a complete test (fit + ``--toys`` toys; 8 kernels, the
default three widths and epochs; N_R = 2,000, N_D = 500, d = 64 Gaussian). Settings: the library's
default (threads chosen from the load, ``sparker_core.threads``), and with that policy off
(SPARKER_THREADS=fixed): torch's default threads with OpenMP's default wait policy (idle threads
spin a while before they sleep), the same with OMP_WAIT_POLICY=PASSIVE (idle threads sleep at once),
and one thread (OMP_NUM_THREADS=1). "busy" runs one competing CPU-bound process (a Python loop) for
the whole measurement. Prints the median seconds of ``--repeats`` runs and the ratio busy / idle.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

CHILD = """
import time
import numpy as np
from sparker_core import SparKer
rng = np.random.default_rng(0)
reference = rng.normal(size=(2000, 64)); data = rng.normal(size=(500, 64)); data[:20] += 1.5
start = time.perf_counter()
SparKer(seed=0).fit(reference, data).calibrate(n_toys={toys}, seed=0)
print(time.perf_counter() - start)
"""
BUSY = "while True: pass"
FIXED = {"SPARKER_THREADS": "fixed"}
SETTINGS = {
    "adaptive (library default)": {},
    "default threads, default wait policy": FIXED,
    "default threads, OMP_WAIT_POLICY=PASSIVE": FIXED | {"OMP_WAIT_POLICY": "PASSIVE"},
    "one thread (OMP_NUM_THREADS=1)": FIXED | {"OMP_NUM_THREADS": "1"},
}


def measure(extra: dict, toys: int, busy: bool) -> float:
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "OMP_NUM_THREADS", "SPARKER_THREADS")} | extra
    hog = subprocess.Popen([sys.executable, "-c", BUSY]) if busy else None
    try:
        if hog:
            time.sleep(0.5)
        out = subprocess.run([sys.executable, "-c", CHILD.format(toys=toys)], env=env,
                             capture_output=True, text=True, check=True)
        return float(out.stdout.strip().splitlines()[-1])
    finally:
        if hog:
            hog.kill()
            hog.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--toys", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    print(f"$ python benchmarks/bench_load.py --toys {args.toys} --repeats {args.repeats}")
    print(f"complete test (fit + {args.toys} toys), median of {args.repeats} fresh processes, {os.cpu_count()} CPUs\n")
    print(f"{'setting':>42} {'idle s':>8} {'busy s':>8} {'busy / idle':>12}")
    for name, extra in SETTINGS.items():
        idle = statistics.median(measure(extra, args.toys, False) for _ in range(args.repeats))
        busy = statistics.median(measure(extra, args.toys, True) for _ in range(args.repeats))
        print(f"{name:>42} {idle:>8.1f} {busy:>8.1f} {busy / idle:>11.1f}x")


if __name__ == "__main__":
    main()
