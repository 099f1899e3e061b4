"""Screenshots of every page of the real app in headless Chromium, at two window sizes.

    .venv/bin/python tests/dashboard/screenshots.py OUTPUT_FOLDER

One browser session: the default wiki sample, a short fit watched while it trains, null toys started
from *Train and watch*, then each page (Significance, Regions, Compare with its baselines, Teach,
Export). Every page is saved as ``<page>-<width>x<height>.png`` at 1500x1000 and 1024x768, the whole
page (Streamlit scrolls inside its main block, so the window is first made as tall as its content).
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import browser  # noqa: E402

SIZES = ((1500, 1000), (1024, 768))
EPOCHS = 60
N_TOYS = 16
N_PERMUTATIONS = 20


def shoot(page, folder: Path, name: str) -> None:
    """``name`` at every size in ``SIZES``."""
    for width, height in SIZES:
        page.set_viewport_size({"width": width, "height": height})
        page.wait_for_timeout(800)  # plotly relayouts to the new width
        page.screenshot(path=str(folder / f"{name}-{width}x{height}-window.png"))
        browser.full_page_screenshot(page, folder / f"{name}-{width}x{height}.png")


def journey(page, folder: Path) -> None:
    browser.wait_for_app(page, timeout=120)
    browser.wait_for_chart(page, timeout=120)
    shoot(page, folder, "1-data")

    browser.go_to(page, "Train and watch")
    browser.set_number(page, "epochs", EPOCHS)
    browser.wait_idle(page)
    page.get_by_role("button", name="Start", exact=True).click()
    page.get_by_text(re.compile(r"— training, epoch")).first.wait_for(state="visible", timeout=60_000)
    page.wait_for_timeout(1500)
    page.screenshot(path=str(folder / "2-train-live-window.png"))
    page.get_by_text(re.compile(rf"— trained, epoch {EPOCHS} of {EPOCHS}")).first.wait_for(state="visible", timeout=180_000)
    browser.set_number(page, "null toys", N_TOYS)
    browser.wait_idle(page)
    page.get_by_role("button", name="Run null toys", exact=True).click()
    page.get_by_text(f"{N_TOYS} of {N_TOYS} run, done").first.wait_for(state="visible", timeout=240_000)
    shoot(page, folder, "2-train")

    browser.go_to(page, "Significance")
    browser.wait_for_chart(page)
    shoot(page, folder, "3-significance")

    browser.go_to(page, "Regions")
    page.get_by_text(re.compile(r"#1 kernel \d+")).first.wait_for(state="visible", timeout=60_000)
    shoot(page, folder, "4-regions")

    browser.go_to(page, "Compare")
    browser.set_number(page, "permutations / toys per test", N_PERMUTATIONS)
    browser.wait_idle(page)
    page.get_by_role("button", name="Run the baselines").click()
    page.wait_for_timeout(1500)
    page.screenshot(path=str(folder / "5-compare-running-window.png"))
    page.get_by_text("fixed-centre kernel NPLM").first.wait_for(state="visible", timeout=300_000)
    browser.wait_idle(page)
    shoot(page, folder, "5-compare")

    browser.go_to(page, "Teach")
    browser.wait_for_chart(page)
    shoot(page, folder, "6-teach")

    browser.go_to(page, "Export")
    browser.wait_idle(page)
    shoot(page, folder, "7-export")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output", type=Path, help="folder for the PNGs (created; keep it out of the repository)")
    args = parser.parse_args(argv)
    args.output.mkdir(parents=True, exist_ok=True)
    from playwright.sync_api import sync_playwright

    server = browser.start_server(log_path=args.output / "streamlit.log")
    try:
        browser.wait_healthy(server, timeout=120)
        with sync_playwright() as playwright:
            chromium = browser.launch_browser(playwright)
            page = browser.new_page(chromium)
            page.goto(server.url)
            try:
                journey(page, args.output)
            except Exception:
                page.screenshot(path=str(args.output / "failure-window.png"))
                raise
            finally:
                chromium.close()
    finally:
        browser.stop_server(server)
    print(f"screenshots in {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
