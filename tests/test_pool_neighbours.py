"""The pool's neighbour graph gives every subset the neighbours a search of that subset finds."""

import pickle

import numpy as np
import torch

from sparker_core.neighbours import PoolNeighbours, nearest_neighbours


def test_subset_neighbours_from_the_pool_graph_equal_a_search_of_the_subset():
    points = torch.from_numpy(np.random.default_rng(0).normal(size=(900, 5)))
    pool = PoolNeighbours(points, n_data=150)
    assert pool.use_graph
    rng = np.random.default_rng(1)
    for _ in range(5):  # permutation-like subsets: 150 "data" rows first, then a 300-row probe
        rows = rng.permutation(900)[:450]
        expected = nearest_neighbours(points[torch.as_tensor(rows)], 10, n_queries=150)
        np.testing.assert_array_equal(pool.subset_neighbours(rows, 10, 150), expected)
    pool.candidates = 11  # most rows now have fewer than 10 subset rows among their candidates
    pool._graph = None  # searched again with the fewer candidates
    np.testing.assert_array_equal(pool.subset_neighbours(rows, 10, 150), expected)


def test_a_huge_reference_keeps_the_per_fit_search():
    points = torch.zeros(30_000, 2)
    assert not PoolNeighbours(points, n_data=100).use_graph  # the pool graph would cost ~100 fits' searches
    assert PoolNeighbours(points, n_data=5_000).use_graph


def test_a_pickled_pool_carries_the_whole_graph_and_its_copy_only_reads_it():
    """Ray hands workers the Problem (and its pool graph) as read-only arrays: they must find every block searched."""
    points = torch.from_numpy(np.random.default_rng(2).normal(size=(5000, 4)))
    whole, partial = PoolNeighbours(points, n_data=2000), PoolNeighbours(points, n_data=2000)
    expected = whole.graph_rows(np.arange(5000))
    partial.graph_rows(np.arange(4500, 5000))  # a fit's own data rows: the last block only
    copy = pickle.loads(pickle.dumps(partial))
    copy._graph.flags.writeable = False
    np.testing.assert_array_equal(copy.graph_rows(np.arange(5000)), expected)
