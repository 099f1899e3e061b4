"""Baselines: statistics against slow references, batching and seed invariances, calibration under
no signal, power on a planted bump, p-value conventions, and every input error."""

import numpy as np
import pytest
import torch
from scipy import optimize, stats

from sparker_core import TestResult
from sparker_core.baselines import (
    classifier_two_sample_test,
    fixed_centers_np_statistic,
    fixed_centers_np_test,
    knn_two_sample_test,
    mmd_permutation_test,
)
from sparker_core.baselines.classifier import cross_fitted_scores, default_classifier
from sparker_core.baselines.knn import neighbour_graph
from sparker_core.baselines.mmd import AGGREGATE_FACTORS, mmd_statistics
from sparker_core.calibration import combined_statistics
from synthetic import gaussian

ALPHA = 0.05


@pytest.fixture(autouse=True)
def one_thread():
    """These problems are tiny: one thread each, which also avoids OpenMP/BLAS threads spinning when
    the cores are shared (measured: a 60-point logistic regression fit took 28 ms with two threads on
    a loaded 2-core machine, 3.8 ms with one)."""
    from threadpoolctl import threadpool_limits

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    with threadpool_limits(1):
        yield
    torch.set_num_threads(before)


def assert_calibrated(pvalues, n_datasets):
    """Rejections within the binomial 99% band of exact calibration at ALPHA, and not above it at larger
    levels, where a liberal test shows with few datasets (over 60 datasets the band at 0.05 ends at 8
    rejections, 2.7 times the nominal size; at 0.5 it ends at 40, 1.33 times). Below the band is allowed
    there: a statistic with ties (kNN shares) gives conservative p-values. And p-values not far from uniform."""
    for level in (ALPHA, 0.2, 0.5):
        rejected = int(np.sum(np.asarray(pvalues) <= level))
        low, high = stats.binom.interval(0.99, n_datasets, level)
        assert rejected <= high and (rejected >= low or level != ALPHA), f"{rejected} of {n_datasets} null datasets rejected at {level}"
    assert stats.kstest(pvalues, "uniform").pvalue > 1e-3


# ----------------------------------------------------------------------------------------- MMD
def mmd2_double_loop(reference, data, bandwidth):
    k = lambda a, b: np.exp(-np.sum((a - b) ** 2) / (2 * bandwidth**2))  # noqa: E731
    m, n = len(reference), len(data)
    xx = sum(k(reference[i], reference[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(data[i], data[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    xy = sum(k(reference[i], data[j]) for i in range(m) for j in range(n)) / (m * n)
    return xx + yy - 2 * xy


def test_mmd_statistic_matches_double_loop():
    reference, data = gaussian(0, n_ref=13, n_data=7, bump=3)
    expected = mmd2_double_loop(reference, data, 1.3)
    result = mmd_permutation_test(reference, data, n_permutations=5, bandwidth=1.3, dtype="float64")
    np.testing.assert_allclose(result.t_obs, expected, rtol=1e-10)
    single = mmd_permutation_test(reference, data, n_permutations=5, bandwidth=1.3, dtype="float32")
    np.testing.assert_allclose(single.t_obs, expected, rtol=1e-4)
    # off-diagonal blocks and the constant shift of the kernel change nothing
    points = torch.from_numpy(np.vstack([reference, data]))
    roles = np.r_[np.zeros(13), np.ones(7)][:, None]
    for block_rows, shift in ((4, 0.0), (5, 0.7), (64, 0.3)):
        np.testing.assert_allclose(mmd_statistics(points, roles, [1.3], [shift], block_rows)[0, 0], expected, rtol=1e-10)


def test_mmd_permutations_independent_of_batch_and_seeded():
    reference, data = gaussian(1, n_ref=60, n_data=30)
    runs = [mmd_permutation_test(reference, data, n_permutations=30, batch=b, seed=4, dtype="float64") for b in (1, 7, 30)]
    for run in runs[1:]:
        np.testing.assert_allclose(run.null_distribution, runs[0].null_distribution, rtol=1e-10)
        assert run.pvalue == runs[0].pvalue
    again = mmd_permutation_test(reference, data, n_permutations=30, batch=7, seed=4, dtype="float64")
    np.testing.assert_array_equal(again.null_distribution, runs[1].null_distribution)
    other = mmd_permutation_test(reference, data, n_permutations=30, seed=5, dtype="float64")
    assert not np.allclose(other.null_distribution, runs[0].null_distribution)


def test_mmd_aggregate_is_min_p_over_the_same_permutations():
    reference, data = gaussian(2, n_ref=80, n_data=40, bump=8)
    agg = mmd_permutation_test(reference, data, n_permutations=40, bandwidth="aggregate", seed=1, dtype="float64")
    median = mmd_permutation_test(reference, data, n_permutations=40, bandwidth="median", seed=1, dtype="float64")
    width = float(median.label.split("=")[1])
    per = [mmd_permutation_test(reference, data, n_permutations=40, bandwidth=width * f, seed=1, dtype="float64")
           for f in AGGREGATE_FACTORS]
    stat, stat_null = combined_statistics(np.array([r.t_obs for r in per]), np.stack([r.null_distribution for r in per]), "minp")
    np.testing.assert_allclose(agg.t_obs, stat, rtol=1e-6)
    np.testing.assert_allclose(agg.null_distribution, stat_null, rtol=1e-6)
    assert agg.t_obs == pytest.approx(-np.log(min(r.pvalue for r in per)), abs=1 / 80)  # min p, up to the tie-break <= 1 / (2 m)
    assert agg.method == "mmd/permutation+minp" and agg.tail_fit is None


@pytest.mark.parametrize("bandwidth", ["median", "aggregate"])
def test_mmd_calibrated_without_signal_and_detects_a_bump(bandwidth):
    pvalues = [mmd_permutation_test(*gaussian(100 + i, 40, 20, d=2), n_permutations=99, bandwidth=bandwidth, seed=i).pvalue
               for i in range(60)]
    assert_calibrated(pvalues, 60)
    result = mmd_permutation_test(*gaussian(7, bump=12), n_permutations=99, bandwidth=bandwidth)
    assert isinstance(result, TestResult) and result.pvalue <= ALPHA


def test_mmd_pvalue_never_zero():
    reference, data = gaussian(3, n_ref=100, n_data=50)
    result = mmd_permutation_test(reference, data + 3.0, n_permutations=19)
    assert result.pvalue == 1 / 20 and result.n_exceeding == 0 and result.pvalue_ci[0] == 0.0


# ----------------------------------------------------------------------------------------- kNN
def knn_share_loop(reference, data, k):
    pool = np.vstack([reference, data])
    is_data = np.r_[np.zeros(len(reference), bool), np.ones(len(data), bool)]
    same = same_pooled = 0
    for i in range(len(pool)):
        dist = np.sqrt(((pool - pool[i]) ** 2).sum(1))
        dist[i] = np.inf
        nearest = np.argsort(dist, kind="stable")[:k]
        same_pooled += np.sum(is_data[nearest] == is_data[i])
        if is_data[i]:
            same += np.sum(is_data[nearest])
    return same / (len(data) * k), same_pooled / (len(pool) * k)


def test_knn_statistics_match_a_loop():
    reference, data = gaussian(4, n_ref=40, n_data=25, bump=6)
    data_share, pooled_share = knn_share_loop(reference, data, 4)
    for statistic, expected in (("data", data_share), ("pooled", pooled_share)):
        result = knn_two_sample_test(reference, data, k=4, n_permutations=9, statistic=statistic, dtype="float64")
        np.testing.assert_allclose(result.t_obs, expected, rtol=1e-12)
    graph = neighbour_graph(torch.from_numpy(np.vstack([reference, data])), 4, block_rows=7)
    assert not np.any(graph == np.arange(65)[:, None])  # never its own neighbour


def test_knn_independent_of_batch_and_seeded():
    reference, data = gaussian(5, n_ref=60, n_data=30)
    runs = [knn_two_sample_test(reference, data, n_permutations=25, batch=b, seed=2) for b in (1, 6, 25)]
    for run in runs[1:]:
        np.testing.assert_array_equal(run.null_distribution, runs[0].null_distribution)
    assert not np.array_equal(knn_two_sample_test(reference, data, n_permutations=25, seed=3).null_distribution,
                              runs[0].null_distribution)


@pytest.mark.parametrize("statistic", ["data", "pooled"])
def test_knn_calibrated_without_signal_and_detects_a_bump(statistic):
    pvalues = [knn_two_sample_test(*gaussian(200 + i, 40, 20, d=2), k=5, n_permutations=99, seed=i, statistic=statistic).pvalue
               for i in range(60)]
    assert_calibrated(pvalues, 60)
    result = knn_two_sample_test(*gaussian(8, bump=12), n_permutations=99, statistic=statistic)
    assert result.pvalue <= ALPHA and result.pvalue > 0 and result.method == "knn/permutation"


# ----------------------------------------------------------------------------------------- C2ST
def test_c2st_auc_is_the_held_out_auc_and_permutations_refit():
    from sklearn.metrics import roc_auc_score

    reference, data = gaussian(6, bump=10)
    result = classifier_two_sample_test(reference, data, n_permutations=12, statistic="auc", seed=3)
    x, y = np.vstack([reference, data]), np.r_[np.zeros(300, int), np.ones(100, int)]
    scores, _, _ = cross_fitted_scores(x, y, default_classifier(3), 5, 3)
    np.testing.assert_allclose(result.t_obs, roc_auc_score(y, scores), rtol=1e-12)
    # each permutation reruns the whole cross-fit on relabelled points: rebuild the first one by hand
    from sparker_core.baselines._common import role_columns

    rng = np.random.default_rng(np.random.SeedSequence(3, spawn_key=(6,)))
    first = role_columns(rng, [np.arange(400)], [100], 12, 400, np.int8)[:, 0].astype(int)
    scores, _, _ = cross_fitted_scores(x, first, default_classifier(3), 5, 3)
    np.testing.assert_allclose(result.null_distribution[0], roc_auc_score(first, scores), rtol=1e-12)
    again = classifier_two_sample_test(reference, data, n_permutations=12, statistic="auc", seed=3)
    np.testing.assert_array_equal(again.null_distribution, result.null_distribution)
    assert result.method == "c2st/permutation"


def test_c2st_binomial_result():
    reference, data = gaussian(9, bump=30)
    result = classifier_two_sample_test(reference, data, seed=1)
    assert result.method == "c2st/binomial" and result.n_toys == 0 and result.complete
    n_eval = 2 * 100  # the data are the smaller class: all 100 and 100 reference rows
    correct = round(result.t_obs * n_eval)
    np.testing.assert_allclose(result.pvalue, stats.binom.sf(correct - 1, n_eval, 0.5), rtol=1e-9)
    np.testing.assert_allclose(result.zscore, stats.norm.isf(result.pvalue), rtol=1e-6)
    assert result.pvalue <= ALPHA and result.pvalue_ci == (result.pvalue, result.pvalue)
    far = classifier_two_sample_test(reference, data + 50.0)  # perfectly separated: p = 2^-200, still > 0
    assert far.t_obs == 1.0 and 0 < far.pvalue < 1e-50 and np.isfinite(far.zscore)


def c2st_null_pvalues(n_datasets, **kwargs):
    from sklearn.linear_model import LogisticRegression  # plain (no pipeline): receives balancing weights

    return [classifier_two_sample_test(*gaussian(300 + i, 60, 30, d=2), classifier=LogisticRegression(), n_folds=2,
                                       seed=i, **kwargs).pvalue for i in range(n_datasets)]


def test_c2st_binomial_not_anti_conservative_and_detects_a_shift():
    pvalues = c2st_null_pvalues(60)
    rejected = int(np.sum(np.asarray(pvalues) <= ALPHA))
    assert rejected <= stats.binom.interval(0.99, 60, ALPHA)[1]  # the binomial test is conservative: no lower bound
    reference, data = gaussian(10)
    assert classifier_two_sample_test(reference, data + 0.5).pvalue <= ALPHA  # a shift a linear score can see


def test_c2st_refit_permutations_calibrated_and_detect_a_shift():
    """4 permutations: p <= 0.2 exactly when no permutation reaches t_obs, probability 1/5 under the null."""
    pvalues = np.asarray(c2st_null_pvalues(40, statistic="auc", n_permutations=4))
    low, high = stats.binom.interval(0.99, 40, 0.2)
    assert low <= np.sum(pvalues <= 0.2) <= high
    reference, data = gaussian(10)
    assert classifier_two_sample_test(reference, data + 0.5, statistic="auc", n_permutations=19).pvalue <= ALPHA


@pytest.mark.slow
def test_c2st_refit_permutations_calibrated_at_five_percent():
    assert_calibrated(c2st_null_pvalues(60, statistic="auc", n_permutations=19), 60)


# ----------------------------------------------------------------------------------------- fixed centres
def np_objective_loop(a, reference, data, centers, sigma, l2):
    """L + l2 |a|^2 with f evaluated point by point."""
    f = lambda x: sum(a[j] * np.exp(-np.sum((x - centers[j]) ** 2) / (2 * sigma**2)) for j in range(len(a)))  # noqa: E731
    w = len(data) / len(reference)
    loss = sum(w * np.expm1(f(x)) for x in reference) - sum(f(x) for x in data)
    return loss, loss + l2 * np.sum(a * a)


def test_fixed_centers_t_matches_a_direct_minimisation():
    reference, data = gaussian(11, n_ref=40, n_data=20, d=2, bump=5)
    result = fixed_centers_np_test(reference, data, n_centers=4, sigma=0.8, l2=0.05, n_toys=3, dtype="float64")
    centers = data[np.random.default_rng(0).choice(20, 4, replace=False)]  # the observed fit's rows (seed 0)
    best = optimize.minimize(lambda a: np_objective_loop(a, reference, data, centers, 0.8, 0.05)[1], np.zeros(4),
                             method="BFGS", options={"gtol": 1e-10})
    loss = np_objective_loop(best.x, reference, data, centers, 0.8, 0.05)[0]
    np.testing.assert_allclose(result.t_obs, -2.0 * loss, rtol=1e-6)


def test_fixed_centers_batched_equals_looped_and_seeded():
    reference, data = gaussian(12, n_ref=150, n_data=50)
    args = dict(n_centers=10, n_toys=9, seed=3, dtype="float64")
    together = fixed_centers_np_test(reference, data, batch=9, **args)
    for batch in (1, 4):
        np.testing.assert_allclose(fixed_centers_np_test(reference, data, batch=batch, **args).null_distribution,
                                   together.null_distribution, rtol=1e-9)
    other = fixed_centers_np_test(reference, data, **{**args, "seed": 4})
    assert not np.allclose(other.null_distribution, together.null_distribution)


def test_fixed_centers_calibrated_without_signal_and_detects_a_bump():
    pvalues = [fixed_centers_np_test(*gaussian(400 + i, 60, 30, d=2), n_centers=6, n_toys=19, seed=i).pvalue
               for i in range(40)]
    # 19 toys: p <= 0.05 exactly when no toy reaches t_obs, probability 1/20 under the null
    assert_calibrated(pvalues, 40)
    result = fixed_centers_np_test(*gaussian(14, bump=12), n_centers=20, n_toys=19)
    assert result.pvalue <= ALPHA and result.pvalue == 1 / 20 and result.method == "fixed-centers/permutation"


def test_fixed_centers_statistic_is_the_tests_t_obs():
    reference, data = gaussian(17, n_ref=120, n_data=40, bump=6)
    for kwargs in (dict(), dict(sigma=0.9, l2=0.05, seed=3, max_iter=30, dtype="float64")):
        result = fixed_centers_np_test(reference, data, n_centers=12, n_toys=3, **kwargs)
        t = fixed_centers_np_statistic(reference, data, n_centers=12, **kwargs)
        assert isinstance(t, float) and t == result.t_obs  # one code path: the same number, not a close one
    other = fixed_centers_np_statistic(reference, data, n_centers=12, seed=4)
    assert other != fixed_centers_np_statistic(reference, data, n_centers=12, seed=0)  # the seed picks the centres


def test_fixed_centers_warns_when_newton_stops_early():
    with pytest.warns(RuntimeWarning, match="fixed_centers_np_test: 3 fit\\(s\\) did not converge in 1 Newton steps"):
        fixed_centers_np_test(*gaussian(15, bump=20), n_centers=10, n_toys=2, max_iter=1)
    with pytest.warns(RuntimeWarning, match="fixed_centers_np_statistic: 1 fit\\(s\\) did not converge in 1 Newton steps"):
        fixed_centers_np_statistic(*gaussian(15, bump=20), n_centers=10, max_iter=1)


# ----------------------------------------------------------------------------------------- errors
def test_input_errors_are_pinned():
    reference, data = gaussian(16, n_ref=30, n_data=10)
    with pytest.raises(ValueError, match=r"`data` and `reference` must have the same number of features; got 2 and 3\."):
        mmd_permutation_test(reference, data[:, :2])
    with pytest.raises(ValueError, match=r"`reference` must be a 2-D array"):
        knn_two_sample_test(reference[:, 0], data)
    with pytest.raises(ValueError, match=r"`n_permutations` must be a positive integer; got 0\."):
        mmd_permutation_test(reference, data, n_permutations=0)
    with pytest.raises(ValueError, match=r"`bandwidth` must be a positive number, 'median' or 'aggregate'; got -1\."):
        mmd_permutation_test(reference, data, bandwidth=-1)
    with pytest.raises(ValueError, match=r"`batch` must be a positive integer; got 0\."):
        mmd_permutation_test(reference, data, batch=0)
    with pytest.raises(ValueError, match=r"`seed` must be an integer >= 0; got -1\."):
        knn_two_sample_test(reference, data, seed=-1)
    with pytest.raises(ValueError, match=r"`dtype` must be one of 'float32' or 'float64'; got 'float16'\."):
        knn_two_sample_test(reference, data, dtype="float16")
    with pytest.raises(ValueError, match=r"`k` must be a positive integer; got 0\."):
        knn_two_sample_test(reference, data, k=0)
    with pytest.raises(ValueError, match=r"`k` must be smaller than the pooled sample size \(40\); got 40\."):
        knn_two_sample_test(reference, data, k=40)
    with pytest.raises(ValueError, match=r"`statistic` must be one of 'data' or 'pooled'; got 'all'\."):
        knn_two_sample_test(reference, data, statistic="all")
    with pytest.raises(ValueError, match=r"`n_folds` must be an integer >= 2; got 1\."):
        classifier_two_sample_test(reference, data, n_folds=1)
    with pytest.raises(ValueError, match=r"`n_folds` must not exceed the size of the smaller sample \(10\); got 11\."):
        classifier_two_sample_test(reference, data, n_folds=11)
    with pytest.raises(ValueError, match=r"`statistic='auc'` has no exact null here; give `n_permutations`"):
        classifier_two_sample_test(reference, data, statistic="auc")
    with pytest.raises(ValueError, match=r"`statistic` must be one of 'accuracy' or 'auc'; got 'f1'\."):
        classifier_two_sample_test(reference, data, statistic="f1")
    with pytest.raises(TypeError, match=r"`classifier` must be a scikit-learn classifier with fit and predict; got str\."):
        classifier_two_sample_test(reference, data, classifier="lr")
    with pytest.raises(ValueError, match=r"`n_centers` must be a positive integer; got 0\."):
        fixed_centers_np_test(reference, data, n_centers=0)
    with pytest.raises(ValueError, match=r"`n_centers` must not exceed the number of data rows; got 11 > 10\."):
        fixed_centers_np_test(reference, data, n_centers=11)
    with pytest.raises(ValueError, match=r"`n_centers` must not exceed the number of data rows; got 11 > 10\."):
        fixed_centers_np_statistic(reference, data, n_centers=11)  # the test's own validation
    with pytest.raises(ValueError, match=r"`sigma` must be a positive number or 'auto'; got 0\."):
        fixed_centers_np_test(reference, data, n_centers=5, sigma=0)
    with pytest.raises(ValueError, match=r"`l2` must be a positive number; got 0\."):
        fixed_centers_np_test(reference, data, n_centers=5, l2=0)
    with pytest.raises(ValueError, match=r"`n_toys` must be a positive integer; got 0\."):
        fixed_centers_np_test(reference, data, n_centers=5, n_toys=0)
    with pytest.raises(ValueError, match=r"`max_iter` must be a positive integer; got 0\."):
        fixed_centers_np_test(reference, data, n_centers=5, max_iter=0)
    with pytest.raises(ValueError, match=r"`batch` must be a positive integer; got 0\."):
        fixed_centers_np_test(reference, data, n_centers=5, batch=0)
