"""Type-I error of the aggregated-bandwidth MMD on more no-signal realisations than the comparison uses.

    python benchmarks/bench_agg_null.py --cases gauss-128 wiki --realisations 200

The comparison (bench_compare.py, 50 realisations per level) found the aggregated MMD above its
binomial band on no-signal data in two cases. This runs the same test on the same no-signal
realisations of a case (seeds realisation_seed(0, r), r = 0, 1, ...; the first 50 are the
comparison's own) and on more of them, and prints the rejection rate at alpha = 0.05 with its
Clopper-Pearson interval over the first 50 and over all. It uses only bench_compare's generators
and the public ``mmd_permutation_test(bandwidth="aggregate")``, with 100 permutations as there.
"""

from __future__ import annotations

import argparse
import time

from compare.cases import cases, generate, realisation_seed
from compare.report import ALPHA, rate
from compare.run import set_threads
from sparker_core.baselines import mmd_permutation_test


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="+", default=["gauss-128", "wiki"])
    parser.add_argument("--realisations", type=int, default=200)
    parser.add_argument("--n-permutations", type=int, default=100)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    set_threads(args.threads)
    known = {c.name: c for c in cases(False)}
    unknown = sorted(set(args.cases) - set(known))
    if unknown:
        parser.error(f"--cases: unknown {unknown}; known: {sorted(known)}")
    print(f"aggregated MMD, no signal, {args.n_permutations} permutations, alpha = {ALPHA}")
    print("| case | realisations | rejections | rate [95% CI] |\n|---|---:|---:|---|")
    for name in args.cases:
        start = time.perf_counter()
        pvalues = []
        for r in range(args.realisations):
            seed = realisation_seed(0, r)
            reference, data, _ = generate(known[name], seed, 0)
            result = mmd_permutation_test(reference, data, n_permutations=args.n_permutations, bandwidth="aggregate", seed=seed)
            pvalues.append(result.pvalue)
        for n in sorted({min(50, len(pvalues)), len(pvalues)}):
            share, low, high = rate(pvalues[:n])
            k = round(share * n)
            print(f"| {name} | first {n} | {k} | {share:.3f} [{low:.3f}, {high:.3f}] |", flush=True)
        print(f"  ({name}: {time.perf_counter() - start:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
