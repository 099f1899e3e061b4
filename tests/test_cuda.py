"""SparKer(device="cuda") end to end against the CPU on one small fixed-seed case: fit, calibrate,
score_samples (now and at a snapshot), explain, save_bundle and load_bundle.

float32 sums run in another order on the GPU, so t and the null agree to a relative tolerance, not
bit for bit; the p-value may move by one toy when a toy's t lies within that tolerance of t_obs.
Skipped without CUDA; ``benchmarks/gpu_check.py`` runs the larger checks and the timings.
"""

import numpy as np
import pytest
import torch

from sparker_core import SparKer, load_bundle, save_bundle

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")

N_TOYS = 12
RTOL = 1e-3  # float32 over 40 epochs, summed in another order


def _inputs():
    rng = np.random.default_rng(3)
    reference = rng.standard_normal((800, 6))
    data = rng.standard_normal((200, 6))
    data[:30] += 2.5  # a compact excess the kernels find
    return reference, data


@pytest.fixture(scope="module")
def runs():
    reference, data = _inputs()
    out = {}
    for device in ("cpu", "cuda"):
        model = SparKer(n_kernels=4, max_epochs=40, seed=0, device=device).fit(reference, data)
        out[device] = (model, model.calibrate(n_toys=N_TOYS, batch=5, seed=0))
    return out


def test_fit_and_null_agree_with_the_cpu(runs):
    (cpu, cpu_result), (gpu, gpu_result) = runs["cpu"], runs["cuda"]
    assert gpu.problem_.pool_aug.is_cuda
    np.testing.assert_allclose(gpu.t_scales_, cpu.t_scales_, rtol=RTOL)
    for got, want in zip(gpu_result.per_config, cpu_result.per_config):
        np.testing.assert_allclose(got.null_distribution, want.null_distribution, rtol=RTOL, atol=1e-3)
    assert abs(gpu_result.pvalue - cpu_result.pvalue) <= 1.0 / (N_TOYS + 1)


def test_scores_now_and_at_a_snapshot_agree_with_the_cpu(runs):
    (cpu, _), (gpu, _) = runs["cpu"], runs["cuda"]
    reference, data = _inputs()
    np.testing.assert_allclose(gpu.score_samples(data), cpu.score_samples(data), rtol=RTOL, atol=1e-4)
    got = gpu.score_samples(data, snapshot=gpu.history_[1])
    np.testing.assert_allclose(got, cpu.score_samples(data, snapshot=cpu.history_[1]), rtol=RTOL, atol=1e-4)


def test_explain_agrees_with_the_cpu(runs):
    (cpu, _), (gpu, _) = runs["cpu"], runs["cuda"]
    want, got = cpu.explain().sort_values("kernel"), gpu.explain().sort_values("kernel")
    assert list(got["kind"]) == list(want["kind"])
    np.testing.assert_allclose(got["amplitude"], want["amplitude"], rtol=RTOL, atol=1e-4)
    np.testing.assert_allclose(got["delta_t"], want["delta_t"], rtol=RTOL, atol=1e-3)
    for a, b in zip(got["members_data"], want["members_data"]):
        assert len(set(a) ^ set(b)) <= 1  # a point at a membership boundary may fall either side


def test_bundle_of_a_cuda_fit_reloads(runs, tmp_path):
    gpu, result = runs["cuda"]
    reference, data = _inputs()
    path = save_bundle(tmp_path / "bundle", gpu, result, reference, data, {"load": {}, "files": {}})
    bundle = load_bundle(path)
    assert bundle.result.pvalue == result.pvalue
    np.testing.assert_array_equal(bundle.amplitudes, gpu.amplitudes_)
