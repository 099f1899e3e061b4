"""f, the loss and their gradients against slow, obviously-correct references."""

import math

import numpy as np
import pytest
import torch

from sparker_core.kernels import augment, evaluate, loss_and_grad, nearest_kernel
from sparker_core.loss import np_loss
from sparker_core.model import KernelEnsemble

COMPETITIONS = [("softmax", 1.0), ("softmax", 0.5), ("softmax", 3.0), ("none", 1.0)]


def slow_f(x, centers, amplitudes, sigma, temperature, competition):
    """Double loop over points and kernels, straight from the formula."""
    n, m = x.shape[0], centers.shape[0]
    out = np.zeros(n)
    for p in range(n):
        sq = [float(((x[p] - centers[i]) ** 2).sum()) for i in range(m)]
        z = [-s / (2 * sigma**2) for s in sq]
        top = max(v / temperature for v in z)
        norm = sum(math.exp(v / temperature - top) for v in z)
        for i in range(m):
            k = math.exp(z[i])
            s = 1.0 if competition == "none" else math.exp(z[i] / temperature - top) / norm
            out[p] += amplitudes[i] * k * s
    return out


def slow_loss(f_ref, f_data, n_ref, n_data):
    w = n_data / n_ref
    return sum(w * (math.exp(v) - 1) for v in f_ref) - sum(f_data)


@pytest.fixture
def problem():
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(120, 7, generator=gen, dtype=torch.float64)
    centers = torch.randn(4, 5, 7, generator=gen, dtype=torch.float64)  # (T, M, d)
    amplitudes = torch.randn(4, 5, generator=gen, dtype=torch.float64)
    sigma = torch.tensor([0.6, 1.0, 1.7, 3.0], dtype=torch.float64)
    return x, centers, amplitudes, sigma


@pytest.mark.parametrize("competition,temperature", COMPETITIONS)
def test_f_matches_double_loop(problem, competition, temperature):
    x, centers, amplitudes, sigma = problem
    fast = evaluate(augment(x), centers, amplitudes, sigma, temperature, competition)  # (n, T)
    for t in range(centers.shape[0]):
        slow = slow_f(x.numpy(), centers[t].numpy(), amplitudes[t].numpy(), sigma[t].item(), temperature, competition)
        np.testing.assert_allclose(fast[:, t].numpy(), slow, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("competition,temperature", COMPETITIONS)
def test_module_f_matches_double_loop(problem, competition, temperature):
    x, centers, amplitudes, sigma = problem
    model = KernelEnsemble(centers, amplitudes, temperature, competition)
    f = model(x, sigma).detach()
    slow = slow_f(x.numpy(), centers[1].numpy(), amplitudes[1].numpy(), sigma[1].item(), temperature, competition)
    np.testing.assert_allclose(f[1].numpy(), slow, rtol=1e-10, atol=1e-12)


def test_loss_matches_double_loop(problem):
    x, centers, amplitudes, sigma = problem
    n_ref = 80
    weights_a = torch.zeros(120, 4, dtype=torch.float64)
    weights_b = torch.zeros(120, 4, dtype=torch.float64)
    weights_a[:n_ref] = 40 / 80
    weights_b[n_ref:] = 1.0
    loss, _, _ = loss_and_grad(augment(x), centers, amplitudes, sigma, weights_a, weights_b, with_grad=False)
    for t in range(4):
        f = slow_f(x.numpy(), centers[t].numpy(), amplitudes[t].numpy(), sigma[t].item(), 1.0, "softmax")
        expected = slow_loss(f[:n_ref], f[n_ref:], n_ref, 40)
        np.testing.assert_allclose(loss[t].item(), expected, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("competition,temperature", COMPETITIONS)
def test_hand_gradient_equals_autograd(problem, competition, temperature):
    x, centers, amplitudes, sigma = problem
    gen = torch.Generator().manual_seed(5)
    weights_a = torch.rand(120, 4, generator=gen, dtype=torch.float64)
    weights_b = torch.rand(120, 4, generator=gen, dtype=torch.float64)
    model = KernelEnsemble(centers, amplitudes, temperature, competition)
    loss = np_loss(model(x, sigma), weights_a, weights_b)
    loss.sum().backward()
    fused, grad_c, grad_a = loss_and_grad(
        augment(x), centers, amplitudes, sigma, weights_a, weights_b, temperature, competition
    )
    torch.testing.assert_close(fused, loss.detach(), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(grad_c, model.centers.grad, rtol=1e-9, atol=1e-11)
    torch.testing.assert_close(grad_a, model.amplitudes.grad, rtol=1e-9, atol=1e-11)


@pytest.mark.parametrize("competition,temperature", COMPETITIONS)
def test_gradcheck_float64(competition, temperature):
    gen = torch.Generator().manual_seed(11)
    x = torch.randn(30, 4, generator=gen, dtype=torch.float64)
    centers = torch.randn(2, 3, 4, generator=gen, dtype=torch.float64, requires_grad=True)
    amplitudes = torch.randn(2, 3, generator=gen, dtype=torch.float64, requires_grad=True)
    sigma = torch.tensor([0.8, 1.5], dtype=torch.float64)
    weights = torch.rand(30, 2, generator=gen, dtype=torch.float64)

    model = KernelEnsemble(centers.detach(), amplitudes.detach(), temperature, competition)

    def loss(c, a):
        f = torch.func.functional_call(model, {"centers": c, "amplitudes": a}, (x, sigma))
        return np_loss(f, weights, 1.0 - weights)

    assert torch.autograd.gradcheck(loss, (centers, amplitudes), eps=1e-6, atol=1e-6, rtol=1e-5)


def test_permuting_kernels_leaves_f_unchanged(problem):
    x, centers, amplitudes, sigma = problem
    perm = torch.tensor([3, 0, 4, 1, 2])
    f = evaluate(augment(x), centers, amplitudes, sigma)
    f_perm = evaluate(augment(x), centers[:, perm], amplitudes[:, perm], sigma)
    torch.testing.assert_close(f_perm, f, rtol=1e-12, atol=1e-12)


def test_float32_f_close_to_float64(problem):
    x, centers, amplitudes, sigma = problem
    f64 = evaluate(augment(x), centers, amplitudes, sigma)
    f32 = evaluate(augment(x.float()), centers.float(), amplitudes.float(), sigma.float())
    np.testing.assert_allclose(f32.double().numpy(), f64.numpy(), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("case", ["d4096", "far_points", "narrow_sigma"])
def test_no_nan_or_inf_in_extreme_regimes(case):
    gen = torch.Generator().manual_seed(0)
    d = 4096 if case == "d4096" else 16
    x = torch.randn(300, d, generator=gen)
    centers = torch.randn(2, 6, d, generator=gen)
    sigma = torch.tensor([1.0, 0.3])
    if case == "far_points":
        x[:100] += 1e4  # many sigmas away from every centre
    if case == "narrow_sigma":
        sigma = torch.tensor([1e-4, 1e-6])
    amplitudes = torch.randn(2, 6, generator=gen)
    weights_a = torch.full((300, 2), 0.5)
    weights_b = torch.ones(300, 2)
    loss, grad_c, grad_a = loss_and_grad(augment(x), centers, amplitudes, sigma, weights_a, weights_b)
    f = evaluate(augment(x), centers, amplitudes, sigma)
    for tensor in (loss, grad_c, grad_a, f):
        assert torch.isfinite(tensor).all()
    assert (f.abs() <= amplitudes.abs().max() + 1e-6).all()  # |f| <= max |a| since k <= 1, sum s = 1


def test_nearest_kernel_is_softmax_argmax(problem):
    x, centers, _, _ = problem
    sigma = torch.tensor(0.7, dtype=torch.float64)
    index, z = nearest_kernel(augment(x), centers[0], sigma)
    dist = torch.cdist(x, centers[0])
    assert torch.equal(index, dist.argmin(1))
    torch.testing.assert_close(z, -dist.min(1).values ** 2 / (2 * 0.7**2), rtol=1e-9, atol=1e-9)
