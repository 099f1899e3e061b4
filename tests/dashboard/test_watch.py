"""What a new user meets first: the sidebar after a load, the first map of an upload while UMAP
fits, and the map watched beside the null histogram filling (AppTest)."""

from __future__ import annotations

import threading
import time

import numpy as np

from dashboard import datasets

try:  # tests/dashboard as a package, or as a rootdir-inserted folder (pytest's default)
    from .test_app import (TIMEOUT, chart_spec, load_sample, new_app, start_toys, status_line, traces, train, upload_pair,
                           values)
except ImportError:
    from test_app import (TIMEOUT, chart_spec, load_sample, new_app, start_toys, status_line, traces, train, upload_pair,
                          values)


def sidebar_text(at) -> str:
    return " ".join(e.value for kind in ("markdown", "caption") for e in at.sidebar.get(kind))


def test_the_sidebar_shows_the_dataset_just_loaded_and_its_runs():
    at = new_app()
    train(at, n_kernels=2, max_epochs=10)
    assert "sample: wiki" in sidebar_text(at) and at.sidebar.selectbox[0].value == 1
    at.switch_page("views/data.py").run()
    load_sample(at, "bump")
    assert at.get("subheader")[0].value == "sample: bump"
    assert "**Dataset:** sample: bump" in sidebar_text(at) and "sample: wiki" not in sidebar_text(at)
    assert not at.sidebar.selectbox and "No run yet" in sidebar_text(at)  # the wiki run is not shown for bump
    rng = np.random.default_rng(0)
    upload_pair(at, rng.normal(size=(40, 2)), rng.normal(size=(30, 2)), names=("mine-ref.npy", "mine-data.npy"))
    assert "**Dataset:** upload: mine-ref.npy + mine-data.npy" in sidebar_text(at)


def test_an_upload_is_mapped_at_once_and_umap_replaces_the_quick_layout(monkeypatch):
    release = threading.Event()

    def slow_layout(reference, data, seed=0):  # stands in for UMAP's first fit (numba compiling)
        release.wait(TIMEOUT)
        return reference[:, :2] * 0 + 1.0, data[:, :2] * 0 + 2.0, "UMAP stand-in"

    monkeypatch.setattr(datasets, "fit_umap_layout", slow_layout)
    rng = np.random.default_rng(2)
    pair = rng.normal(size=(300, 5)), rng.normal(size=(100, 5))
    at = new_app()
    at.session_state["dataset"] = datasets.Dataset(
        "upload: r.npy + d.npy", *pair, *(datasets.pd.DataFrame(index=range(len(p))) for p in pair), None, None, "",
        fingerprint=datasets.fingerprint(*pair))
    start = time.perf_counter()
    at.switch_page("views/train.py").run()  # a page that does not wait for the layout
    assert time.perf_counter() - start < 5.0 and not at.exception
    spec = traces(chart_spec(at))
    pca = np.concatenate([values(spec["reference"]["x"]), values(spec["data"]["x"])])
    assert np.ptp(pca) > 0  # the quick PCA layout, not the stand-in's constant one
    job = at.session_state["layout_jobs"][at.session_state["dataset"].fingerprint]
    assert not job.done
    threading.Timer(1.0, release.set).start()
    at.switch_page("views/data.py").run()  # the Data page waits for UMAP under the quick map, then redraws
    assert "UMAP stand-in" in chart_spec(at)["layout"]["title"]["text"]
    assert at.session_state["dataset"].layout_note == "UMAP stand-in"
    at.switch_page("views/train.py").run()
    assert set(values(traces(chart_spec(at))["data"]["x"])) == {2.0}  # every page now draws the UMAP layout


def test_the_map_and_the_null_histogram_fill_on_one_page():
    at = new_app()
    load_sample(at, "bump")
    train(at, n_kernels=4, max_epochs=20)
    run = start_toys(at, 40)
    sizes = []
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        charts = [traces(chart_spec(at, i)) for i in range(len(at.get("plotly_chart")))]
        assert any("kernels" in c for c in charts)  # the map with its kernels stays on the page
        hist = [name for c in charts for name in c if name and name.startswith("null toys (")]
        if hist:
            sizes.append(int(hist[0].split("(")[1].rstrip(")")))
        if not run.calibration_status.active and sizes and sizes[-1] == 40:
            break
        time.sleep(0.2)
        at.run()
    assert sizes == sorted(sizes) and sizes[-1] == 40 and len(set(sizes)) >= 2, sizes  # filled batch by batch
    assert at.slider(key=f"replay_{run.run_id}") is not None and "trained" in status_line(at)
    shown = [m.value for m in at.markdown if m.value.startswith("**p = ")]
    assert shown and shown[0].startswith(f"**p = {run.result.pvalue:.3g}**") and "40 of 40 run, done" in shown[0]
