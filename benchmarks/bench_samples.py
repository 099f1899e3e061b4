"""Detection on the bundled real samples, by preprocessing and width: p-value and whether the
leading kernels point at the planted rare rows.

    python benchmarks/bench_samples.py                 # wiki and digits, 100 toys each (a few minutes)
    python benchmarks/bench_samples.py --n-toys 30     # quicker

For each sample and setting it prints t_obs, the calibrated p and Z, and for the top kernel (by
contribution to t) the share of its data members and of its top-5 exemplars that are rare rows.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd

from sparker_core import SparKer

SAMPLES = Path(__file__).resolve().parent.parent / "sample_data"


def load(name: str):
    frame = pd.read_parquet(SAMPLES / name / "sample.parquet")
    vectors = np.stack(frame["embedding"].to_numpy()).astype(np.float32)
    is_ref = frame["split"].to_numpy() == "reference"
    rare = frame["is_anomaly"].to_numpy()[~is_ref]
    return vectors[is_ref], vectors[~is_ref], rare


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-toys", type=int, default=100)
    parser.add_argument("--samples", nargs="+", default=["wiki", "digits"])
    args = parser.parse_args()
    settings = [
        ("defaults (preprocessing='none')", {}),
        ("preprocessing='standardize'", {"preprocessing": "standardize"}),
        ("temperature=0.5", {"temperature": 0.5}),
    ]
    print(f"{'sample':<7} {'setting':<32} {'t_obs':>8} {'p':>7} {'Z':>5} {'top rare':>9} {'top-5 ex.':>9} {'s':>5}")
    for name in args.samples:
        reference, data, rare = load(name)
        for label, params in settings:
            start = time.perf_counter()
            model = SparKer(seed=0, **params).fit(reference, data)
            result = model.calibrate(n_toys=args.n_toys, batch=50, seed=0)
            top = model.explain().iloc[0]
            members = np.asarray(top["members_data"], dtype=int)
            share = rare[members].mean() if members.size else float("nan")
            exemplars = rare[np.asarray(top["exemplars_top_score"], dtype=int)].mean()
            print(f"{name:<7} {label:<32} {model.t_obs_:>8.1f} {result.pvalue:>7.3f} {result.zscore:>5.2f} "
                  f"{share:>9.0%} {exemplars:>9.0%} {time.perf_counter() - start:>5.0f}", flush=True)
        print(f"{name:<7} reference {reference.shape}, data {data.shape}, rare rows {rare.sum()} ({rare.mean():.1%})")


if __name__ == "__main__":
    main()
