"""The HTML report opened in headless Chromium with the network off: every section renders, every
chart is drawn with a size, and the page asks for nothing outside its own file."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

try:  # tests/dashboard as a package, or as a rootdir-inserted folder (pytest's default)
    from . import browser
except ImportError:
    import browser

from sparker_core.bundle import load_bundle
from sparker_core.cli import main

pytestmark = pytest.mark.skipif(not browser.chromium_available(),
                                reason=f"no Chromium at {browser.CHROMIUM} (install Debian's `chromium` package)")

SECTIONS = ("question", "data", "result", "null", "regions", "map", "parameters", "reproduce")
SCREENSHOT = browser.OUTPUT / "report.png"

# Per section: visible, its height, and each chart's kind with its drawn width and number of marks.
READ_JS = """
(ids) => ids.map((id) => {
  const el = document.getElementById(id);
  if (!el) return {id: id, missing: true};
  const box = el.getBoundingClientRect();
  const plots = Array.from(el.querySelectorAll('svg.plot')).map((svg) => ({
    kind: svg.dataset.plot, width: svg.getBoundingClientRect().width,
    marks: svg.querySelectorAll('rect, circle, path, polyline, line').length}));
  return {id: id, height: box.height, text: el.innerText.length, plots: plots};
})
"""


@pytest.fixture(scope="module")
def report_file(tmp_path_factory):
    folder = tmp_path_factory.mktemp("report-browser")
    out = folder / "bundle"
    assert main(["run", "--sample", "digits", "--out", str(out), "--n-kernels", "3", "--epochs", "40", "--n-toys", "9",
                 "--quiet"]) == 0
    html = folder / "report.html"
    assert main(["report", str(out), "--out", str(html)]) == 0
    return out, html


def _open_offline(html) -> tuple[list[str], list[dict]]:
    """(requests made, sections read) with the report opened in Chromium, the network off."""
    from playwright.sync_api import sync_playwright

    requests: list[str] = []
    with sync_playwright() as playwright:
        chromium = browser.launch_browser(playwright)
        try:
            context = chromium.new_context(offline=True, viewport=browser.VIEWPORT)
            context.route("**/*", lambda route: route.continue_() if route.request.url.startswith("file:")
                          else route.abort())
            page = context.new_page()
            page.on("request", lambda request: requests.append(request.url))
            page.goto(html.as_uri())
            sections = page.evaluate(READ_JS, list(SECTIONS))
            browser.full_page_screenshot(page, SCREENSHOT)
        finally:
            chromium.close()
    return requests, sections


def test_every_section_of_the_report_renders_offline(report_file):
    bundle_path, html = report_file
    n_active = int(load_bundle(bundle_path).kernels["active"].sum())
    # In a thread of its own: playwright's sync API refuses a thread where an asyncio loop runs, and
    # an earlier test in the same process may have left one running in the main thread.
    with ThreadPoolExecutor(max_workers=1) as pool:
        requests, sections = pool.submit(_open_offline, html).result()
    assert requests == [html.as_uri()]  # the file itself, nothing else
    by_id = {s["id"]: s for s in sections}
    for key in SECTIONS:
        assert not by_id[key].get("missing"), key
        assert by_id[key]["height"] > 40 and by_id[key]["text"] > 20, key
    kinds = {key: [p["kind"] for p in by_id[key]["plots"]] for key in SECTIONS}
    assert kinds["null"] == ["null-histogram"]
    assert kinds["regions"] == ["radial-profile"] * n_active
    assert kinds["map"] == ["map"]
    for key in ("null", "regions", "map"):
        for plot in by_id[key]["plots"]:
            assert plot["width"] > 200 and plot["marks"] > 3, (key, plot)
    assert by_id["map"]["plots"][0]["marks"] > 1000  # the digits sample's 1,643 points
