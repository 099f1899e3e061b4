"""Messages and visuals a new user reads: error messages, the teaching lesson, the Compare table,
the Significance page's claims, and marks on the map that must not hide each other."""

from __future__ import annotations

import threading
import time

import numpy as np

from dashboard import baseline_runs, uploads
from dashboard.components import figures

try:  # tests/dashboard as a package, or as a rootdir-inserted folder (pytest's default)
    from .test_app import TIMEOUT, errors, load_sample, new_app, start_toys, train, upload_pair
except ImportError:
    from test_app import TIMEOUT, errors, load_sample, new_app, start_toys, train, upload_pair


def test_a_wrong_label_column_names_the_file_and_a_few_columns():
    columns = ", ".join(["split"] + [f"e{i}" for i in range(384)])
    path = "/srv/up/upload-1/reference/emb.csv"
    message = uploads.as_uploaded(f"`reference` ({path}) has no column 'label' (`label_column`); columns: {columns}.",
                                  {"reference": path}, "/srv/up/upload-1")
    assert message == ("`emb.csv` has no column 'label' (`label_column`); columns: split, e0, e1, e2, e3, e4, e5, e6, "
                       "... (385 columns).")
    short = "`emb.csv` has no column 'label' (`label_column`); columns: split, a, b."
    assert uploads.short_column_list(short) == short


def test_the_heat_map_fills_the_axes_it_is_drawn_on():
    grid = np.linspace(-3.0, 3.0, 5)
    points = np.array([[-6.0, 0.0], [6.0, 0.0]])
    fig = figures.field_figure(grid, grid, np.zeros((5, 5)), points, points, np.zeros((1, 2)), np.ones(1), 0.5)
    assert tuple(fig.layout.xaxis.range) == (-3.0, 3.0) and tuple(fig.layout.yaxis.range) == (-3.0, 3.0)
    assert fig.layout.xaxis.constrain == "domain" and fig.layout.yaxis.constrain == "domain"  # no range widened


def test_members_are_drawn_over_the_kernel_markers_and_close_labels_part():
    layout = np.random.default_rng(0).normal(size=(50, 2))
    rows = np.arange(50)
    centers = np.array([[0.0, 0.0], [0.01, 0.0], [3.0, 3.0]])
    fig = figures.map_figure(layout, layout, rows, rows, 2, centers, np.array([2.0, -1.0, 0.5]), highlight=np.arange(5))
    names = [t.name for t in fig.data]
    assert names.index("selected data") > names.index("kernels")
    assert fig.data[names.index("selected data")].type == "scatter"  # SVG: a WebGL layer would sit under the markers
    positions = list(fig.data[names.index("kernels")].textposition)
    assert positions[0] != positions[1] and positions[2] == "top center"


def test_the_bump_lesson_shows_no_deficit_where_there_is_none():
    at = new_app()
    at.switch_page("views/teach.py").run()
    assert at.checkbox(key="teach_deficits_bump").value is False
    amplitudes = at.session_state["teach"]["snapshots"][-1].amplitudes
    assert amplitudes.min() >= 0.0 and amplitudes.max() > 1.0  # one excess kernel on the bump, no fence of a < 0
    at.selectbox[0].set_value("deficit").run()
    assert at.checkbox(key="teach_deficits_deficit").value is True
    assert at.session_state["teach"]["snapshots"][-1].amplitudes.min() < -1.0  # the real deficit is found


def test_compare_times_every_complete_test_and_shows_no_empty_cells(monkeypatch):
    release = threading.Event()

    def slow(reference, data, n, seed):
        release.wait(TIMEOUT)
        return baseline_runs.BASELINES["kNN (share of data neighbours)"](reference, data, n, seed)

    tests = {"kNN (share of data neighbours)": baseline_runs.BASELINES["kNN (share of data neighbours)"],
             "slow": slow, "classifier (C2ST, exact binomial)": baseline_runs.BASELINES["classifier (C2ST, exact binomial)"]}
    monkeypatch.setattr(baseline_runs, "BASELINES", tests)
    at = new_app()
    load_sample(at, "bump")
    train(at, n_kernels=2, max_epochs=10)
    run = start_toys(at, 8)
    run.wait_calibration(TIMEOUT)
    at.switch_page("views/compare.py").run()
    at.number_input(key="compare_toys").set_value(9)
    at.button(key="compare_run").click().run()
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline and len(at.dataframe[0].value) < 2:
        time.sleep(0.2)
        at.run()
    table = at.dataframe[0].value
    assert list(table["method"].str.split(" ").str[0]) == ["SparKer", "kNN"]  # the slow one is not a row of blanks
    assert not table[["p-value", "Z", "toys", "seconds"]].isna().any().any()
    assert any("running: slow (1 of 3 baselines done)" in i.value for i in at.info)
    sparker = table.iloc[0]
    assert sparker["note"] == "fit + null toys"
    assert sparker["seconds"] == round(run.fit_seconds + run.calibration.seconds, 1) > round(run.fit_seconds, 1)
    release.set()
    at.session_state[[k for k in at.session_state if str(k).startswith("compare_") and k not in
                      ("compare_toys", "compare_seed", "compare_run", "compare_stop")][0]].wait(TIMEOUT)
    at.run()
    table = at.dataframe[0].value.set_index("method")
    assert table.loc["classifier (C2ST, exact binomial)", "null"] == "exact, no toys"
    assert table.loc["slow", "null"] == "9 null samples"


def test_the_toys_needed_table_shows_only_when_no_toy_reaches_t_obs():
    rng = np.random.default_rng(3)
    at = new_app()
    upload_pair(at, rng.normal(size=(300, 2)), rng.normal(size=(100, 2)))  # no signal: toys reach t_obs
    assert not errors(at)
    train(at, n_kernels=2, max_epochs=10, sigma_final="0.5")
    run = start_toys(at, 16, from_watch=False)
    run.wait_calibration(TIMEOUT)
    at.run()
    assert run.result.n_exceeding > 0
    assert not any("toys needed" in c.value for c in at.caption)
    assert not any("toys needed" in frame.value.columns for frame in at.dataframe)  # only the tests' own table
    at = new_app()
    load_sample(at, "bump")
    train(at, n_kernels=4, max_epochs=40)
    run = start_toys(at, 8, from_watch=False)
    run.wait_calibration(TIMEOUT)
    at.run()
    assert run.result.n_exceeding == 0 and any("No toy reaches t_obs" in c.value for c in at.caption)


def test_map_notes_are_short_lines_under_the_map_only():
    layout = np.random.default_rng(1).normal(size=(3000, 2))
    rows = np.arange(3000)
    shown = figures.map_figure(layout, layout, rows[:1000], rows[:1000], 384)
    note = shown.layout.annotations[0].text
    assert "Showing 2,000 of 6,000 points" in note and max(len(line) for line in note.split("<br>")) <= 70
    live_map = figures.map_figure(layout, layout, rows, rows, 384, background=dict(x=0, y=1, sizex=1, sizey=1))
    live = figures.live_figure(live_map, figures.curves_figure([]))
    live_note = live.layout.annotations[-1]
    assert live_note.xref == "x domain" and live_note.text.endswith("<br>All 6,000 points drawn as one image while training.")
    assert max(len(line) for line in live_note.text.split("<br>")) <= 70  # clear of the sigma chart's ticks
