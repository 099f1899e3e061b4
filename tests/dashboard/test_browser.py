"""The real app in headless Chromium: ``streamlit run dashboard/app.py`` on a free port, driven by
Playwright through the sidebar links of one browser session (a URL load would start a new session).

Journey: the default wiki sample opens with its map -> Train and watch (60 epochs, Start, wait for
"trained", 8 kernels on the map) -> Significance (20 null toys, wait for "done", p in (0, 1]) ->
Regions (the first card's exemplars are "Andre Agassi" sentences, the held-out topic). A full-page
screenshot goes to ``test-output/dashboard-e2e.png`` (on failure: ``dashboard-e2e-failure.png``).

    .venv/bin/python -m pytest -q tests/dashboard/test_browser.py -m slow

Needs ``/usr/bin/chromium`` (Debian's ``chromium`` package; ``SPARKER_CHROMIUM`` overrides the path);
skipped without it. ``SPARKER_STREAMLIT_OPTIONS="name=value,..."`` adds Streamlit options to the server.
"""

from __future__ import annotations

import contextlib
import math
import re
import time

import pytest

try:  # tests/dashboard as a package, or as a rootdir-inserted folder (pytest's default)
    from . import browser
except ImportError:
    import browser

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not browser.chromium_available(),
                       reason=f"no Chromium at {browser.CHROMIUM} (install Debian's `chromium` package)"),
]

EPOCHS = 60  # 12 snapshots: a short fit that still ranks the held-out topic first (checked for 40-200 epochs)
N_TOYS = 20
N_KERNELS = 8  # the default of the kernels control
SCREENSHOT = browser.OUTPUT / "dashboard-e2e.png"
FAILURE_SCREENSHOT = browser.OUTPUT / "dashboard-e2e-failure.png"


@pytest.fixture(scope="session")
def server():
    FAILURE_SCREENSHOT.unlink(missing_ok=True)
    process = browser.start_server(log_path=browser.OUTPUT / "dashboard-e2e-server.log")
    try:
        browser.wait_healthy(process, timeout=120)
        yield process
    finally:
        browser.stop_server(process)


@pytest.fixture(scope="session")
def chromium():
    sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
    playwright = sync_api.sync_playwright().start()
    try:
        browser_ = browser.launch_browser(playwright)
        yield browser_
        browser_.close()
    finally:
        playwright.stop()


@pytest.fixture
def page(server, chromium):
    """A new browser session on the app, with its first page (Data) drawn."""
    page = browser.new_page(chromium)
    page.goto(server.url)
    with on_failure_screenshot(page, server):
        browser.wait_for_app(page, timeout=120)  # a cold server first shows a skeleton
        browser.wait_for_chart(page, timeout=120)
    yield page
    page.close()


@contextlib.contextmanager
def on_failure_screenshot(page, server):
    """Keep a screenshot and the server's log tail when a step fails."""
    try:
        yield
    except BaseException as err:
        with contextlib.suppress(Exception):
            browser.full_page_screenshot(page, FAILURE_SCREENSHOT)
        if hasattr(err, "add_note"):  # Python >= 3.11
            err.add_note(f"screenshot: {FAILURE_SCREENSHOT}\nstreamlit log tail:\n{server.log_tail(2000)}")
        raise


def test_opens_with_the_default_sample_and_its_map(page, server):
    with on_failure_screenshot(page, server):
        assert page.locator('[data-testid="stHeading"]', has_text="Data").first.is_visible()
        assert browser.metric_value(page, "reference rows") == "5,000"
        assert browser.metric_value(page, "data rows") == "1,000"
        assert browser.metric_value(page, "dimension") == "384"
        names = [name for chart in browser.trace_names(page) for name in chart]
        assert "reference" in names and "data" in names, names
        assert browser.kernels_trace(page) is None  # no run yet: no kernels on the map


def test_train_calibrate_and_explain(page, server):
    with on_failure_screenshot(page, server):
        # Train and watch: a short fit, watched until it says "trained".
        browser.go_to(page, "Train and watch")
        slider = page.locator('input[type="range"][aria-label="kernels"]')
        assert slider.get_attribute("aria-valuetext") == str(N_KERNELS)
        browser.set_number(page, "epochs", EPOCHS)
        browser.wait_idle(page)
        page.get_by_role("button", name="Start", exact=True).click()
        status = page.get_by_text(re.compile(rf"— trained, epoch {EPOCHS} of {EPOCHS}"))
        status.first.wait_for(state="visible", timeout=180_000)
        browser.wait_for_chart(page)
        kernels = browser.kernels_trace(page)
        assert kernels is not None, browser.trace_names(page)
        assert len(kernels["x"]) == N_KERNELS and len(kernels["y"]) == N_KERNELS, kernels
        assert all(math.isfinite(v) for v in kernels["x"] + kernels["y"]), kernels
        assert f"epoch {EPOCHS}:" in kernels["title"], kernels["title"]

        # Significance: null toys in the worker thread until the progress says "done".
        browser.go_to(page, "Significance")
        browser.set_number(page, "null toys", N_TOYS, press_enter=False)  # Enter would submit the form
        page.get_by_role("button", name="Run null toys").click()
        page.get_by_text(f"{N_TOYS} of {N_TOYS} toys (done)").first.wait_for(state="visible", timeout=240_000)
        pvalue = float(browser.metric_value(page, "p-value"))
        assert 0.0 < pvalue <= 1.0, pvalue
        assert pvalue >= float(f"{1.0 / (1 + N_TOYS):.3g}")  # never below the smallest p the toys allow (shown to 3 digits)
        float(browser.metric_value(page, "observed t"))

        # Regions: the leading kernel holds the held-out topic.
        browser.go_to(page, "Regions")
        first = page.locator('[data-testid="stVerticalBlock"]').filter(has_text=re.compile(r"#1 kernel \d+")).last
        first.wait_for(state="visible")
        card = first.inner_text()
        assert "#2 kernel" not in card, "the located block holds more than one card"
        assert "Agassi" in card, card
        browser.full_page_screenshot(page, SCREENSHOT)
    assert SCREENSHOT.stat().st_size > 10_000


REPLAY_EPOCHS = 40  # 9 snapshots to replay
# Records every epoch the status line shows, as the page changes (a poll from Python could miss frames).
RECORD_EPOCHS_JS = """
(pattern) => {
  const re = new RegExp(pattern);
  window.__epochs = [];
  const record = () => {
    for (const el of document.querySelectorAll('[data-testid="stMarkdownContainer"]')) {
      const m = el.innerText.match(re);
      if (m && window.__epochs[window.__epochs.length - 1] !== Number(m[1])) window.__epochs.push(Number(m[1]));
    }
  };
  new MutationObserver(record).observe(document.body, {subtree: true, childList: true, characterData: true});
  record();
}
"""


def test_replay_plays_the_snapshots_in_turn(page, server):
    """Play is a button inside the live view's fragment: the replay must keep advancing on its own."""
    with on_failure_screenshot(page, server):
        browser.go_to(page, "Train and watch")
        browser.set_number(page, "epochs", REPLAY_EPOCHS)
        browser.wait_idle(page)
        page.get_by_role("button", name="Start", exact=True).click()
        status = rf"— trained, epoch (\d+) of {REPLAY_EPOCHS}"
        page.get_by_text(re.compile(status)).first.wait_for(state="visible", timeout=180_000)
        page.evaluate(RECORD_EPOCHS_JS, status)
        page.get_by_role("button", name="Play", exact=True).click()
        page.get_by_role("button", name="Pause replay").wait_for(state="visible", timeout=10_000)
        page.get_by_role("button", name="Play", exact=True).wait_for(state="visible", timeout=60_000)  # played through
        seen = page.evaluate("() => window.__epochs")
        played = seen[1:]  # after the last epoch, the replay starts from the first snapshot
        assert len(played) >= 5 and played == sorted(played) and played[-1] == REPLAY_EPOCHS, repr(seen)


def test_an_upload_is_mapped_at_once_then_by_umap(page, server, tmp_path):
    """The first map of an upload (a PCA layout) within 5 s; UMAP, with numba compiling on its first
    fit in the server, replaces it when ready, with progress shown meanwhile."""
    import numpy as np

    rng = np.random.default_rng(0)
    for name, rows in (("ref.npy", 1500), ("data.npy", 500)):
        np.save(tmp_path / name, rng.normal(size=(rows, 16)).astype(np.float32))
    with on_failure_screenshot(page, server):
        page.get_by_text("Upload files", exact=True).click()
        inputs = page.locator('[data-testid="stFileUploaderDropzoneInput"]')
        inputs.nth(0).set_input_files(str(tmp_path / "ref.npy"))
        inputs.nth(1).set_input_files(str(tmp_path / "data.npy"))
        page.get_by_role("button", name="Load files").wait_for(state="visible")
        page.wait_for_function("() => !Array.from(document.querySelectorAll('button')).find("
                               "(b) => b.innerText.includes('Load files') && b.disabled)", timeout=30_000)
        start = time.perf_counter()
        page.get_by_role("button", name="Load files").click()
        page.get_by_text("quick PCA layout while UMAP fits").first.wait_for(state="visible", timeout=30_000)
        assert time.perf_counter() - start < 15.0  # 5 s is the target on a quiet machine; CI shares its cores
        # the progress under the quick map (sent in the same run as the map, but it may reach the page a frame later)
        page.get_by_text("Fitting the UMAP layout").first.wait_for(state="visible", timeout=10_000)
        page.get_by_text(re.compile(r"UMAP fitted on 2,000 of 2,000 rows")).first.wait_for(state="visible",
                                                                                         timeout=240_000)
        assert "upload: ref.npy + data.npy" in page.locator('[data-testid="stSidebar"]').inner_text()
