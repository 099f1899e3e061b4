"""The fixed-centre companion test inside SparKer's p-value (``fixed_kernels``)."""

import json

import numpy as np
import pytest
from scipy import stats
from synthetic import gaussian

from sparker_core import SparKer, TestResult, empirical_pvalue
from sparker_core.baselines.fixed_centers import fixed_centers_np_test
from sparker_core.bundle import load_bundle, save_bundle
from sparker_core.calibration import combined_statistics, companion_statistics
from sparker_core.cli import main
from sparker_core.report import reproduce_command
from sparker_core.sensitivity import shared_null_test
from sparker_core.verify import verify_bundle

SMALL = dict(n_kernels=3, max_epochs=30, sigma_init=2.0)


@pytest.fixture(scope="module")
def pair():
    return gaussian(0, n_ref=600, n_data=150, d=5, bump=10)


def test_the_companion_is_the_fixed_centre_test_on_the_same_toys(pair):
    """Its observed t and every toy's t equal ``fixed_centers_np_test`` with the same seed: the same
    centre rows, width, roles and Newton solve."""
    reference, data = pair
    result = SparKer(seed=4, fixed_kernels=120, sigma_final=1.0, **SMALL).fit(reference, data).calibrate(n_toys=10, seed=4, batch=4)
    baseline = fixed_centers_np_test(reference, data, n_centers=120, seed=4, n_toys=10)
    assert result.companion.t_obs == baseline.t_obs
    np.testing.assert_array_equal(result.companion.null_distribution, baseline.null_distribution)
    assert result.companion.label.startswith("fixed-centre companion (120 kernels, sigma=")


def test_the_pvalue_combines_the_widths_then_the_companion(pair):
    reference, data = pair
    model = SparKer(seed=2, sigma_final=[0.6, 1.2], **SMALL).fit(reference, data)
    result = model.calibrate(n_toys=12, seed=3)
    assert len(result.per_config) == 2 and result.companion is not None
    t_obs = np.array([r.t_obs for r in result.per_config])
    null = np.stack([r.null_distribution for r in result.per_config])
    stat, stat_null = companion_statistics(t_obs, null, "minp", result.companion.t_obs, result.companion.null_distribution)
    assert result.t_obs == stat and np.array_equal(result.null_distribution, stat_null)
    assert result.pvalue == empirical_pvalue(stat, stat_null)
    # the scale shown is still one of SparKer's widths, never the companion
    assert result.scale in (0, 1) and model.scale_ == result.scale


def test_one_width_with_the_companion_is_a_combined_result_and_without_it_a_plain_one(pair):
    reference, data = pair
    with_companion = SparKer(seed=1, sigma_final=1.0, **SMALL).fit(reference, data).calibrate(n_toys=6, seed=1)
    assert len(with_companion.per_config) == 1 and with_companion.companion is not None
    alone = SparKer(seed=1, sigma_final=1.0, fixed_kernels=0, **SMALL).fit(reference, data).calibrate(n_toys=6, seed=1)
    assert isinstance(alone, TestResult)
    # the widths' own toys do not depend on the companion
    np.testing.assert_array_equal(alone.null_distribution, with_companion.per_config[0].null_distribution)


def test_the_companion_null_does_not_depend_on_how_many_fits_are_solved_together(pair, monkeypatch):
    """Up to float32 summation order in the batched products, as SparKer's own toys."""
    from sparker_core import calibration

    reference, data = pair
    model = SparKer(seed=2, sigma_final=1.0, fixed_kernels=50, **SMALL).fit(reference, data)
    together = model.calibrate(n_toys=7, seed=3).companion.null_distribution
    assert calibration.companion_batch(model.problem_) == 16
    monkeypatch.setattr(calibration, "COMPANION_ELEMENTS", 1)  # one fit at a time, as for a huge reference
    assert calibration.companion_batch(model.problem_) == 1
    np.testing.assert_allclose(model.calibrate(n_toys=7, seed=3).companion.null_distribution, together, rtol=1e-5)


def test_fixed_kernels_is_capped_by_the_data_rows_and_checked(pair):
    reference, data = pair
    model = SparKer(seed=1, sigma_final=1.0, **SMALL).fit(reference, data[:40])
    assert model.problem_.companion_kernels == 40  # 200 by default, one centre per data row at most
    with pytest.raises(ValueError, match="`fixed_kernels` must be an integer >= 0; got -1"):
        SparKer(fixed_kernels=-1).fit(reference, data)


def test_companion_statistics_is_exact():
    """Under the null the two-level combination has its nominal size (correlated widths, an independent
    companion and a correlated one)."""
    rng = np.random.default_rng(1)
    n_rep, n_toys = 3000, 99
    for rho in (0.0, 0.8):
        pvalues = []
        for _ in range(n_rep):
            shared = rng.normal(size=(1, n_toys + 1))
            widths = np.sqrt(0.7) * shared + np.sqrt(0.3) * rng.normal(size=(3, n_toys + 1))
            companion = np.sqrt(rho) * shared[0] + np.sqrt(1 - rho) * rng.normal(size=n_toys + 1)
            stat, stat_null = companion_statistics(widths[:, 0], widths[:, 1:], "minp", companion[0], companion[1:])
            pvalues.append(empirical_pvalue(stat, stat_null))
        pvalues = np.array(pvalues)
        for alpha in (0.01, 0.05, 0.2):
            low, high = stats.binom.ppf([0.0005, 0.9995], n_rep, alpha) / n_rep
            assert low <= np.mean(pvalues <= alpha) <= high, (rho, alpha, np.mean(pvalues <= alpha))
    # one width: its t is the first level itself
    stat, _ = companion_statistics(np.array([5.0]), np.arange(9.0)[None], "minp", 0.0, np.arange(9.0))
    direct, _ = combined_statistics(np.array([5.0, 0.0]), np.stack([np.arange(9.0), np.arange(9.0)]), "minp")
    assert stat == direct


def test_a_bundle_holds_the_companion_and_verifies(pair, tmp_path):
    reference, data = pair
    model = SparKer(seed=2, sigma_final=[0.6, 1.2], **SMALL).fit(reference, data)
    result = model.calibrate(n_toys=8, seed=5)
    out = save_bundle(tmp_path / "b", model, result, reference, data, {"load": {}, "files": {}},
                      extra={"calibration_seed": 5})
    assert np.load(out / "null.npy").shape == (4, 8)  # combined, two widths, the companion
    reloaded = load_bundle(out)
    assert reloaded.result.pvalue == result.pvalue and reloaded.result.companion.t_obs == result.companion.t_obs
    passed = verify_bundle(out, reference, data, n_toys=2, toy_seed=0)
    assert any("and the companion test recomputed" in line for line in passed)


def test_a_bundle_from_before_the_companion_still_verifies(pair, tmp_path):
    """Bundles written before ``fixed_kernels`` existed record neither it nor ``result.companion``:
    they are refitted and verified as SparKer alone."""
    reference, data = pair
    model = SparKer(seed=2, sigma_final=[0.6, 1.2], fixed_kernels=0, **SMALL).fit(reference, data)
    out = save_bundle(tmp_path / "old", model, model.calibrate(n_toys=6, seed=1), reference, data,
                      {"load": {}, "files": {}}, extra={"calibration_seed": 1})
    manifest = json.loads((out / "manifest.json").read_text())
    del manifest["params"]["fixed_kernels"], manifest["result"]["companion"]
    (out / "manifest.json").write_text(json.dumps(manifest))
    assert load_bundle(out).result.companion is None
    assert verify_bundle(out, reference, data, n_toys=1, toy_seed=0)


def test_the_sensitivity_null_combines_the_companion_as_calibrate_does():
    rng = np.random.default_rng(0)
    null = rng.normal(size=(19, 3))
    t = np.array([2.5, 0.1, 3.0])
    stat, p = shared_null_test(t, null, companion=True)
    want, want_null = companion_statistics(t[:2], null[:, :2].T, "minp", t[2], null[:, 2])
    assert stat == want and p == empirical_pvalue(want, want_null)


def test_the_cli_runs_sparker_alone_with_fixed_kernels_0_and_says_so_in_the_reproduce_command(tmp_path, capsys):
    rng = np.random.default_rng(0)
    np.save(tmp_path / "ref.npy", rng.normal(size=(300, 3)))
    np.save(tmp_path / "data.npy", rng.normal(size=(80, 3)))
    assert main(["run", "--reference", str(tmp_path / "ref.npy"), "--data", str(tmp_path / "data.npy"), "--n-kernels", "2",
                 "--epochs", "10", "--n-toys", "5", "--fixed-kernels", "0", "--quiet", "--out", str(tmp_path / "b")]) == 0
    bundle = load_bundle(tmp_path / "b")
    assert bundle.result.companion is None and bundle.manifest["params"]["fixed_kernels"] == 0
    assert "--fixed-kernels 0" in reproduce_command(bundle.manifest)
    assert "companion" not in capsys.readouterr().out


def test_poisson_pseudo_data_are_shared_by_sparker_and_the_companion():
    """With pseudo-data of a Poisson size, each toy's roles do not depend on how many centres a test draws."""
    from sparker_core.roles import null_design, toy_roles

    rng = np.random.default_rng(3)
    reference, data = rng.normal(size=(500, 3)), rng.normal(size=(50, 3))  # 50 centres: the clip binds often
    problem = SparKer(n_kernels=3, sigma_final=1.0, max_epochs=5, seed=1).fit(reference, data).problem_
    assert problem.companion_kernels == 50
    design = null_design(problem, "reference", seed=2, poisson=True)
    for toy in range(12):
        mine, companion = toy_roles(problem, design, toy, 3), toy_roles(problem, design, toy, problem.companion_kernels)
        np.testing.assert_array_equal(mine[1], companion[1])
        np.testing.assert_array_equal(mine[0], companion[0])
