"""The hand-written pieces kept for speed agree with the maintained libraries they replace:
``training._Adam`` with ``torch.optim.Adam``, the blocked neighbour search with scikit-learn's
``NearestNeighbors``. (The fused gradient is checked against autograd in test_kernels.py.)"""

import numpy as np
import torch
from sklearn.neighbors import NearestNeighbors

from sparker_core.neighbours import nearest_neighbours
from sparker_core.training import _ADAM_BETAS, _ADAM_EPS, _Adam


def test_the_block_adam_takes_torch_adams_steps():
    gen = torch.Generator().manual_seed(0)
    start = torch.randn(6, 4, 3, generator=gen, dtype=torch.float64)
    ours, theirs = _Adam(start.clone()), start.clone().requires_grad_(True)
    reference = torch.optim.Adam([theirs], lr=0.05, betas=_ADAM_BETAS, eps=_ADAM_EPS)
    for step in range(1, 40):
        grad = torch.randn(6, 4, 3, generator=gen, dtype=torch.float64)
        ours.step(slice(0, 3), grad[:3], 0.05, step)  # two blocks of fits, as the batched training updates them
        ours.step(slice(3, 6), grad[3:], 0.05, step)
        theirs.grad = grad.clone()
        reference.step()
    torch.testing.assert_close(ours.param, theirs.detach(), rtol=1e-12, atol=1e-12)


def test_the_blocked_neighbour_search_finds_scikit_learns_neighbours():
    points = np.random.default_rng(1).normal(size=(700, 12))
    graph = nearest_neighbours(torch.from_numpy(points), 10, block_rows=128)
    _, theirs = NearestNeighbors(n_neighbors=11).fit(points).kneighbors(points)
    np.testing.assert_array_equal(graph, theirs[:, 1:])  # scikit-learn lists each point as its own nearest
