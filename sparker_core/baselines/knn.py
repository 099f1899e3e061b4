"""Nearest-neighbour two-sample test (Schilling 1986, Henze 1988) with permutations on a fixed graph.

The k nearest neighbours of every pooled point are found once (Euclidean, by blocks of one GEMM
each). The graph does not depend on the roles, so a batch of B permutations is one sparse-dense
product A E, with A the (N, N) 0/1 neighbour matrix and E the (N, B) data indicators:

- ``statistic="data"`` (default): the share of the data points' neighbours that are data points,
  sum_i e_i (A e)_i / (n k). It looks only at the data side, so a local over-density of data
  (rare anomalies) raises it directly; under the null it is about n / N.
- ``statistic="pooled"``: Schilling's statistic, the share of all neighbour pairs whose two ends
  come from the same sample, [2 e'Ae + k (N - n) - 1'Ae] / (N k). Symmetric in the two samples,
  but with N_R >> N_D it is dominated by reference points, whose neighbours are mostly reference
  points whatever the data do.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy import sparse

from ..calibration import TestResult, make_result
from .._validation import check_choice
from ..neighbours import nearest_neighbours
from ._common import BLOCK_ROWS, check_common, check_count, check_pair, pooled, role_columns

STATISTICS = ("data", "pooled")


def neighbour_graph(points: torch.Tensor, k: int, block_rows: int = BLOCK_ROWS) -> np.ndarray:
    """Indices of the k nearest other points of each point: (N, d) -> (N, k), nearest first."""
    return nearest_neighbours(points, k, block_rows=block_rows)


def knn_statistics(graph: np.ndarray, roles: np.ndarray, statistic: str = "data") -> np.ndarray:
    """The statistic of every split: graph (N, k) from ``neighbour_graph``, roles (N, B) 0/1 -> (B,)."""
    n_pool, k = graph.shape
    n_data = float(roles[:, 0].sum())
    adjacency = sparse.csr_matrix(
        (np.ones(graph.size, dtype=roles.dtype), graph.ravel(), np.arange(0, graph.size + 1, k)), shape=(n_pool, n_pool)
    )
    neighbours_in_data = adjacency @ roles  # (N, B): data-role neighbours of each point
    same_data = np.einsum("nb,nb->b", roles, neighbours_in_data, dtype=np.float64)  # e'Ae
    if statistic == "data":
        return same_data / (n_data * k)
    return (2.0 * same_data + k * (n_pool - n_data) - neighbours_in_data.sum(0, dtype=np.float64)) / (n_pool * k)


def knn_two_sample_test(
    reference,
    data,
    k: int = 10,
    n_permutations: int = 1000,
    seed: int = 0,
    statistic: str = "data",
    batch: int = 1000,
    dtype: str = "float32",
) -> TestResult:
    """Permutation test of a k-nearest-neighbour statistic between ``reference`` and ``data``.

    reference: array of shape (n_reference, n_features); data: (n_data, n_features).
    statistic: "data" (default; share of the data points' k neighbours that are data points,
    strongest on local over-densities of the data) or "pooled" (Schilling's share of same-sample
    neighbours over all points). Neighbours are Euclidean, computed once on the pooled sample in
    ``dtype``; permutations reassign the pooled points to samples of the original sizes on that
    fixed graph, ``batch`` at a time (memory is O(batch * n), n = n_reference + n_data; results do
    not depend on ``batch``). p = (1 + #{t_perm >= t_obs}) / (1 + n_permutations), never 0.
    ``method`` of the result is "knn/permutation", its ``label`` the statistic and k.
    """
    reference, data = check_pair(reference, data)
    check_count("k", k)
    n_pool, n_data = reference.shape[0] + data.shape[0], data.shape[0]
    if k >= n_pool:
        raise ValueError(f"`k` must be smaller than the pooled sample size ({n_pool}); got {k}.")
    check_count("n_permutations", n_permutations)
    check_choice("statistic", statistic, STATISTICS)
    check_common(seed, batch, dtype)

    graph = neighbour_graph(pooled(reference, data, dtype), int(k))  # (N, k)
    observed = np.zeros((n_pool, 1), dtype=np.float32)
    observed[n_pool - n_data :] = 1.0
    t_obs = knn_statistics(graph, observed, statistic)[0]
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(4,)))
    null = np.concatenate(
        [
            knn_statistics(graph, role_columns(rng, [np.arange(n_pool)], [n_data], size, n_pool, np.float32), statistic)
            for size in np.diff(np.r_[0:n_permutations:batch, n_permutations])
        ]
    )
    return make_result(t_obs, null, "knn/permutation", n_permutations, label=f"statistic={statistic}, k={k}")
