"""Sanity table of the panel: per case, its sizes and two k-NN AUCs of rare vs common data rows on one re-split.

    .venv/bin/python benchmarks/panel/check_panel.py

Only a check that each anomaly is visible to SOME simple method, never a tuning input. On one re-split
(seed 0) at the case's largest signal, each data row gets two scores, and their AUC for the rare rows is printed:
  knn-dist   mean Euclidean distance to its 5 nearest reference rows (an outlier score);
  knn-frac   share of data rows among its 10 nearest neighbours in reference + data, itself excluded
             (a local density-ratio score: it sees an over-dense region that is not an outlier).
numpy only; distances by one GEMM per case.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import panel  # noqa: E402


def squared_distances(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    x, y = x.astype(np.float64), y.astype(np.float64)
    return np.maximum((x * x).sum(1)[:, None] + (y * y).sum(1)[None, :] - 2 * x @ y.T, 0.0)  # (N, M)


def auc(scores: np.ndarray, positive: np.ndarray) -> float:
    """Mann-Whitney AUC with average ranks for ties."""
    order = np.argsort(scores, kind="stable")
    ranks = np.empty(len(scores))
    ranks[order] = np.arange(1, len(scores) + 1)
    _, inverse, counts = np.unique(scores, return_inverse=True, return_counts=True)
    ranks = np.bincount(inverse, ranks)[inverse] / counts[inverse]
    n_pos, n_neg = positive.sum(), (~positive).sum()
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def scores(reference: np.ndarray, data: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    to_reference = np.sqrt(np.sort(squared_distances(data, reference), axis=1)[:, :5]).mean(1)
    pooled = np.vstack([reference, data])
    d2 = squared_distances(data, pooled)  # (n_data, n_ref + n_data)
    d2[np.arange(len(data)), len(reference) + np.arange(len(data))] = np.inf  # not itself
    nearest = np.argsort(d2, axis=1, kind="stable")[:, :10]
    return to_reference, (nearest >= len(reference)).mean(1)


def main() -> None:
    print("| case | half | modality | d | common | rare | n_ref | n_data | signals | knn-dist AUC | knn-frac AUC |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for name, case in panel.CASES.items():
        common, rare, _ = panel.load(name)
        k = max(case.signals)
        reference, data, is_signal = panel.resplit(0, k, name, case.n_ref, case.n_data)
        distance, fraction = scores(reference, data)
        print(f"| {name} | {case.half} | {case.modality} | {common.shape[1]} | {len(common)} | {len(rare)} | {case.n_ref} | "
              f"{case.n_data} | {', '.join(map(str, case.signals))} | {auc(distance, is_signal):.2f} | "
              f"{auc(fraction, is_signal):.2f} |")


if __name__ == "__main__":
    main()
