"""Figure builders and map placement, tested on their data."""

from __future__ import annotations

import numpy as np
import pytest

from dashboard.components import figures
from dashboard.components.map_layout import display_subsample, interpolate_layout, scattered_kernels, spread
from sparker_core import Snapshot, SparKer


def test_map_figure_draws_points_kernels_trails_and_says_it_is_a_view():
    rng = np.random.default_rng(0)
    layout_ref, layout_data = rng.normal(size=(500, 2)), rng.normal(size=(100, 2))
    shown_ref = display_subsample(500, 200, 0)
    centers = rng.normal(size=(3, 2))
    trails = [centers - 0.1 * k for k in (3, 2, 1)]
    fig = figures.map_figure(layout_ref, layout_data, shown_ref, np.arange(100), 384, centers,
                             np.array([2.0, -1.0, 0.0]), 5.0, trails, highlight=np.array([4, 7]))
    by_name = {t.name: t for t in fig.data}
    assert len(by_name["reference"].x) == 200 and len(by_name["data"].x) == 100
    np.testing.assert_array_equal(by_name["reference"].customdata[:, 1], shown_ref)  # rows for the lasso
    np.testing.assert_allclose(by_name["selected data"].x, layout_data[[4, 7], 0])
    kernels = by_name["kernels"]
    np.testing.assert_allclose(kernels.x, centers[:, 0])
    assert list(kernels.marker.color) == [figures.EXCESS_COLOR, figures.DEFICIT_COLOR, figures.EXCESS_COLOR]
    sizes = np.asarray(kernels.marker.size)
    assert sizes[0] > sizes[1] > sizes[2] == 8.0  # size grows with |a|
    trail = by_name["trail 0"]
    assert len(trail.x) == 4 and trail.x[-1] == pytest.approx(centers[0, 0])  # three past positions + now
    note = fig.layout.annotations[0].text
    assert "full 384-dimensional space" in note and "Showing 300 of 600 points" in note


def test_map_figure_without_subsample_or_kernels():
    xy = np.zeros((10, 2))
    fig = figures.map_figure(xy, xy, np.arange(10), np.arange(10), 2)
    assert [t.name for t in fig.data] == ["reference", "data"]
    assert "Showing" not in fig.layout.annotations[0].text


def _snapshots():
    return [Snapshot(epoch=e, sigma=2.0 / (1 + e), loss=-e, t=2.0 * e, centers=np.zeros((2, 3)), amplitudes=np.zeros(2))
            for e in (0, 5, 10)]


def test_curves_figure_holds_t_and_sigma_by_epoch():
    fig = figures.curves_figure(_snapshots(), max_epochs=10)
    t_trace, sigma_trace = fig.data
    assert list(t_trace.x) == [0, 5, 10] and list(t_trace.y) == [0.0, 10.0, 20.0]
    np.testing.assert_allclose(sigma_trace.y, [2.0, 2.0 / 6, 2.0 / 11])
    assert tuple(fig.layout.xaxis.range) == (0, 10)


def test_null_histogram_marks_t_obs_and_labels_the_extrapolation():
    rng = np.random.default_rng(1)
    reference, data = rng.normal(size=(300, 2)), rng.normal(size=(60, 2))
    model = SparKer(n_kernels=2, max_epochs=20, sigma_final=0.5, seed=0, fixed_kernels=0).fit(reference, data)  # one TestResult
    result = model.calibrate(n_toys=30, batch=30, seed=0)
    fig = figures.null_histogram(result)
    assert len(fig.data[0].x) == 30
    assert fig.layout.shapes[0].x0 == pytest.approx(result.t_obs)
    assert result.tail_fit is not None and fig.data[1].name == "gamma fit of the null (extrapolation)"
    assert fig.layout.xaxis.range[1] >= max(result.t_obs, result.null_distribution.max())


def test_field_figure_draws_f_and_one_circle_per_kernel():
    grid = np.linspace(-1, 1, 5)
    f = np.outer(grid, grid)
    centers = np.array([[0.0, 0.5], [0.2, -0.3], [0.0, 0.0]])
    fig = figures.field_figure(grid, grid, f, np.zeros((4, 2)), np.ones((3, 2)), centers, np.array([1.0, -1.0, 0.5]), 0.3)
    assert fig.data[0].type == "heatmap" and np.asarray(fig.data[0].z).shape == (5, 5)
    assert fig.data[0].zmax == pytest.approx(1.0) and fig.data[0].zmin == pytest.approx(-1.0)  # symmetric scale
    assert len(fig.layout.shapes) == 3
    assert fig.layout.shapes[0].x1 - fig.layout.shapes[0].x0 == pytest.approx(0.6)  # radius sigma


def test_digit_image_is_square_and_enlarged():
    image = figures.digit_image(np.arange(64), scale=3)
    assert image.shape == (24, 24) and image.dtype == np.uint8
    assert image[0, 0] == 255 and image[-1, -1] == 0  # blank is white, full ink is black
    with pytest.raises(ValueError, match="square image; got 10 pixels"):
        figures.digit_image(np.arange(10))


def test_interpolate_layout_recovers_anchor_positions():
    rng = np.random.default_rng(2)
    anchors = rng.normal(size=(200, 16))
    anchor_xy = rng.normal(size=(200, 2))
    np.testing.assert_allclose(interpolate_layout(anchors[[3, 50]], anchors, anchor_xy), anchor_xy[[3, 50]], atol=1e-6)
    middle = interpolate_layout(anchors[:2].mean(0, keepdims=True), anchors[:2], anchor_xy[:2], k=2)
    np.testing.assert_allclose(middle[0], anchor_xy[:2].mean(0), atol=1e-9)  # equidistant: the midpoint


def test_scattered_kernels_and_subsample():
    rng = np.random.default_rng(3)
    layout = rng.uniform(-10, 10, size=(1000, 2))
    compact = rng.normal(scale=0.3, size=(20, 2))
    flags = scattered_kernels([compact, layout[:20], np.zeros((1, 2))], layout)
    assert list(flags) == [False, True, False]
    assert spread(np.zeros((1, 2))) == 0.0
    rows = display_subsample(100, 30, 0)
    assert rows.size == 30 and np.all(np.diff(rows) > 0)
    np.testing.assert_array_equal(display_subsample(10, 30, 0), np.arange(10))


def test_live_figure_holds_the_map_and_both_curves_in_one_chart():
    xy = np.random.default_rng(4).normal(size=(50, 2))
    map_fig = figures.map_figure(xy, xy, np.arange(50), np.arange(50), 8, xy[:3], np.array([1.0, -1.0, 2.0]),
                                 title="epoch 10: sigma = 1, t = 3")
    fig = figures.live_figure(map_fig, figures.curves_figure(_snapshots(), max_epochs=10))
    by_name = {t.name: t for t in fig.data}
    assert {"reference", "data", "kernels", "t", "sigma"} <= set(by_name)
    assert len(by_name["kernels"].x) == 3 and list(by_name["t"].y) == [0.0, 10.0, 20.0]
    assert by_name["kernels"].xaxis == "x" and by_name["t"].xaxis == "x2" and by_name["sigma"].xaxis == "x3"
    assert fig.layout.title.text == "epoch 10: sigma = 1, t = 3" and "only a view" in fig.layout.annotations[-1].text
