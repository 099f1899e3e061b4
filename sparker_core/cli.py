"""The command line: ``python -m sparker_core demo`` (more commands arrive with the data loaders)."""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from .estimator import SparKer


def planted_bump(seed: int, n_reference: int = 20000, n_data: int = 2000, n_anomalies: int = 60, d: int = 5):
    """Gaussian reference and data in d dimensions; the first ``n_anomalies`` data rows form a compact bump."""
    rng = np.random.default_rng(seed)
    reference = rng.normal(size=(n_reference, d))
    data = rng.normal(size=(n_data, d))
    data[:n_anomalies] = rng.normal(loc=1.5, scale=0.2, size=(n_anomalies, d))
    return reference, data


def demo(args: argparse.Namespace) -> int:
    reference, data = planted_bump(args.seed, n_anomalies=args.anomalies)
    print(f"reference {reference.shape}, data {data.shape}; data rows 0..{args.anomalies - 1} are a planted bump")
    start = time.perf_counter()
    model = SparKer(n_kernels=args.n_kernels, seed=args.seed).fit(reference, data)
    print(f"trained {model.n_epochs_} epochs in {time.perf_counter() - start:.1f} s: t = {model.t_obs_:.1f}, "
          f"sigma {model.sigma_init_:.2f} -> {model.sigma_final_:.2f}")
    table = model.explain()
    print(f"\n{'kernel':>6} {'amplitude':>9} {'n_data':>7} {'expected':>8} {'local Z':>7} {'delta_t':>8} {'planted':>8}")
    for row in table.itertuples():
        planted = np.mean(row.members_data < args.anomalies) if len(row.members_data) else float("nan")
        print(f"{row.kernel:>6} {row.amplitude:>9.2f} {row.n_data:>7.0f} {row.expected:>8.1f} "
              f"{row.significance:>7.1f} {row.delta_t:>8.1f} {planted:>8.0%}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="sparker", description="SparKer anomaly detection on embeddings.")
    sub = parser.add_subparsers(dest="command", required=True)
    p_demo = sub.add_parser("demo", help="fit on a generated 5-d Gaussian sample with a planted bump")
    p_demo.add_argument("--n-kernels", type=int, default=8)
    p_demo.add_argument("--anomalies", type=int, default=60)
    p_demo.add_argument("--seed", type=int, default=0)
    p_demo.set_defaults(func=demo)
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, TypeError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
