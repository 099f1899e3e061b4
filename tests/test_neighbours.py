"""Nearest neighbours and the excess-seeded initial centres (sparker_core.neighbours)."""

import numpy as np
import pytest
import torch

from sparker_core import SparKer
from sparker_core.loss import role_weights
from sparker_core.neighbours import INIT_NEIGHBOURS, excess_scores, initial_rows, nearest_neighbours


def tail_bump(seed: int, n_ref=4000, n_data=400, n_signal=12):
    """1-D: reference Exp(1); data Exp(1) with n_signal rows replaced by N(6.4, 0.16^2) (the last rows)."""
    rng = np.random.default_rng(seed)
    reference = rng.exponential(1.0, (n_ref, 1))
    data = rng.exponential(1.0, (n_data, 1))
    data[-n_signal:] = rng.normal(6.4, 0.16, (n_signal, 1))
    return reference, data


def starts_of(reference, data, n_kernels, init, seed, sigma_final=0.01):
    """Data-row indices of the initial centres, through the library's rule."""
    points = torch.from_numpy(np.vstack([reference, data]) - reference.mean(0))
    a, b = role_weights(len(reference), len(data))
    rows = initial_rows(points, a, b, np.arange(len(reference)), len(reference) + np.arange(len(data)), n_kernels,
                        init, np.random.default_rng(seed), [sigma_final])[0]
    return rows - len(reference)


def test_nearest_neighbours_match_brute_force_for_a_subset_of_queries():
    points = np.random.default_rng(0).normal(size=(57, 3))
    graph = nearest_neighbours(torch.from_numpy(points), 5, n_queries=20, block_rows=6)
    dist = np.sqrt(((points[:20, None] - points[None]) ** 2).sum(-1))
    dist[np.arange(20), np.arange(20)] = np.inf
    np.testing.assert_array_equal(graph, np.argsort(dist, axis=1, kind="stable")[:, :5])


def test_excess_scores_peak_on_a_planted_tail_bump_and_average_zero_elsewhere():
    reference, data = tail_bump(1)
    points = torch.from_numpy(np.vstack([reference, data]) - reference.mean(0))
    a, b = role_weights(len(reference), len(data))
    score, graph = excess_scores(points, a, b, np.arange(len(reference)), len(reference) + np.arange(len(data)),
                                 np.random.default_rng(0))
    assert graph.shape == (len(data), INIT_NEIGHBOURS)
    bump, bulk = score[-12:], score[:-12]
    assert bump.min() > np.quantile(bulk, 0.99)  # every planted row beats 99 % of the background
    assert abs(bulk.mean()) < 0.5  # no excess on average where data and reference agree


def test_excess_init_starts_a_kernel_on_the_tail_bump_and_spreads_the_rest():
    reference, data = tail_bump(2)
    starts = starts_of(reference, data, 8, "excess", seed=0)
    assert len(set(starts)) == 8
    on_bump = np.abs(data[starts, 0] - 6.4) < 0.5  # (a background row in the bump counts: it is there too)
    assert on_bump.sum() == 1  # one kernel per compact group: the bump's neighbours and theirs are skipped
    spread = starts_of(reference, data, 4, "excess", seed=0, sigma_final=0.5)
    gaps = np.abs(data[spread, 0][:, None] - data[spread, 0][None, :]) + np.eye(4) * 9
    assert gaps.min() > 2 * 0.5  # no two starts within INIT_RADIUS = 2 final widths of each other
    random = starts_of(reference, data, 8, "random", seed=0)
    np.testing.assert_array_equal(random, np.random.default_rng(0).choice(len(data), 8, replace=False))


def test_excess_init_needs_a_positive_width():
    reference, data = tail_bump(4)
    with pytest.raises(ValueError, match=r"init='excess' spreads the starts by sigma_final, which must be positive; got 0\.0\."):
        starts_of(reference, data, 4, "excess", seed=0, sigma_final=0.0)


def test_fit_uses_the_init_rule_and_finds_the_tail_bump_that_random_starts_miss():
    reference, data = tail_bump(3)
    fits = {init: SparKer(n_kernels=8, seed=0, init=init).fit(reference, data) for init in ("excess", "random")}
    for init, model in fits.items():  # each scale's first snapshot holds exactly the rule's rows for its width
        for scale, sigma_final in enumerate(model.sigma_finals_):
            starts = starts_of(reference, data, 8, init, 0, sigma_final)
            np.testing.assert_allclose(model.show_scale(scale).history_[0].centers, data[starts], rtol=1e-6)
        model.show_scale(1)
    near = lambda m: np.abs(m.centers_[:, 0] - 6.4).min()  # noqa: E731
    assert near(fits["excess"]) < 0.3 < near(fits["random"])
    assert fits["excess"].t_obs_ > fits["random"].t_obs_
