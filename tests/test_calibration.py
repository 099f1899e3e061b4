"""Null toys: batching invariances, type-I error, power on a planted bump, p-value conventions."""

import numpy as np
import pytest
from scipy import stats

from sparker_core import NotFittedError, SparKer, TestResult, clopper_pearson, empirical_pvalue, toys_needed
from sparker_core.calibration import combined_statistics, fit_tail, make_result
from synthetic import gaussian

SMALL = dict(n_kernels=3, max_epochs=60, sigma_init=2.0, sigma_final=0.8, fixed_kernels=0)  # SparKer alone: its toys


@pytest.fixture(scope="module")
def fitted():
    reference, data = gaussian(0, 800, 200, bump=10)
    return SparKer(dtype="float64", **SMALL).fit(reference, data)


@pytest.mark.parametrize("method", ["permutation", "reference"])
def test_results_do_not_depend_on_batch(fitted, method):
    by_batch = [fitted.calibrate(n_toys=12, method=method, batch=b, seed=3).null_distribution for b in (1, 5, 12)]
    for null in by_batch[1:]:
        np.testing.assert_allclose(null, by_batch[0], rtol=1e-9)


def test_batched_toys_equal_looped_toys(fitted):
    """Toys trained together equal the same toys trained one call at a time."""
    together = fitted.calibrate(n_toys=6, batch=6, seed=5).null_distribution
    looped = [r.null_distribution[-1] for r in fitted.calibrate_iter(n_toys=6, batch=1, seed=5)]
    np.testing.assert_allclose(looped, together, rtol=1e-9)


def test_observed_refit_through_toy_machinery_matches_fit(fitted):
    """The toy machinery trains ordinary fits: refitting the observed roles reproduces t_obs_."""
    result = fitted.calibrate(n_toys=3, method="reference", seed=0)
    assert np.isfinite(result.t_obs) and result.t_obs != fitted.t_obs_  # refit on the non-held rows
    multi = fitted.calibrate(n_toys=3, seed=0, configs=[{"sigma_final": fitted.sigma_final_}])
    assert multi.per_config[0].t_obs == pytest.approx(fitted.t_obs_, rel=1e-9)


def test_same_seed_same_null_other_seed_differs(fitted):
    a = fitted.calibrate(n_toys=5, seed=1).null_distribution
    b = fitted.calibrate(n_toys=5, seed=1).null_distribution
    c = fitted.calibrate(n_toys=5, seed=2).null_distribution
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


def test_pvalue_conventions():
    null = np.array([1.0, 2.0, 3.0, 4.0])
    assert empirical_pvalue(10.0, null) == pytest.approx(1 / 5)  # never 0
    assert empirical_pvalue(2.5, null) == pytest.approx(3 / 5)
    assert empirical_pvalue(3.0, null) == pytest.approx(3 / 5)  # ties count as exceeding
    result = make_result(10.0, null, "permutation", 4)
    assert result.pvalue == pytest.approx(0.2) and result.zscore == pytest.approx(stats.norm.isf(0.2))
    assert result.pvalue_ci[0] == 0.0 and result.pvalue_ci[1] == pytest.approx(1 - 0.025 ** (1 / 4))
    low, high = clopper_pearson(3, 10)
    assert low == pytest.approx(stats.beta.ppf(0.025, 3, 8)) and high == pytest.approx(stats.beta.ppf(0.975, 4, 7))
    assert toys_needed(3.0) == 740  # 1 / (1 + 740) <= Phi(-3) = 0.00135
    assert 1 / (1 + toys_needed(3.0)) <= stats.norm.sf(3.0) < 1 / toys_needed(3.0)


def test_pvalue_never_zero_and_ci_contains_p(fitted):
    result = fitted.calibrate(n_toys=30, seed=0)
    assert isinstance(result, TestResult) and result.n_toys == 30 and result.complete
    assert result.t_obs == fitted.t_obs_  # the permutation null ranks the fit's own t
    # p, its interval and Z recomputed from the toys, not only bounded
    exceeding = int(np.sum(result.null_distribution >= result.t_obs))
    assert result.pvalue == (1 + exceeding) / 31 and result.n_exceeding == exceeding
    assert result.pvalue_ci == pytest.approx(clopper_pearson(exceeding, 30))
    assert result.zscore == pytest.approx(stats.norm.isf(result.pvalue))


def test_extrapolated_pvalue_agrees_inside_toy_range():
    rng = np.random.default_rng(0)
    null = stats.gamma.rvs(6.0, loc=3.0, scale=2.0, size=2000, random_state=rng)
    for t_obs in np.quantile(null, [0.5, 0.8, 0.95]):
        result = make_result(t_obs, null, "permutation", 2000)
        assert result.tail_fit is not None and result.tail_fit.ks_pvalue > 0.01
        assert result.tail_fit.pvalue == pytest.approx(result.pvalue, rel=0.25, abs=0.01)
    far = make_result(np.max(null) * 2, null, "permutation", 2000)
    assert far.pvalue == pytest.approx(1 / 2001) and far.tail_fit.pvalue < 1e-6  # beyond the toys


def test_extrapolation_on_real_toys_agrees_with_empirical(fitted):
    result = fitted.calibrate(n_toys=60, seed=0)
    null = result.null_distribution
    fit = result.tail_fit
    assert fit is not None
    for q in (0.5, 0.75, 0.9):
        t = np.quantile(null, q)
        assert fit.sf(t) == pytest.approx(empirical_pvalue(t, null), abs=0.12)


def test_stopping_early_keeps_finished_toys_and_honest_pvalue(fitted):
    results = []
    for result in fitted.calibrate_iter(n_toys=40, batch=10, seed=0):
        results.append(result)
        if result.n_toys >= 20:
            break
    assert [r.n_toys for r in results] == [10, 20]
    kept = fitted.result_
    assert kept.n_toys == 20 and not kept.complete and kept.n_toys_requested == 40
    assert kept.pvalue == pytest.approx(empirical_pvalue(kept.t_obs, kept.null_distribution))
    full = fitted.calibrate(n_toys=40, batch=10, seed=0)
    np.testing.assert_allclose(full.null_distribution[:20], kept.null_distribution, rtol=1e-12)


def _old_loo_combined_pvalue(t_obs, null):
    """The rule used before: toys ranked among the other toys only (denominator n)."""
    n = null.shape[1]
    p_obs = ((1 + (null >= t_obs[:, None]).sum(1)) / (1 + n)).min()
    p_toys = ((null[:, None, :] >= null[:, :, None]).sum(2) / n).min(0)  # (n,): 1 + others, over n
    return (1 + np.sum(-np.log(p_toys) >= -np.log(p_obs))) / (1 + n)


def test_combined_statistics_is_exact():
    """Under the null the combined p-value has its nominal size, for independent and for strongly
    correlated statistics; the old leave-one-out rule does not (the test can fail)."""
    rng = np.random.default_rng(0)
    n_rep, n_toys, n_stats = 3000, 99, 6
    for rho in (0.0, 0.9):
        new, old = [], []
        for _ in range(n_rep):
            z = np.sqrt(rho) * rng.normal(size=(1, n_toys + 1)) + np.sqrt(1 - rho) * rng.normal(size=(n_stats, n_toys + 1))
            t_obs, null = z[:, 0], z[:, 1:]
            stat, stat_null = combined_statistics(t_obs, null, "minp")
            new.append(empirical_pvalue(stat, stat_null))
            old.append(_old_loo_combined_pvalue(t_obs, null))
        new, old = np.array(new), np.array(old)
        for alpha in (0.01, 0.05, 0.2):
            low, high = stats.binom.ppf([0.0005, 0.9995], n_rep, alpha) / n_rep
            assert low <= np.mean(new <= alpha) <= high, (rho, alpha, np.mean(new <= alpha))
        if rho == 0.0:
            assert np.mean(old <= 0.01) > stats.binom.ppf(0.9995, n_rep, 0.01) / n_rep  # the old rule's edge
    fisher, fisher_null = combined_statistics(np.array([3.0, 3.0]), np.zeros((2, 9)), "fisher")
    assert fisher == pytest.approx(-4 * np.log(0.1)) and np.all(fisher_null == pytest.approx(-4 * np.log(1.0)))


def test_multiscale_aggregation(fitted):
    configs = [{"sigma_final": 0.5}, {"sigma_final": "p20"}, {"n_kernels": 2}]
    result = fitted.calibrate(n_toys=15, seed=0, configs=configs)
    assert len(result.per_config) == 3 and result.combined.n_toys == 15
    assert result.per_config[0].label == "sigma_final=0.5" and result.per_config[2].label == "n_kernels=2"
    p_obs = min(r.pvalue for r in result.per_config)
    assert result.combined.t_obs == pytest.approx(-np.log(p_obs), abs=1 / 30)  # min p, up to the tie-break <= 1 / (2 m)
    # the combined statistic is calibrated on the same toys: a p-value in [1/16, 1]
    assert 1 / 16 <= result.combined.pvalue <= 1
    # each toy's p per configuration is its rank among the observed fit and all 15 toys
    every = np.stack([np.r_[r.t_obs, r.null_distribution] for r in result.per_config])  # (3, 16)
    ranks = (every[:, None, :] >= every[:, :, None]).sum(axis=2) / 16  # [j, i]: share of all >= item i
    np.testing.assert_allclose(result.combined.null_distribution, -np.log(ranks.min(axis=0)[1:]), atol=1 / 30)
    fisher = fitted.calibrate(n_toys=15, seed=0, configs=configs, combine="fisher")
    np.testing.assert_allclose(fisher.per_config[1].null_distribution, result.per_config[1].null_distribution)
    assert fisher.combined.t_obs == pytest.approx(-2 * sum(np.log(r.pvalue) for r in result.per_config))


def test_each_scale_of_a_multiscale_run_equals_its_own_calibration(fitted):
    # configs share the toys' splits; with init="excess" the starts follow each sigma_final, so each
    # scale's null must be exactly the one a single-configuration run of that scale gives
    configs = [{"sigma_final": 0.5}, {"sigma_final": 0.8}, {"n_kernels": 2}]
    multi = fitted.calibrate(n_toys=6, seed=3, configs=configs)
    for config, result in zip(configs, multi.per_config):
        alone = fitted.calibrate(n_toys=6, seed=3, configs=[config]).per_config[0]
        np.testing.assert_allclose(result.null_distribution, alone.null_distribution, rtol=1e-12)
        assert result.t_obs == pytest.approx(alone.t_obs, rel=1e-12)


@pytest.mark.slow
def test_planted_bump_detected_with_100_toys():
    reference, data = gaussian(1, n_ref=4000, n_data=500, d=4, bump=25)
    model = SparKer(n_kernels=4, max_epochs=100, seed=0).fit(reference, data)
    result = model.calibrate(n_toys=100, seed=0)
    assert result.pvalue <= 0.02
    assert result.t_obs > np.max(result.null_distribution)


@pytest.mark.slow
@pytest.mark.parametrize("method, configs", [
    ("permutation", None),  # the default: three final widths combined by min-p
    ("reference", None),
    ("permutation", [{"sigma_final": 0.3}, {"sigma_final": 0.6, "n_kernels": 2}]),  # `configs` end to end
])
def test_type_one_error_is_calibrated(method, configs):
    """Data drawn independently of the reference from the same law: uniform p-values."""
    pvalues = []
    for dataset in range(100):
        reference, data = gaussian(1000 + dataset, n_ref=800, n_data=200, d=2)
        model = SparKer(n_kernels=3, max_epochs=60, seed=dataset).fit(reference, data)
        pvalues.append(model.calibrate(n_toys=39, method=method, batch=40, seed=dataset, configs=configs).pvalue)
    pvalues = np.array(pvalues)
    # p takes values k / 40; compare with the uniform law on that grid, jittered inside each cell
    jittered = pvalues - np.random.default_rng(0).uniform(0, 1 / 40, size=pvalues.size)
    assert stats.kstest(jittered, "uniform").pvalue > 0.01
    rejections = int(np.sum(pvalues <= 0.05))
    low, high = stats.binom.ppf([0.005, 0.995], 100, 0.05)
    assert low <= rejections <= high


def test_bad_calibration_input(fitted):
    with pytest.raises(NotFittedError, match=r"call `fit` before `calibrate`"):
        SparKer().calibrate()
    with pytest.raises(ValueError, match=r"`n_toys` must be an integer >= 1; got 0\."):
        fitted.calibrate(n_toys=0)
    with pytest.raises(ValueError, match=r"`batch` must be an integer >= 1; got 0\."):
        fitted.calibrate(batch=0)
    with pytest.raises(ValueError, match=r"`method` must be one of 'permutation' or 'reference'; got 'bootstrap'\."):
        fitted.calibrate(method="bootstrap")
    with pytest.raises(ValueError, match=r"`combine` must be one of 'minp' or 'fisher'; got 'mean'\."):
        fitted.calibrate(configs=[{"sigma_final": 0.5}], combine="mean")
    with pytest.raises(ValueError, match=r"each entry of `configs` must be a dict"):
        fitted.calibrate(configs=[{"width": 1}])
    with pytest.raises(ValueError, match=r"`sigma_final` in `configs` must be a positive number, 'auto' or 'pNN'"):
        fitted.calibrate(configs=[{"sigma_final": "p200"}])
    reference, data = gaussian(0, n_ref=500, n_data=200)
    small = SparKer(**SMALL).fit(reference, data)
    with pytest.raises(ValueError, match=r"`method='reference'` needs a reference at least 4 times the data \(N_R >= 4 N_D\); got N_R=500, N_D=200\."):
        small.calibrate(method="reference")


def test_calibrating_an_interrupted_fit_is_refused():
    reference, data = gaussian(0, 800, 200)
    model = SparKer(**SMALL)
    for snap in model.fit_iter(reference, data, every=10):
        if snap.epoch == 20:
            break
    with pytest.raises(ValueError, match=r"`calibrate` needs a fit trained to completion; this one stopped at epoch 20 of 60\."):
        model.calibrate()


def test_a_multiscale_fit_calibrates_its_widths_like_configs_and_shows_the_detecting_width():
    """sigma_final as a list fits every width at once; calibrate() combines them exactly as the
    `configs` route does with the same widths, and the model then shows the width with the smallest p."""
    reference, data = gaussian(0, 800, 200, bump=10)
    params = dict(SMALL, dtype="float64", sigma_final=[0.4, 0.8, 1.6])
    model = SparKer(**params).fit(reference, data)
    assert model.scale_ == 1 and model.sigma_final_ == 0.8  # the middle width before calibration
    for j, width in enumerate(model.sigma_finals_):  # each width's fit is the single fit at that width
        alone = SparKer(**dict(params, sigma_final=float(width))).fit(reference, data)
        assert model.t_scales_[j] == pytest.approx(alone.t_obs_, rel=1e-9)
        np.testing.assert_allclose(model.show_scale(j).centers_, alone.centers_, rtol=1e-9, atol=1e-12)
    model.show_scale(1)
    result = model.calibrate(n_toys=15, seed=4)
    routed = SparKer(**dict(params, sigma_final=0.8)).fit(reference, data).calibrate(
        n_toys=15, seed=4, configs=[{"sigma_final": float(w)} for w in model.sigma_finals_])
    assert result.pvalue == routed.combined.pvalue and result.t_obs == pytest.approx(routed.combined.t_obs, rel=1e-12)
    np.testing.assert_allclose(result.null_distribution, routed.combined.null_distribution, rtol=1e-9)
    for mine, theirs in zip(result.per_config, routed.per_config):
        np.testing.assert_allclose(mine.null_distribution, theirs.null_distribution, rtol=1e-9)
    best = result.scale
    assert result.per_config[best].pvalue == min(r.pvalue for r in result.per_config)
    assert model.scale_ == best and model.t_obs_ == pytest.approx(result.per_config[best].t_obs)
    assert model.pvalue_ == result.pvalue == result.combined.pvalue  # the combined p, not the best width's
    assert len(model.history_) == len(model.fit_state_.histories[best]) and model.history_[-1].t == model.t_obs_


def test_sigma_final_list_errors():
    reference, data = gaussian(0, 200, 50)
    with pytest.raises(ValueError, match=r"`sigma_final` must be a positive number, 'auto' or a non-empty list of them; got an empty list\."):
        SparKer(sigma_final=[]).fit(reference, data)
    with pytest.raises(ValueError, match=r"`sigma_final` must be a positive number or 'auto'; got -1\."):
        SparKer(sigma_final=[0.5, -1]).fit(reference, data)
    with pytest.raises(ValueError, match=r"`sigma_final` must not exceed `sigma_init` when annealing; got 3 > 2\."):
        SparKer(sigma_init=2.0, sigma_final=[0.5, 3.0]).fit(reference, data)
    model = SparKer(**dict(SMALL, sigma_final=[0.5, 0.8])).fit(reference, data)
    with pytest.raises(ValueError, match=r"`scale` must be below the number of scales, 2; got 2\."):
        model.show_scale(2)


def test_tail_zscore_round_trips_where_p_underflows():
    # the gamma tail's Z comes from log p, exact down to where scipy's gamma log-sf itself underflows
    # (log p about -708); the rule before switched to sqrt(-2 log p) below -700, 0.12 too high there
    null = stats.gamma.rvs(3.0, size=400, random_state=np.random.default_rng(0))
    for t_obs in (30.0, 300.0, 660.0, 664.0, 666.0):  # log p = -26, -312, -699, -703, -705
        tail = fit_tail(null, t_obs)
        log_p = stats.gamma.logsf(t_obs, tail.shape, loc=tail.loc, scale=tail.scale)
        assert np.isfinite(log_p) and np.isfinite(tail.zscore)
        assert stats.norm.logsf(tail.zscore) == pytest.approx(log_p, rel=1e-9)
