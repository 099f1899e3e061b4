"""Batched training: fits in a batch equal fits run alone; snapshots, schedules, stopping."""

from functools import partial

import numpy as np
import pytest
import torch

from sparker_core import KernelEnsemble, SparKer, StopTraining, sigma_schedule, train_iter
from sparker_core.kernels import augment
from sparker_core.loss import role_weights
from sparker_core.neighbours import initial_rows
from synthetic import gaussian


gaussian_problem = partial(gaussian, 0, 600, 150, d=4, loc=1.8)


def batched_run(model, reference, data, seeds, block_fits=None):
    """The same fits as ``model.fit`` with each seed, trained together through ``train_iter``."""
    problem = model.prepare(reference, data)
    pool = augment(torch.cat([problem.reference, problem.data]))
    a, b = role_weights(len(reference), len(data))
    n_fits = len(seeds)
    cols = lambda w: torch.as_tensor(w, dtype=problem.dtype)[:, None].repeat(1, n_fits)  # noqa: E731
    ref_rows, data_rows = np.arange(len(reference)), len(reference) + np.arange(len(data))
    starts = [initial_rows(pool[:, : data.shape[1]], a, b, ref_rows, data_rows, model.n_kernels, problem.config.init,
                           np.random.default_rng(s), [problem.config.sigma_final])[0] - len(reference) for s in seeds]
    centers = torch.stack([problem.data[idx] for idx in starts])
    sigmas = torch.as_tensor(problem.sigmas, dtype=problem.dtype)[:, :1].repeat(1, n_fits)
    *_, last = train_iter(pool, cols(a), cols(b), centers, sigmas, problem.config, every=None, block_fits=block_fits)
    return last


@pytest.mark.parametrize("dtype,rtol", [("float64", 1e-9), ("float32", 2e-4)])
def test_batched_fits_equal_single_fits(dtype, rtol):
    reference, data = gaussian_problem(bump=20)
    params = dict(n_kernels=4, sigma_init=2.0, sigma_final=0.6, max_epochs=60, dtype=dtype)
    seeds = [0, 1, 2, 3, 4]
    last = batched_run(SparKer(**params), reference, data, seeds, block_fits=2)
    for i, seed in enumerate(seeds):
        single = SparKer(seed=seed, **params).fit(reference, data)
        np.testing.assert_allclose(last.t[i], single.t_obs_, rtol=rtol)
        np.testing.assert_allclose(last.amplitudes[i], single.amplitudes_, rtol=50 * rtol, atol=50 * rtol)


def test_results_do_not_depend_on_block_size():
    reference, data = gaussian_problem(bump=20)
    model = SparKer(n_kernels=3, sigma_init=2.0, sigma_final=0.6, max_epochs=40, dtype="float64")
    seeds = list(range(7))
    t_by_block = [batched_run(model, reference, data, seeds, block_fits=b).t for b in (1, 3, 7)]
    for t in t_by_block[1:]:
        np.testing.assert_allclose(t, t_by_block[0], rtol=1e-9)


def test_same_seed_gives_identical_t_and_different_seeds_differ():
    reference, data = gaussian_problem(bump=20)
    first = SparKer(n_kernels=4, max_epochs=50, seed=7).fit(reference, data)
    again = SparKer(n_kernels=4, max_epochs=50, seed=7).fit(reference, data)
    other = SparKer(n_kernels=4, max_epochs=50, seed=8).fit(reference, data)
    assert first.t_obs_ == again.t_obs_
    np.testing.assert_array_equal(first.centers_, again.centers_)
    assert other.t_obs_ != first.t_obs_


def test_snapshots_follow_schedule_and_end_at_t_obs():
    reference, data = gaussian_problem(bump=20)
    model = SparKer(n_kernels=3, sigma_init=2.0, sigma_final=0.5, schedule="geometric", max_epochs=50, anneal_fraction=0.5)
    snaps = list(model.fit_iter(reference, data, every=20))
    assert [s.epoch for s in snaps] == [0, 20, 40, 50]
    expected = sigma_schedule(2.0, 0.5, "geometric", 50, 0.5)
    np.testing.assert_allclose([s.sigma for s in snaps], expected[[0, 20, 40, 50]], rtol=1e-6)
    assert snaps[-1].t == model.t_obs_ and snaps[-1].sigma == pytest.approx(0.5)
    np.testing.assert_array_equal(snaps[0].amplitudes, 0.0)  # amplitudes start at 0, so t starts at 0
    assert snaps[0].t == 0.0
    assert snaps[-1].centers.shape == (3, 4) and not model.stopped_early_
    assert len(model.history_) == 4


def test_snapshot_t_is_loss_of_reported_parameters():
    reference, data = gaussian_problem(bump=20)
    model = SparKer(n_kernels=3, sigma_init=1.0, sigma_final=1.0, schedule="constant", max_epochs=30, dtype="float64")
    snaps = list(model.fit_iter(reference, data, every=10))
    w = len(data) / len(reference)
    for snap in snaps:
        ensemble = KernelEnsemble(torch.tensor(snap.centers)[None], torch.tensor(snap.amplitudes)[None])
        sigma = torch.tensor([snap.sigma], dtype=torch.float64)
        f_ref = ensemble(torch.tensor(reference), sigma)[0].detach().numpy()
        f_data = ensemble(torch.tensor(data), sigma)[0].detach().numpy()
        loss = w * np.expm1(f_ref).sum() - f_data.sum()
        np.testing.assert_allclose(snap.t, -2 * loss, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("schedule", ["linear", "geometric", "constant"])
def test_sigma_schedule_shapes(schedule):
    sig = sigma_schedule(4.0, 1.0, schedule, 100, 0.5)
    assert sig.shape == (101,)
    assert sig[-1] == pytest.approx(1.0) and sig[50] == pytest.approx(1.0)
    if schedule == "constant":
        np.testing.assert_array_equal(sig, 1.0)
    else:
        assert sig[0] == pytest.approx(4.0) and np.all(np.diff(sig) <= 0)
    if schedule == "linear":
        assert sig[25] == pytest.approx(2.5)
    if schedule == "geometric":
        assert sig[25] == pytest.approx(2.0)


def test_callback_stops_training_and_keeps_a_usable_model():
    reference, data = gaussian_problem(bump=20)
    seen = []

    def stop_at_20(snap):
        seen.append(snap.epoch)
        if snap.epoch >= 20:
            raise StopTraining

    model = SparKer(n_kernels=3, max_epochs=100).fit(reference, data, callbacks=[stop_at_20], snapshot_every=10)
    assert seen == [0, 10, 20]
    assert model.stopped_early_ and model.n_epochs_ == 20
    assert model.score_samples(data).shape == (len(data),)


def test_breaking_out_of_fit_iter_marks_stopped_early():
    reference, data = gaussian_problem()
    model = SparKer(n_kernels=2, max_epochs=100)
    for snap in model.fit_iter(reference, data, every=5):
        if snap.epoch == 15:
            break
    assert model.stopped_early_ and model.n_epochs_ == 15 and model.t_obs_ == snap.t


def test_amplitudes_stay_clipped_and_positive_only():
    reference, data = gaussian_problem(bump=40)
    model = SparKer(n_kernels=6, amplitude_clip=0.3, max_epochs=80).fit(reference, data)
    assert np.all(np.abs(model.amplitudes_) <= 0.3 + 1e-7)
    positive = SparKer(n_kernels=6, positive_only=True, max_epochs=80).fit(reference, data)
    assert np.all(positive.amplitudes_ >= 0)
    for snap in positive.history_:
        assert np.all(snap.amplitudes >= 0)


def test_sparsity_silences_kernels():
    reference, data = gaussian_problem(bump=40)
    dense = SparKer(n_kernels=8, max_epochs=150, sparsity=0.0).fit(reference, data)
    sparse = SparKer(n_kernels=8, max_epochs=150, sparsity=5.0).fit(reference, data)
    assert (np.abs(sparse.amplitudes_) < 0.05).sum() >= 2  # the L1 penalty drives some amplitudes to ~0
    assert sparse.active_.sum() < dense.active_.sum()
