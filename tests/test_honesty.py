"""sparker_core.honesty: the map's neighbourhood preservation and the kernels' radial profiles."""

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from sparker_core import SparKer, TEACHING_SAMPLES, load_pair, sample_inputs
from sparker_core.explain import MEMBER_RADIUS
from sparker_core.honesty import (map_honesty, neighbourhood_preservation, pca_layout, radial_profiles,
                                  region_preservation)


@pytest.fixture(scope="module")
def bump():
    pair = load_pair(**sample_inputs(TEACHING_SAMPLES[0]))
    return pair.reference[:1500], pair.data[:600]


def test_preservation_is_one_where_the_map_is_the_data_and_low_for_a_random_layout(bump):
    points = np.concatenate(bump)
    exact = map_honesty(points, points)
    assert_allclose(exact.scores, 1.0, rtol=0, atol=0)
    assert exact.trustworthiness == pytest.approx(1.0)
    shuffled = map_honesty(points, np.random.default_rng(0).normal(size=(points.shape[0], 2)))
    assert shuffled.mean < 0.05
    assert shuffled.trustworthiness < 0.6


def test_preservation_against_a_double_loop():
    rng = np.random.default_rng(1)
    points, layout = rng.normal(size=(40, 5)), rng.normal(size=(40, 2))
    k = 4
    got = neighbourhood_preservation(points, layout, k)
    for i in range(40):
        full = [j for j in np.argsort(np.linalg.norm(points - points[i], axis=1)) if j != i][:k]
        shown = [j for j in np.argsort(np.linalg.norm(layout - layout[i], axis=1)) if j != i][:k]
        assert got[i] == pytest.approx(len(set(full) & set(shown)) / k)


def test_region_preservation_is_the_mean_over_members():
    scores = np.array([0.0, 1.0, 0.5, 0.25])  # 2 reference rows, then 2 data rows
    kernels = pd.DataFrame({"members_reference": [[0], [], []], "members_data": [[0, 1], [1], []]})
    assert_allclose(region_preservation(scores, kernels, 2), [0.25, 0.25, np.nan], rtol=0, atol=1e-12)


def test_radial_counts_sum_to_the_points_within_the_outer_radius(bump):
    reference, data = bump
    centers = np.array([[0.0, 0.0], [1.5, -0.5]])
    sigma, outer, scale = 0.4, 2.5, np.array([1.0, 2.0])
    f_ref, f_data = np.arange(len(reference)) % 3, np.arange(len(data)) % 5
    profile = radial_profiles(reference, data, centers, sigma, scale, f_ref, f_data, n_bins=5, outer=outer)
    for m, center in enumerate(centers):
        r_ref = np.linalg.norm((reference - center) / scale, axis=1) / sigma
        r_data = np.linalg.norm((data - center) / scale, axis=1) / sigma
        assert profile.n_data[m].sum() == (r_data < outer).sum()
        assert profile.expected[m].sum() == pytest.approx((r_ref < outer).sum() * len(data) / len(reference))
        inner = r_data < outer / 5
        f_inner = np.concatenate([f_ref[r_ref < outer / 5], f_data[inner]])
        assert profile.n_data[m, 0] == inner.sum()
        if f_inner.size:
            assert profile.f_mean[m, 0] == pytest.approx(f_inner.mean())


def test_radial_counts_within_the_member_radius_are_the_members_of_a_single_kernel(bump):
    reference, data = bump
    model = SparKer(n_kernels=1, max_epochs=30, seed=0).fit(reference, data)
    row = model.explain().iloc[0]
    profile = radial_profiles(reference, data, np.asarray(row.center)[None], row.sigma, n_bins=4, outer=MEMBER_RADIUS)
    assert profile.n_data.sum() == len(row.members_data)
    assert profile.expected.sum() == pytest.approx(len(row.members_reference) * len(data) / len(reference))


def test_pca_layout_of_two_dimensional_points_keeps_their_distances(bump):
    points = np.concatenate(bump).astype(np.float64)
    layout = pca_layout(points)
    assert_allclose(np.linalg.norm(layout - layout[0], axis=1), np.linalg.norm(points - points[0], axis=1),
                    rtol=1e-9, atol=1e-9)


def test_mismatched_rows_are_named():
    with pytest.raises(ValueError, match="`points` and `layout` must have the same number of rows; got 3 and 2"):
        neighbourhood_preservation(np.zeros((3, 4)), np.zeros((2, 2)))


def test_region_preservation_leaves_out_points_not_scored():
    scores = np.array([np.nan, 1.0, 0.5])
    kernels = pd.DataFrame({"members_reference": [[0, 1]], "members_data": [[0]]})
    assert_allclose(region_preservation(scores, kernels, 2), [0.75], rtol=0, atol=1e-12)


def test_the_mean_f_of_a_shell_is_over_the_points_whose_f_was_given():
    reference, data = np.zeros((30, 2)), np.zeros((10, 2))
    profile = radial_profiles(reference, data, np.zeros((1, 2)), 1.0, data_scores=np.full(10, 2.0))
    assert profile.f_mean[0, 0] == 2.0  # the 30 reference points, without f, do not dilute it
    assert np.isnan(radial_profiles(reference, data, np.zeros((1, 2)), 1.0).f_mean).all()
