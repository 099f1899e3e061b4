"""The app through streamlit's AppTest: every page, with real interaction."""

from __future__ import annotations

import base64
import io
import json
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from dashboard import baseline_runs, datasets
from sparker_core import (
    MultiScaleResult,
    SparKer,
    classifier_two_sample_test,
    fixed_centers_np_test,
    knn_two_sample_test,
    load_bundle,
    load_pair,
    mmd_permutation_test,
    sample_inputs,
    save_bundle,
)

APP = str(Path(__file__).resolve().parents[2] / "dashboard" / "app.py")
TIMEOUT = 180


def new_app() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    assert not at.exception, at.exception
    return at


def errors(at: AppTest) -> list[str]:
    return [e.value for e in at.error]


def chart_spec(at: AppTest, index: int = 0) -> dict:
    return json.loads(at.get("plotly_chart")[index].proto.spec)


def traces(spec: dict) -> dict:
    return {t.get("name"): t for t in spec["data"]}


def values(field) -> np.ndarray:
    """A plotly array from a figure's JSON: a list, or plotly's base64 typed array {"bdata", "dtype", "shape"}."""
    if isinstance(field, dict) and "bdata" in field:
        array = np.frombuffer(base64.b64decode(field["bdata"]), dtype=field["dtype"])
        if "shape" in field:
            array = array.reshape([int(s) for s in str(field["shape"]).split(",")])
        return array
    return np.asarray(field)


def status_line(at: AppTest) -> str:
    lines = [m.value for m in at.markdown if m.value.startswith("**run ")]
    return lines[0] if lines else ""


def load_sample(at: AppTest, name: str) -> None:
    at.selectbox(key="sample_name").set_value(name)
    at.button(key="load_sample").click().run()
    assert not errors(at)


def train(at: AppTest, n_kernels: int = 4, max_epochs: int = 20, **controls) -> None:
    """Start a run on the Train page and rerun until it is trained."""
    at.switch_page("views/train.py").run()
    at.slider(key="ctl_n_kernels").set_value(n_kernels)
    at.number_input(key="ctl_max_epochs").set_value(max_epochs)
    for key, value in controls.items():
        getattr(at, "text_input" if key.startswith("sigma") else "number_input")(key=f"ctl_{key}").set_value(value)
    at.button(key="start").click().run()
    for _ in range(200):
        if "trained" in status_line(at):
            break
        at.run()
    assert "trained" in status_line(at), (status_line(at), errors(at))



def start_toys(at: AppTest, n_toys: int, from_watch: bool = True):
    """Start the active run's null toys from Train and watch (else from Significance); returns the run."""
    if from_watch:
        at.number_input(key="watch_n_toys").set_value(n_toys)
        at.button(key="watch_run_toys").click().run()
    else:
        at.switch_page("views/significance.py").run()
        at.number_input(key="n_toys").set_value(n_toys)
        at.button(key="run_toys").click().run()
    return at.session_state["runs"][at.session_state["active_run_id"]]


def calibrate(at: AppTest, n_toys: int) -> None:
    at.switch_page("views/significance.py").run()
    at.number_input(key="n_toys").set_value(n_toys)
    at.button(key="run_toys").click().run()
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        progress = at.get("progress")
        if progress and "(done)" in progress[0].proto.text:
            break
        time.sleep(0.3)
        at.run()
    assert "(done)" in at.get("progress")[0].proto.text, errors(at)


def metric(at: AppTest, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def test_default_sample_is_loaded_without_a_click():
    at = new_app()
    assert metric(at, "reference rows") == "5,000" and metric(at, "data rows") == "1,000"
    assert metric(at, "dimension") == "384" and metric(at, "shown as") == "text"
    spec = chart_spec(at)
    shown = traces(spec)
    assert len(values(shown["reference"]["x"])) + len(values(shown["data"]["x"])) == 4000  # display subsample of 6,000
    assert len(values(shown["data"]["x"])) == 1000  # every data point is drawn
    note = spec["layout"]["annotations"][0]["text"]
    assert "only a view" in note and "Showing 4,000 of 6,000 points" in note
    assert any("Andre Agassi" not in str(v) for v in at.dataframe[0].value["title"])  # a metadata preview


def test_training_shows_moving_kernels_and_replays_snapshots():
    at = new_app()
    train(at, n_kernels=4, max_epochs=20)
    shown = traces(chart_spec(at, 0))
    assert len(values(shown["kernels"]["x"])) == 4
    assert sum(name.startswith("trail") for name in shown if name) == 4  # one trail per kernel
    curves = chart_spec(at, 1)
    assert list(values(curves["data"][0]["x"])) == [0, 5, 10, 15, 20]  # a snapshot every 5 epochs
    sigma = values(curves["data"][1]["y"])
    assert sigma[0] > sigma[-1]  # annealed from wide to narrow
    at.slider(key="replay_1").set_value(0).run()
    assert chart_spec(at, 0)["layout"]["title"]["text"].startswith("epoch 0:")
    at.button(key="replay_play").click().run()  # play: each rerun of the fragment advances one snapshot
    at.run()
    assert at.slider(key="replay_1").value >= 1
    for _ in range(6):
        at.run()
    assert at.slider(key="replay_1").value == 4 and at.button(key="replay_play").label == "Play"


def test_a_new_run_keeps_the_finished_one():
    at = new_app()
    train(at, n_kernels=3, max_epochs=10)
    train(at, n_kernels=5, max_epochs=10)
    table = at.dataframe[-1].value
    assert list(table["run"]) == [1, 2] and list(table["n_kernels"]) == [3, 5]
    assert list(table["status"]) == ["trained", "trained"]
    chooser = at.sidebar.selectbox[0]  # the sidebar lists both runs by their labels, the new one shown
    labels = [f"run {r.run}: {r.n_kernels} kernels, sigma {r.sigma_init}->{r.sigma_final}, seed {r.seed} (t = {r.t:.1f})"
              for r in table.itertuples()]
    assert chooser.options == labels and chooser.value == 2
    assert status_line(at).startswith(f"**{labels[1]}**") and "trained" in status_line(at)
    chooser.set_value(1).run()  # the finished run can still be shown
    assert at.sidebar.selectbox[0].value == 1 and at.sidebar.selectbox[0].options == labels
    assert status_line(at).startswith(f"**{labels[0]}**") and "trained, epoch 10 of 10" in status_line(at)


def test_pause_and_stop_leave_a_consistent_run():
    at = new_app()
    at.switch_page("views/train.py").run()
    at.number_input(key="ctl_max_epochs").set_value(400)
    at.button(key="start").click().run()
    at.button(key="pause").click().run()
    assert "paused" in status_line(at)
    epoch = int(status_line(at).split("epoch ")[1].split(" ")[0])
    at.run().run()
    assert f"epoch {epoch} of" in status_line(at)  # paused: nothing advances
    at.button(key="resume").click().run()
    at.button(key="stop").click().run()
    assert "stopped early" in status_line(at)
    at.switch_page("views/significance.py").run()
    at.button(key="run_toys").click().run()
    assert any("trained to completion" in e for e in errors(at))


def _exact_pvalue(result) -> float:
    """(1 + #{t_null >= t_obs}) / (1 + n_toys), counted here from the result's own toys."""
    null = np.asarray(result.null_distribution, dtype=float)
    return (1 + int(np.sum(null >= result.t_obs))) / (1 + null.size)


def test_calibration_fills_the_histogram_and_gives_a_pvalue(tmp_path):
    at = new_app()
    load_sample(at, "bump")
    train(at, n_kernels=4, max_epochs=60)
    calibrate(at, n_toys=24)
    run = at.session_state["runs"][at.session_state["active_run_id"]]
    result = run.result
    assert isinstance(result, MultiScaleResult) and result.n_toys == 24 and result.complete  # the default widths
    assert result.pvalue == _exact_pvalue(result)  # the combined statistic, counted on the same toys
    shown = result.per_config[result.scale]  # the width the histogram and "observed t" show
    assert all(r.pvalue == _exact_pvalue(r) and r.n_toys == 24 for r in result.per_config)
    assert metric(at, "p-value") == f"{_exact_pvalue(result):.3g}" and metric(at, "observed t") == f"{shown.t_obs:.2f}"
    n_exceeding = int(np.sum(result.null_distribution >= result.t_obs))
    assert any(f"({n_exceeding} of 24 toys are as extreme over all widths)" in m.value for m in at.markdown)
    hist = traces(chart_spec(at, 0))
    np.testing.assert_allclose(np.sort(values(hist["null toys (24)"]["x"]).astype(float)),
                               np.sort(shown.null_distribution), rtol=1e-12, atol=0)
    assert chart_spec(at, 0)["layout"]["shapes"][0]["x0"] == pytest.approx(float(metric(at, "observed t")), abs=0.01)
    assert "gamma fit of the null (extrapolation)" in hist  # labelled as an extrapolation

    at.switch_page("views/export.py").run()
    at.button[0].click().run()  # Prepare bundle
    assert [b.label for b in at.get("download_button")] == ["Download bundle (.zip)"]
    payload = at.session_state[f"bundle_zip_{run.run_id}"]  # the bytes the page hands to st.download_button
    with zipfile.ZipFile(io.BytesIO(payload)) as archive:
        assert archive.testzip() is None
        assert {name.split("/")[0] for name in archive.namelist()} == {f"run-{run.run_id}"}
        archive.extractall(tmp_path)
    bundle = load_bundle(tmp_path / f"run-{run.run_id}")
    saved = bundle.result
    assert (saved.pvalue, saved.t_obs, saved.n_toys) == (result.pvalue, result.t_obs, result.n_toys)
    np.testing.assert_array_equal(saved.null_distribution, result.null_distribution)
    assert [(r.pvalue, r.t_obs) for r in saved.per_config] == [(r.pvalue, r.t_obs) for r in result.per_config]
    assert bundle.manifest["extra"]["calibration_seed"] == run.calibration_seed == 0


def test_default_run_finds_the_rare_topic():
    at = new_app()
    train(at, n_kernels=8, max_epochs=SparKer().max_epochs)  # the defaults: three final widths
    calibrate(at, n_toys=9)
    assert float(metric(at, "p-value")) == pytest.approx(1 / 10)  # the rare topic beats every toy
    tests = at.dataframe[0].value  # the three widths, then the companion test
    assert len(tests) == 4 and tests["test"].iloc[3].startswith("fixed-centre companion")
    assert tests["p of this test"].iloc[:3].min() == pytest.approx(1 / 10)
    at.switch_page("views/regions.py").run()  # the regions of the width that detected
    assert not at.exception
    assert any("regions of the width with the smallest p-value" in c.value for c in at.caption)
    cards = [m.value for m in at.markdown]
    first = next(i for i, v in enumerate(cards) if v.startswith("**#1 kernel"))
    exemplars = [v for v in cards[first + 1:first + 6] if v.startswith("- ")]
    assert exemplars and all("Andre Agassi" in v for v in exemplars)
    share = next(c.value for c in at.caption if c.value.startswith("ground truth"))
    assert share.startswith("ground truth: 100%")
    at.button(key=next(b.key for b in at.button if b.key and b.key.startswith("show_1_"))).click().run()
    shown = traces(chart_spec(at, 0))
    members = int(next(v for v in cards[first + 1:] if " data members vs " in v).split()[0])
    assert members >= 2 and "selected data" in shown and len(values(shown["selected data"]["x"])) == members


def _npy(array) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, np.asarray(array), allow_pickle=False)
    return buffer.getvalue()


def test_bad_uploads_show_one_line_and_keep_the_loaded_data():
    at = new_app()
    train(at, n_kernels=2, max_epochs=10)
    at.switch_page("views/data.py").run()
    at.radio(key="data_source").set_value("Upload files").run()
    at.file_uploader(key="upload_reference").set_value(("ref.npy", b"this is not numpy", "application/octet-stream"))
    at.file_uploader(key="upload_data").set_value(("data.npy", _npy(np.ones((5, 3))), "application/octet-stream")).run()
    at.button(key="load_files").click().run()
    assert len(errors(at)) == 1 and "ref.npy" in errors(at)[0] and "\n" not in errors(at)[0]
    assert metric(at, "reference rows") == "5,000"  # the sample is still loaded

    at.file_uploader(key="upload_reference").set_value(("ref.npy", _npy(np.ones((8, 4))), "application/octet-stream")).run()
    at.button(key="load_files").click().run()
    assert "same number of features" in errors(at)[0]

    at.radio(key="upload_mode").set_value("One file with a label column").run()
    csv = b"split,a,b\nr,1,2\nr,2,3\nd,3,4\nd,4,5\n"
    at.file_uploader(key="upload_one").set_value(("both.csv", csv, "text/csv")).run()
    at.text_input(key="reference_value").set_value("ref")
    at.text_input(key="data_value").set_value("d")
    at.button(key="load_file").click().run()
    assert "no reference rows" in errors(at)[0]
    assert metric(at, "reference rows") == "5,000"
    at.switch_page("views/train.py").run()
    assert "trained" in status_line(at)  # the finished run is intact


def test_a_good_upload_fits_a_layout_and_trains(tmp_path):
    at = new_app()
    rng = np.random.default_rng(0)
    at.radio(key="data_source").set_value("Upload files").run()
    at.file_uploader(key="upload_reference").set_value(("ref.npy", _npy(rng.normal(size=(300, 6))), "application/octet-stream"))
    at.file_uploader(key="upload_data").set_value(("data.npy", _npy(rng.normal(size=(100, 6))), "application/octet-stream")).run()
    at.button(key="load_files").click().run()
    assert not errors(at) and metric(at, "reference rows") == "300" and metric(at, "dimension") == "6"
    assert "UMAP fitted on 400 of 400 rows" in chart_spec(at)["layout"]["title"]["text"]
    train(at, n_kernels=2, max_epochs=10)


def _bundle_zip(folder: Path) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in sorted(folder.iterdir()):
            archive.write(path, f"{folder.name}/{path.name}")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def bump_bundle(tmp_path_factory) -> Path:
    spec = sample_inputs("bump")
    pair = load_pair(**spec)
    model = SparKer(n_kernels=3, max_epochs=30, seed=0).fit(pair.reference, pair.data)
    result = model.calibrate(n_toys=12, batch=12, seed=0)
    folder = tmp_path_factory.mktemp("bundles") / "bump-run"
    save_bundle(folder, model, result, pair.reference, pair.data, {"load": spec, "files": pair.files},
                pair.reference_metadata, pair.data_metadata)
    return folder


def test_open_a_bundle_and_reject_a_corrupt_one(bump_bundle):
    at = new_app()
    at.radio(key="data_source").set_value("Open a result bundle").run()
    bad = bump_bundle.parent / "corrupt"
    bad.mkdir()
    for path in bump_bundle.iterdir():
        (bad / path.name).write_bytes(path.read_bytes())
    (bad / "null.npy").write_bytes((bad / "null.npy").read_bytes()[:-8])  # truncated
    at.file_uploader(key="upload_bundle").set_value(("corrupt.zip", _bundle_zip(bad), "application/zip")).run()
    at.button(key="open_bundle").click().run()
    assert len(errors(at)) == 1 and "null.npy" in errors(at)[0]
    assert metric(at, "reference rows") == "5,000"  # still the default sample

    at.file_uploader(key="upload_bundle").set_value(("run.zip", _bundle_zip(bump_bundle), "application/zip")).run()
    at.button(key="open_bundle").click().run()
    assert not errors(at) and metric(at, "dimension") == "2"
    at.switch_page("views/significance.py").run()
    manifest = json.loads((bump_bundle / "manifest.json").read_text())
    assert float(metric(at, "p-value")) == pytest.approx(manifest["result"]["pvalue"], rel=1e-3)
    at.switch_page("views/train.py").run()
    assert "opened from a bundle" in status_line(at)
    at.switch_page("views/regions.py").run()
    assert not at.exception and any(m.value.startswith("**#1 kernel") for m in at.markdown)


def test_teach_page_steps_through_the_heat_map():
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    at.switch_page("views/teach.py").run()
    assert not at.exception
    spec = chart_spec(at, 0)
    heat = spec["data"][0]
    assert heat["type"] == "heatmap" and values(heat["z"]).shape == (70, 70)
    assert len(spec["layout"]["shapes"]) == 4  # one sigma circle per kernel
    last = at.slider(key="teach_frame").value
    at.button[0].click().run()  # Step back
    assert at.slider(key="teach_frame").value == last - 1
    at.slider(key="teach_frame").set_value(0).run()
    assert np.allclose(values(chart_spec(at, 0)["data"][0]["z"]).astype(float), 0.0)  # f = 0 before training


def test_two_sessions_do_not_share_data():
    first, second = new_app(), new_app()
    load_sample(first, "digits")
    second.run()
    assert metric(first, "dimension") == "64" and metric(second, "dimension") == "384"


def test_compare_runs_every_baseline_on_the_loaded_data():
    at = new_app()
    load_sample(at, "bump")
    at.switch_page("views/compare.py").run()
    at.number_input(key="compare_toys").set_value(19)
    at.button(key="compare_run").click().run()
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline and (not at.dataframe or len(at.dataframe[0].value) < 5
                                           or "running..." in list(at.dataframe[0].value.get("note", []))):
        time.sleep(0.5)
        at.run()
    table = at.dataframe[0].value
    assert len(table) == 5 and not errors(at)
    assert table["p-value"].between(0, 1.0, inclusive="right").all()
    permuted = table[table["method"] != "classifier (C2ST, exact binomial)"]
    assert permuted["p-value"].between(1 / 20, 1.0).all() and set(permuted["toys"]) == {19}
    assert table.loc[table["method"] == "kNN (share of data neighbours)", "p-value"].iloc[0] == pytest.approx(0.05)


def test_compare_numbers_are_the_library_calls_with_the_pages_arguments():
    """Each row of the Compare table is the library's baseline with the page's n and seed, number for number."""
    rng = np.random.default_rng(7)
    reference = rng.normal(size=(500, 2))  # the fixed-centre baseline needs >= 200 data rows (its n_centers)
    data = rng.normal(size=(200, 2)) + np.array([0.2, 0.0])  # a mild shift: p-values between the extremes
    at = new_app()
    upload_pair(at, reference, data)
    assert not errors(at) and metric(at, "data rows") == "200"
    ds = at.session_state["dataset"]
    np.testing.assert_array_equal(ds.reference, reference)
    np.testing.assert_array_equal(ds.data, data)
    at.switch_page("views/compare.py").run()
    n, seed = 19, 3
    at.number_input(key="compare_toys").set_value(n)
    at.number_input(key="compare_seed").set_value(seed)
    at.button(key="compare_run").click().run()
    comparison = at.session_state[f"compare_{ds.fingerprint}"]
    comparison.wait(TIMEOUT)
    assert not comparison.running and not comparison.errors, comparison.errors
    at.run()
    table = at.dataframe[0].value.set_index("method")

    direct = {
        "MMD, median bandwidth": mmd_permutation_test(reference, data, n_permutations=n, bandwidth="median", seed=seed),
        "MMD, aggregated bandwidths": mmd_permutation_test(reference, data, n_permutations=n, bandwidth="aggregate",
                                                           seed=seed),
        "kNN (share of data neighbours)": knn_two_sample_test(reference, data, n_permutations=n, seed=seed),
        "classifier (C2ST, exact binomial)": classifier_two_sample_test(reference, data, seed=seed),
        "fixed-centre kernel NPLM": fixed_centers_np_test(reference, data, n_centers=min(200, len(data)), n_toys=n, seed=seed),
    }
    assert list(table.index) == list(direct) and (comparison.n_toys, comparison.seed) == (n, seed)
    for name, expected in direct.items():
        got = comparison.results[name]
        assert (got.t_obs, got.pvalue, got.method) == (expected.t_obs, expected.pvalue, expected.method), name
        np.testing.assert_array_equal(got.null_distribution, expected.null_distribution, err_msg=name)
        row = table.loc[name]  # what the page shows
        assert (row["p-value"], row["Z"], row["toys"], row["note"]) == \
            (expected.pvalue, expected.zscore, expected.n_toys, expected.method), name
        if name != "classifier (C2ST, exact binomial)":  # permutation and toy baselines run the page's n
            assert expected.n_toys == n and expected.pvalue == _exact_pvalue(expected), name
    assert len(set(table["p-value"])) > 1  # not every method at the same extreme: the rows are distinguishable


# ---------------------------------------------------------------------------- uploads, sessions, failures
def end_session() -> None:
    """What Streamlit does when a browser session disconnects (AppSession.clear_session_caches);
    every AppTest runs as the session "test session id"."""
    from streamlit.runtime import caching

    caching.clear_session_data_cache("test session id")
    caching.clear_session_resource_cache("test session id")


def upload_pair(at: AppTest, reference: np.ndarray, data: np.ndarray, names=("ref.npy", "data.npy")) -> None:
    at.switch_page("views/data.py").run()
    at.radio(key="data_source").set_value("Upload files").run()
    at.radio(key="upload_mode").set_value("Two files: reference and data").run()
    at.file_uploader(key="upload_reference").set_value((names[0], _npy(reference), "application/octet-stream"))
    at.file_uploader(key="upload_data").set_value((names[1], _npy(data), "application/octet-stream")).run()
    at.button(key="load_files").click().run()


def test_upload_errors_name_the_file_as_uploaded():
    at = new_app()
    bad = np.ones((8, 2))
    bad[3, 1] = np.nan
    upload_pair(at, bad, np.ones((5, 2)))
    assert errors(at) == ["`reference` (ref.npy) contains NaN or infinite values (1 entries). "
                           "The first is nan at row 3, column 1 (0-based indices)."]

    at.radio(key="upload_mode").set_value("One file with a label column").run()
    csv = b"split,a,b\nreference,1,2\nreference,2,nan\nreference,1,1\ndata,3,4\ndata,4,5\n"
    at.file_uploader(key="upload_one").set_value(("both.csv", csv, "text/csv")).run()
    at.button(key="load_file").click().run()
    assert errors(at) == ["`both.csv` (reference rows) contains NaN or infinite values (1 entries). "
                           "The first is nan at line 3, column 'b'."]
    at.text_input(key="reference_value").set_value("ref")
    at.button(key="load_file").click().run()
    assert len(errors(at)) == 1 and errors(at)[0].startswith("`both.csv` has no reference rows")
    assert metric(at, "reference rows") == "5,000"

    rng = np.random.default_rng(0)  # two uploads with the same name are two files
    upload_pair(at, rng.normal(size=(40, 2)), rng.normal(size=(30, 2)), names=("x.npy", "x.npy"))
    assert not errors(at) and (metric(at, "reference rows"), metric(at, "data rows")) == ("40", "30")


def test_upload_folders_are_removed_when_loaded_and_when_the_session_ends(bump_bundle):
    at = new_app()
    rng = np.random.default_rng(0)
    upload_pair(at, rng.normal(size=(40, 2)), rng.normal(size=(30, 2)))
    assert not errors(at) and metric(at, "data rows") == "30"
    folder = Path(at.session_state["upload_dir"])
    assert folder.is_dir() and not any(folder.iterdir())  # the files were removed once loaded

    at.radio(key="data_source").set_value("Open a result bundle").run()
    at.file_uploader(key="upload_bundle").set_value(("run.zip", _bundle_zip(bump_bundle), "application/zip")).run()
    at.button(key="open_bundle").click().run()
    assert not errors(at) and len(list(folder.iterdir())) == 1  # kept for Export while the session lasts
    corrupt = bump_bundle.parent / "bad-manifest"
    corrupt.mkdir(exist_ok=True)
    (corrupt / "manifest.json").write_text("{not json")
    at.file_uploader(key="upload_bundle").set_value(("bad.zip", _bundle_zip(corrupt), "application/zip")).run()
    at.button(key="open_bundle").click().run()
    assert len(errors(at)) == 1 and len(list(folder.iterdir())) == 1  # a bundle that failed to open is removed

    end_session()  # the browser disconnects: the session's folder goes
    assert not folder.exists()
    upload_pair(at, rng.normal(size=(20, 2)), rng.normal(size=(10, 2)))  # a reconnected session uploads again
    assert not errors(at) and metric(at, "data rows") == "10"
    assert Path(at.session_state["upload_dir"]).is_dir() and at.session_state["upload_dir"] != str(folder)
    end_session()


def test_two_sessions_never_see_each_others_data(monkeypatch):
    fits = []

    def fake_layout(reference, data, seed=0):  # UMAP itself is not the point here (and takes ~25 s)
        fits.append(reference.shape)
        return reference[:, :2].astype(float), data[:, :2].astype(float), "fake layout"

    monkeypatch.setattr(datasets, "fit_umap_layout", fake_layout)
    rng = np.random.default_rng(1)
    secret = rng.normal(size=(200, 3)), rng.normal(size=(60, 3))
    first = new_app()
    upload_pair(first, *secret, names=("secret-ref.npy", "secret-data.npy"))
    assert not errors(first) and fits == [(200, 3)]
    train(first, n_kernels=2, max_epochs=10)

    second = new_app()
    for page in ("views/data.py", "views/train.py", "views/significance.py", "views/export.py"):
        second.switch_page(page).run()
        shown = [e.value for kind in ("markdown", "caption", "subheader", "info", "error") for e in second.get(kind)]
        assert shown and not any("secret" in str(v) or "run 1" in str(v) for v in shown), (page, shown)
        assert not second.sidebar.selectbox  # no run to choose from
    second.switch_page("views/data.py").run()
    assert second.subheader[0].value == "sample: wiki" and metric(second, "dimension") == "384"

    end_session()  # the first session ends: nothing derived from its data stays on the server
    third = new_app()
    upload_pair(third, *secret, names=("secret-ref.npy", "secret-data.npy"))
    assert not errors(third) and fits == [(200, 3), (200, 3)]  # its layout was not kept in a global cache
    end_session()


def _corrupt_member(bundle: Path, compression: int) -> bytes:
    """A bundle zip whose null.npy member has garbled bytes (the directory is intact)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for path in sorted(bundle.iterdir()):
            archive.write(path, f"{bundle.name}/{path.name}")
    blob = bytearray(buffer.getvalue())
    info = zipfile.ZipFile(io.BytesIO(bytes(blob))).getinfo(f"{bundle.name}/null.npy")
    name_len, extra_len = int.from_bytes(blob[info.header_offset + 26:info.header_offset + 28], "little"), \
        int.from_bytes(blob[info.header_offset + 28:info.header_offset + 30], "little")
    start = info.header_offset + 30 + name_len + extra_len
    for i in range(start + info.compress_size // 3, start + info.compress_size // 3 + 8):
        blob[i] ^= 0xFF
    return bytes(blob)


def test_a_corrupt_member_of_a_bundle_zip_shows_one_line(bump_bundle):
    at = new_app()
    at.radio(key="data_source").set_value("Open a result bundle").run()
    for compression in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):  # a bad CRC; garbled deflate data
        blob = _corrupt_member(bump_bundle, compression)
        at.file_uploader(key="upload_bundle").set_value(("corrupt.zip", blob, "application/zip")).run()
        at.button(key="open_bundle").click().run()
        assert not at.exception, at.exception
        assert len(errors(at)) == 1 and errors(at)[0].startswith("`corrupt.zip` is corrupt: member 'bump-run/null.npy'")
        assert "\n" not in errors(at)[0] and metric(at, "reference rows") == "5,000"


def test_a_failed_baseline_shows_as_failed_in_its_cell(monkeypatch):
    def broken(reference, data, n, seed):
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(baseline_runs, "BASELINES", {"broken baseline": broken})
    at = new_app()
    at.switch_page("views/compare.py").run()
    at.button(key="compare_run").click().run()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and (not at.dataframe or "running..." in list(at.dataframe[0].value["note"])):
        time.sleep(0.2)
        at.run()
    table = at.dataframe[0].value
    assert list(table["method"]) == ["broken baseline"]
    assert table["note"].iloc[0] == "failed: ZeroDivisionError: division by zero (traceback in the server log)"
