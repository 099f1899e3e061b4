"""Type-I error and power of the calibrated test, by null construction and by hyper-parameter.

    python benchmarks/bench_quality.py              # methods + defaults tables (about 20 minutes on an idle 2-core CPU)
    python benchmarks/bench_quality.py --quick      # fewer realisations

Problem: 16-d standard Gaussian reference (N_R=4000) and data (N_D=500); the signal is a compact
bump (per-coordinate sd 0.1, centred 2.5 sd out along one diagonal) replacing n_signal data rows.
Every realisation draws fresh reference and data; each p-value comes from its own null toys.
Rates are at alpha = 0.05 with Clopper-Pearson 95% intervals.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from sparker_core import SparKer, clopper_pearson
from sparker_core.config import distance_percentiles

D, N_REF, N_DATA = 16, 4000, 500


def realisation(seed: int, n_signal: int):
    rng = np.random.default_rng(seed)
    reference = rng.standard_normal((N_REF, D))
    data = rng.standard_normal((N_DATA, D))
    centre = np.full(D, 2.5 / np.sqrt(D))
    data[:n_signal] = centre + 0.1 * rng.standard_normal((n_signal, D))
    return reference, data


def rejection_rate(params: dict, n_signal: int, n_real: int, method: str, n_toys: int, seed0: int):
    pvalues = []
    for r in range(n_real):
        reference, data = realisation(seed0 + r, n_signal)
        model = SparKer(seed=r, **params).fit(reference, data)
        pvalues.append(model.calibrate(n_toys=n_toys, method=method, batch=n_toys, seed=r).pvalue)
    pvalues = np.array(pvalues)
    k = int(np.sum(pvalues <= 0.05))
    return k / n_real, clopper_pearson(k, n_real)


def row(label: str, rate: float, ci) -> str:
    return f"{label:<44} {rate:>6.2f}   [{ci[0]:.2f}, {ci[1]:.2f}]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    n_real, n_toys = (10, 19) if args.quick else (30, 29)
    base = dict(n_kernels=8, max_epochs=100)
    start = time.perf_counter()

    print(f"d={D}, N_R={N_REF}, N_D={N_DATA}; {n_real} realisations per cell, {n_toys} toys each\n")
    print(f"{'null construction / signal':<44} {'rate':>6}   95% CI")
    for method in ("permutation", "reference"):
        for n_signal in (0, 10, 20):
            rate, ci = rejection_rate(base, n_signal, n_real, method, n_toys, seed0=10_000 * (1 + n_signal))
            what = "type-I error (no signal)" if n_signal == 0 else f"power, {n_signal} signal points"
            print(row(f"{method}: {what}", rate, ci), flush=True)

    print(f"\nhyper-parameters (permutation null, 10 signal points), against the defaults {base}")
    print(f"{'setting':<44} {'power':>6}   95% CI")
    reference, _ = realisation(0, 0)
    median = float(distance_percentiles(reference - reference.mean(0), 0, [50.0])[0])
    variants = [
        ("defaults", {}),
        ("amplitude_clip=2", {"amplitude_clip": 2.0}),
        ("amplitude_clip=10", {"amplitude_clip": 10.0}),
        ("temperature=0.5", {"temperature": 0.5}),
        ("competition='none'", {"competition": "none"}),
        (f"sigma_final=0.2 x median ({0.2 * median:.2f})", {"sigma_final": 0.2 * median}),
        (f"sigma_final=0.6 x median ({0.6 * median:.2f})", {"sigma_final": 0.6 * median}),
        ("preprocessing='standardize'", {"preprocessing": "standardize"}),
        ("center_learning_rate=0 (centres frozen)", {"center_learning_rate": 0.0}),
    ]
    for label, override in variants:
        rate, ci = rejection_rate({**base, **override}, 10, n_real, "permutation", n_toys, seed0=20_000)
        print(row(label, rate, ci), flush=True)
    print(f"\ntotal {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
