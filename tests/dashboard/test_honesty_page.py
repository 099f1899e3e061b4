"""The map's honesty in the app (AppTest): region cards with their score and radial profile, the map
coloured by the score, the exact PCA layout beside UMAP, and the HTML report from the Export page."""

from __future__ import annotations

import re

import numpy as np
import pytest

from sparker_core import load_pair, sample_inputs
from sparker_core.honesty import map_honesty, pca_layout, radial_profiles

from test_app import chart_spec, errors, load_sample, new_app, train, traces, values


def profile_charts(at) -> list[dict]:
    specs = [chart_spec(at, i) for i in range(len(at.get("plotly_chart")))]
    return [s for s in specs if "expected (reference)" in traces(s)]


def test_cards_show_their_honesty_and_radial_profile_and_the_map_can_be_coloured_by_it():
    at = new_app()
    load_sample(at, "bump")
    train(at, n_kernels=3, max_epochs=20)
    at.switch_page("views/regions.py").run()
    assert not at.exception and not errors(at)
    run = at.session_state["runs"][at.session_state["active_run_id"]]
    kernels = run.projector.kernels()
    active = kernels[kernels["active"]].reset_index(drop=True)
    assert len(active) >= 1
    # the 2-D teaching set is its own map: every neighbourhood is kept
    assert any(c.value.startswith("Map honesty 1.00") and "trustworthiness 1.000" in c.value for c in at.caption)
    cards = [c.value for c in at.caption if c.value.startswith("map honesty")]
    assert len(cards) == len(active) and all(c.startswith("map honesty 1.00") for c in cards)
    pair = load_pair(**sample_inputs("bump"))
    expected = radial_profiles(pair.reference, pair.data, np.stack([np.asarray(c) for c in active["center"]]),
                               float(active["sigma"].iloc[0]))
    charts = profile_charts(at)
    assert len(charts) == len(active)
    for m, spec in enumerate(charts):
        np.testing.assert_allclose(values(traces(spec)["data"]["y"]).astype(float), expected.n_data[m], rtol=0, atol=0)
        np.testing.assert_allclose(values(traces(spec)["expected (reference)"]["y"]).astype(float), expected.expected[m],
                                   rtol=1e-12, atol=1e-12)

    assert "color" not in traces(chart_spec(at, 0))["data"]["marker"] or \
        isinstance(traces(chart_spec(at, 0))["data"]["marker"]["color"], str)
    at.toggle(key="regions_honesty_colour").set_value(True).run()
    shown = traces(chart_spec(at, 0))
    for name in ("reference", "data"):
        colors = values(shown[name]["marker"]["color"]).astype(float)
        assert colors.size == values(shown[name]["x"]).size and np.all(colors == 1.0)
    assert shown["data"]["marker"]["showscale"] is True


def test_the_pca_layout_is_the_exact_projection_and_is_scored():
    at = new_app()  # the wiki sample, with its stored UMAP layout
    train(at, n_kernels=2, max_epochs=10)
    at.radio(key="map_layout").set_value("PCA (exact projection)").run()
    at.switch_page("views/regions.py").run()
    assert not at.exception and not errors(at)
    note = next(c.value for c in at.caption if c.value.startswith("Map honesty"))
    assert "layout: PCA of the points (an exact linear projection)" in note
    pair = load_pair(**sample_inputs("wiki"))
    layout = pca_layout(np.concatenate([pair.reference, pair.data]))
    data_trace = traces(chart_spec(at, 0))["data"]
    np.testing.assert_allclose(values(data_trace["x"]).astype(float), layout[5000:, 0], rtol=1e-9, atol=1e-9)
    ds = at.session_state["dataset"]
    from dashboard.views.common import shown_rows

    ref_rows, data_rows = shown_rows(ds)
    pool = np.concatenate([pair.reference[ref_rows], pair.data[data_rows]])
    honesty = map_honesty(pool, np.concatenate([layout[:5000][ref_rows], layout[5000:][data_rows]]))
    assert note.startswith(f"Map honesty {honesty.mean:.2f} ")
    assert f"trustworthiness {honesty.trustworthiness:.3f}" in note


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_export_page_writes_the_html_report(tmp_path):
    at = new_app()
    load_sample(at, "bump")
    train(at, n_kernels=3, max_epochs=20)
    from test_app import calibrate

    calibrate(at, n_toys=6)
    at.switch_page("views/export.py").run()
    at.button(key="export_report").click().run()
    assert not at.exception and not errors(at)
    run_id = at.session_state["active_run_id"]
    html = at.session_state[f"report_{run_id}"]
    found = re.findall(r'<section id="(\w+)"', html)
    assert found == ["question", "data", "result", "null", "regions", "map", "parameters", "reproduce"]
    assert "Map honesty: 1.00" in html and "the data space itself (2-D)" in html
    assert "Download report (.html)" in [b.label for b in at.get("download_button")]
