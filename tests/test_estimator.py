"""The SparKer facade: detection of a planted bump, explanations, scoring, and every bad input."""

import dataclasses
import subprocess
import sys

import numpy as np
import pytest

from sparker_core import NotFittedError, SparKer


def bump_problem(seed, n_anomalies=60, d=5, n_ref=20000, n_data=2000):
    rng = np.random.default_rng(seed)
    reference = rng.normal(size=(n_ref, d))
    data = rng.normal(size=(n_data, d))
    data[:n_anomalies] = rng.normal(loc=1.5, scale=0.2, size=(n_anomalies, d))
    return reference, data


@pytest.fixture(scope="module")
def planted():
    reference, data = bump_problem(seed=1)
    return reference, data, SparKer(n_kernels=8, seed=0).fit(reference, data)


@pytest.fixture(scope="module")
def small_fit():
    rng = np.random.default_rng(0)
    reference, data = rng.normal(size=(300, 3)), rng.normal(size=(100, 3))
    return reference, data, SparKer(n_kernels=3, max_epochs=20).fit(reference, data)


def test_planted_bump_gives_larger_t_than_anomaly_free_data(planted):
    reference, _, model = planted
    rng = np.random.default_rng(2)
    clean = rng.normal(size=(2000, 5))  # same sizes, no anomaly
    null_t = SparKer(n_kernels=8, seed=0).fit(reference, clean).t_obs_
    assert model.t_obs_ > 2.5 * null_t


def test_top_amplitude_kernel_holds_the_planted_points(planted):
    _, _, model = planted
    table = model.explain()
    largest = np.abs(table["amplitude"]).max()
    # ties at the amplitude clip are broken by the ranking (the table's order)
    top = table[np.abs(table["amplitude"]) >= largest - 1e-6].iloc[0]
    members = top["members_data"]
    assert top["amplitude"] > 0 and len(members) >= 30
    assert np.mean(members < 60) > 0.5  # rows 0..59 of the data are the planted anomalies
    assert top["significance"] > 5 and top["excess"] > 20  # with tau=1 the bump may be shared by kernels


def test_explain_columns_and_consistency(planted):
    reference, data, model = planted
    table = model.explain(n_exemplars=4)
    expected_cols = {
        "kernel", "kind", "active", "amplitude", "sigma", "center", "n_data", "n_reference", "expected",
        "excess", "significance", "delta_t", "exemplars_nearest", "exemplars_top_score",
        "members_data", "members_reference",
    }
    assert expected_cols <= set(table.columns)
    assert sorted(table["kernel"]) == list(range(8))
    # excess regions first by local Z, then deficits (most negative Z first), then inactive kernels by delta_t
    kinds = table["kind"].map({"excess": 0, "deficit": 1, "inactive": 2}).to_numpy()
    assert np.all(np.diff(kinds) >= 0)
    assert np.all(np.diff(table.loc[table["kind"] == "excess", "significance"]) <= 0)
    assert np.all(np.diff(table.loc[table["kind"] == "deficit", "significance"]) >= 0)
    assert np.all(np.diff(table.loc[table["kind"] == "inactive", "delta_t"]) <= 0)
    assert table["kind"].iloc[0] == "excess"
    w = len(data) / len(reference)
    for row in table.itertuples():
        assert row.n_data == len(row.members_data)
        assert row.expected == pytest.approx(w * len(row.members_reference))
        assert row.excess == pytest.approx(row.n_data - row.expected)
        assert len(row.exemplars_nearest) == min(4, len(row.members_data))
        assert set(row.exemplars_nearest) <= set(row.members_data)
        members = len(row.members_data) + len(row.members_reference)
        assert row.active == (abs(row.amplitude) >= 0.05 and members > 0)
        assert row.kind == ("inactive" if not row.active else "excess" if row.amplitude > 0 else "deficit")
        if len(row.exemplars_nearest) > 1:  # nearest first
            dist = np.linalg.norm(data[row.exemplars_nearest] - row.center, axis=1)
            assert np.all(np.diff(dist) >= -1e-9)
            scores = model.score_samples(data[row.exemplars_top_score])
            assert np.all(np.diff(scores) <= 1e-9)
    # no point is a member of two kernels
    all_members = np.concatenate(table["members_data"].to_list())
    assert len(all_members) == len(set(all_members))


def test_score_samples_is_high_on_anomalies(planted):
    _, data, model = planted
    f = model.score_samples(data)
    assert f.shape == (2000,)
    assert np.median(f[:60]) > 1.0 > np.median(np.abs(f[60:]))


def test_standardize_preprocessing_is_fitted_on_reference(planted):
    reference, data, _ = planted
    scaled = SparKer(n_kernels=4, max_epochs=30, preprocessing="standardize")
    plain = SparKer(n_kernels=4, max_epochs=30, preprocessing="standardize")
    scaled.fit(reference * 10.0 + 3.0, data * 10.0 + 3.0)
    plain.fit(reference, data)
    # standardising makes the fit invariant to an affine change of units
    assert scaled.t_obs_ == pytest.approx(plain.t_obs_, rel=1e-3)
    np.testing.assert_allclose(scaled.centers_, plain.centers_ * 10.0 + 3.0, rtol=1e-3, atol=1e-2)


def test_constructor_stores_arguments_verbatim():
    model = SparKer(n_kernels=-3, schedule="nope", sigma_init="auto")
    assert model.n_kernels == -3 and model.schedule == "nope" and model.sigma_init == "auto"
    assert model.get_params()["n_kernels"] == -3


def test_not_fitted_errors():
    model = SparKer()
    with pytest.raises(NotFittedError, match=r"not fitted yet; call `fit` before `score_samples`"):
        model.score_samples(np.zeros((2, 2)))
    with pytest.raises(NotFittedError, match=r"not fitted yet; call `fit` before `explain`"):
        model.explain()


GOOD = np.random.default_rng(0).normal(size=(50, 3))


@pytest.mark.parametrize(
    "kwargs,reference,data,error,message",
    [
        ({}, np.array([["a", "b"], ["c", "d"]], dtype=object), GOOD[:, :2], TypeError,
         r"`reference` must be a numeric array; got dtype object\."),
        ({}, GOOD, np.array([["1", "2", "3"]] * 5), TypeError, r"`data` must be a numeric array; got dtype <U1\."),
        ({}, GOOD, np.where(np.eye(50, 3) > 0, np.nan, GOOD), ValueError,
         r"`data` contains NaN or infinite values \(3 entries\)\."),
        ({}, np.where(np.eye(50, 3) > 0, np.inf, GOOD), GOOD, ValueError,
         r"`reference` contains NaN or infinite values \(3 entries\)\."),
        ({}, GOOD[:, 0], GOOD, ValueError,
         r"`reference` must be a 2-D array of shape \(n_samples, n_features\); got 1-D array of shape \(50,\)\."),
        ({}, GOOD, GOOD[None], ValueError,
         r"`data` must be a 2-D array of shape \(n_samples, n_features\); got 3-D array of shape \(1, 50, 3\)\."),
        ({}, GOOD, GOOD[:, :2], ValueError,
         r"`data` and `reference` must have the same number of features; got 2 and 3\."),
        ({}, GOOD[:1], GOOD, ValueError, r"`reference` must have at least 2 rows; got 1\."),
        ({"n_kernels": 1}, GOOD, GOOD[:1], ValueError, r"`data` must have at least 2 rows; got 1\."),
        ({"n_kernels": 0}, GOOD, GOOD, ValueError, r"`n_kernels` must be an integer >= 1; got 0\."),
        ({"n_kernels": 2.5}, GOOD, GOOD, ValueError, r"`n_kernels` must be an integer >= 1; got 2\.5\."),
        ({"n_kernels": 51}, GOOD, GOOD, ValueError,
         r"`n_kernels` must not exceed the number of data rows; got 51 > 50\."),
        ({"sigma_init": -1.0}, GOOD, GOOD, ValueError, r"`sigma_init` must be a positive number or 'auto'; got -1\.0\."),
        ({"sigma_final": 0}, GOOD, GOOD, ValueError, r"`sigma_final` must be a positive number or 'auto'; got 0\."),
        ({"sigma_final": "wide"}, GOOD, GOOD, ValueError, r"`sigma_final` must be a positive number or 'auto'; got 'wide'\."),
        ({"sigma_init": 1.0, "sigma_final": 2.0}, GOOD, GOOD, ValueError,
         r"`sigma_final` must not exceed `sigma_init` when annealing; got 2 > 1\."),
        ({"schedule": "cosine"}, GOOD, GOOD, ValueError,
         r"`schedule` must be one of 'linear', 'geometric' or 'constant'; got 'cosine'\."),
        ({"device": "tpu"}, GOOD, GOOD, ValueError, r"`device` must be one of 'cpu', 'cuda' or 'auto'; got 'tpu'\."),
        ({"competition": "max"}, GOOD, GOOD, ValueError, r"`competition` must be one of 'softmax' or 'none'; got 'max'\."),
        ({"amplitude_clip": 0}, GOOD, GOOD, ValueError, r"`amplitude_clip` must be a positive number; got 0\."),
        ({"temperature": -2}, GOOD, GOOD, ValueError, r"`temperature` must be a positive number; got -2\."),
        ({"max_epochs": 0}, GOOD, GOOD, ValueError, r"`max_epochs` must be an integer >= 1; got 0\."),
        ({"sparsity": -0.1}, GOOD, GOOD, ValueError, r"`sparsity` must be a non-negative number; got -0\.1\."),
        ({"preprocessing": "whiten"}, GOOD, GOOD, ValueError,
         r"`preprocessing` must be one of 'none' or 'standardize'; got 'whiten'\."),
        ({"anneal_fraction": 1.5}, GOOD, GOOD, ValueError, r"`anneal_fraction` must be in \(0, 1\]; got 1\.5\."),
        ({"seed": -1}, GOOD, GOOD, ValueError, r"`seed` must be an integer >= 0; got -1\."),
        ({"dtype": "float16"}, GOOD, GOOD, ValueError, r"`dtype` must be one of 'float32' or 'float64'; got 'float16'\."),
        ({"init": "kmeans"}, GOOD, GOOD, ValueError, r"`init` must be one of 'excess' or 'random'; got 'kmeans'\."),
    ],
)
def test_fit_rejects_bad_input_with_one_line_message(kwargs, reference, data, error, message):
    with pytest.raises(error, match=message) as info:
        SparKer(**kwargs).fit(reference, data)
    assert "\n" not in str(info.value)


def test_cuda_request_without_cuda_is_refused(monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match=r"`device` is 'cuda' but CUDA is not available"):
        SparKer(device="cuda").fit(GOOD, GOOD)


def test_bad_weights_and_score_input(small_fit):
    reference, data, model = small_fit
    with pytest.raises(ValueError, match=r"`data_weight` must be a numeric array of shape \(100,\)"):
        SparKer(n_kernels=2, max_epochs=2).fit(reference, data, data_weight=np.ones(99))
    with pytest.raises(ValueError, match=r"`reference_weight` must be finite and non-negative"):
        SparKer(n_kernels=2, max_epochs=2).fit(reference, data, reference_weight=-np.ones(300))
    with pytest.raises(ValueError, match=r"`X` must have the same number of features as the fitted data; got 4 and 3\."):
        model.score_samples(np.zeros((5, 4)))


def test_failed_refit_keeps_previous_fit(small_fit):
    reference, data, model = small_fit
    before = model.t_obs_
    model.n_kernels = 0
    with pytest.raises(ValueError):
        model.fit(reference, data)
    model.n_kernels = 3
    assert model.t_obs_ == before
    assert model.score_samples(data).shape == (100,)


def test_weights_scale_the_reference_term():
    rng = np.random.default_rng(4)
    reference, data = rng.normal(size=(200, 2)), rng.normal(size=(80, 2))
    plain = SparKer(n_kernels=2, max_epochs=30, sigma_init=1.5, sigma_final=0.5, dtype="float64", init="random").fit(reference, data)
    # duplicating every reference row is the same as weighting it by 2 (random initial centres: the
    # excess rule's reference probe would see the duplicates as neighbours)
    doubled = SparKer(n_kernels=2, max_epochs=30, sigma_init=1.5, sigma_final=0.5, dtype="float64", init="random").fit(np.vstack([reference, reference]), data)
    weighted = SparKer(n_kernels=2, max_epochs=30, sigma_init=1.5, sigma_final=0.5, dtype="float64", init="random").fit(reference, data, reference_weight=np.full(200, 2.0))
    assert weighted.t_obs_ == pytest.approx(doubled.t_obs_, rel=1e-9)
    assert weighted.t_obs_ == pytest.approx(plain.t_obs_, rel=1e-9)  # w_R renormalises a uniform weight


def test_package_imports_no_ui_libraries():
    code = (
        "import sys, sparker_core; "
        "bad = [m for m in ('streamlit', 'plotly', 'umap') if m in sys.modules]; "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_score_samples_at_a_snapshot_replays_training():
    rng = np.random.default_rng(3)
    reference, data = rng.normal(size=(400, 3)), rng.normal(size=(100, 3))
    model = SparKer(n_kernels=3, max_epochs=20, preprocessing="standardize", seed=1)
    snaps = list(model.fit_iter(reference, data, every=5))
    grid = rng.normal(size=(50, 3))
    np.testing.assert_allclose(model.score_samples(grid, snapshot=snaps[-1]), model.score_samples(grid), rtol=1e-5, atol=1e-6)
    assert np.all(model.score_samples(grid, snapshot=snaps[0]) == 0.0)  # amplitudes start at 0
    middle = model.score_samples(grid, snapshot=snaps[2])
    assert not np.allclose(middle, model.score_samples(grid), rtol=1e-3, atol=1e-4)
    with pytest.raises(TypeError, match="`snapshot` must be a Snapshot"):
        model.score_samples(grid, snapshot="last")
    with pytest.raises(ValueError, match="`snapshot` must hold 3 kernels of 3 features"):
        model.score_samples(grid, snapshot=dataclasses.replace(snaps[0], centers=np.zeros((2, 3))))
