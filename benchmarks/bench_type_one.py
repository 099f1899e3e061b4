"""Type-I error of a null construction: the share of no-signal datasets rejected, with its interval.

    python benchmarks/bench_type_one.py --method reference --datasets 300 [--start 0] [--jobs 2]

Each dataset is a 2-d Gaussian reference (800 rows) and data (200 rows) drawn independently from the
same law (``tests/synthetic.gaussian``, seed 1000 + index), fitted with 3 kernels and 60 epochs (the
library's other defaults) and calibrated with 39 toys, as the slow type-I tests in
tests/test_calibration.py do but on more datasets. Prints the rejection rate at several levels with
its 95 % Clopper-Pearson interval.
"""

from __future__ import annotations

import argparse
import os
import sys
from multiprocessing import get_context
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from synthetic import gaussian  # noqa: E402

from sparker_core import SparKer, clopper_pearson  # noqa: E402

LEVELS = (0.05, 0.1, 0.2, 0.5)


def pvalue(job) -> float:
    os.environ["OMP_NUM_THREADS"] = "1"
    import torch

    torch.set_num_threads(1)
    dataset, method = job
    reference, data = gaussian(1000 + dataset, n_ref=800, n_data=200, d=2)
    model = SparKer(n_kernels=3, max_epochs=60, seed=dataset).fit(reference, data)
    return model.calibrate(n_toys=39, method=method, batch=40, seed=dataset).pvalue


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--method", default="permutation", choices=("permutation", "reference"))
    parser.add_argument("--datasets", type=int, default=300)
    parser.add_argument("--start", type=int, default=0, help="index of the first dataset")
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    jobs = [(i, args.method) for i in range(args.start, args.start + args.datasets)]
    with get_context("spawn").Pool(args.jobs) as pool:
        pvalues = np.array(pool.map(pvalue, jobs))
    print(f"$ python benchmarks/bench_type_one.py {' '.join(sys.argv[1:])}")
    print(f"method {args.method}: {args.datasets} no-signal datasets (indices {args.start}-{args.start + args.datasets - 1}), 39 toys each")
    print(f"{'level':>6} {'rejected':>9} {'rate':>6} {'95% interval':>16}")
    for level in LEVELS:
        k = int(np.sum(pvalues <= level))
        low, high = clopper_pearson(k, len(pvalues))
        print(f"{level:>6.2f} {k:>9d} {k / len(pvalues):>6.3f} {f'[{low:.3f}, {high:.3f}]':>16}")


if __name__ == "__main__":
    main()
