"""The dashboard's responsiveness, measured in a real browser against a real ``streamlit run`` server.

    python benchmarks/bench_dashboard.py                    # everything, about 3-5 minutes on 2 cores
    python benchmarks/bench_dashboard.py --skip-umap        # without the UMAP comparison (no numba compile)
    python benchmarks/bench_dashboard.py --option runner.postScriptGC=false   # try a Streamlit option

One run prints, side by side with the targets of the issue:
  (a) cold start: launching ``streamlit run dashboard/app.py`` (a new process) to /_stcore/health
      answering, and to the first plotly chart drawn in Chromium with the default wiki sample;
  (b) interaction latency: from the pointer/key event to the first DOM mutation, and to the result
      being shown (the new page's heading, the kernels on the map, the moved kernels, the highlighted
      members), both on the page's own clock (a MutationObserver and a requestAnimationFrame poll
      installed before the event);
  (c) map updates during a wiki fit (``--epochs``, default 400): the "kernels" trace's x coordinates
      are sampled in the page every 50 ms and each distinct change counted;
  (d) kernel placement per frame: ``interpolate_layout`` of 8 and 64 centres on the wiki layout
      (5,000 + 1,000 anchors, d = 384) versus ``umap.UMAP.transform`` of the same centres with a UMAP
      fitted once on the same 6,000 rows (fit, and first transform with numba compilation, reported apart);
  (e) the machine, the date and the command.
Timings are printed, never asserted: the browser, the server and any other work share the same cores
(the load average is printed before and after). Chromium runs with --disable-gpu, so the WebGL map is
drawn in software (SwiftShader), which a user's browser would do on a GPU.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import json
import math
import os
import platform
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

# As dashboard/app.py does before torch is imported: idle OpenMP threads sleep instead of spinning.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # the dashboard package (not installed; the benchmarks run from a checkout)


def _load_browser_helpers():
    spec = importlib.util.spec_from_file_location("dashboard_browser", REPO / "tests" / "dashboard" / "browser.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up here
    spec.loader.exec_module(module)
    return module


browser = _load_browser_helpers()
sys.path.insert(0, str(REPO / "benchmarks"))
from dashboard_placement import placement_part, print_placement  # noqa: E402

TARGETS = {"cold start": 15.0, "latency": 1.0, "update rate": 2.0}  # s, s, updates/s

# Installed before an interaction: records the event time, the first DOM mutation after it, and the
# first animation frame at which ``done()`` holds. All times are performance.now() of the page.
PROBE_JS = """
([doneSource]) => {
  const done = eval(doneSource);
  const rec = {event: null, mutation: null, shown: null};
  window.__probe = rec;
  const onEvent = () => { if (rec.event === null) rec.event = performance.now(); };
  document.addEventListener('pointerdown', onEvent, {capture: true, once: true});
  document.addEventListener('keydown', onEvent, {capture: true, once: true});
  const observer = new MutationObserver(() => {
    if (rec.event !== null && rec.mutation === null) rec.mutation = performance.now();
  });
  observer.observe(document.body, {subtree: true, childList: true, attributes: true, characterData: true});
  const poll = () => {
    if (rec.event !== null) {
      let ok = false;
      try { ok = done(); } catch (e) { ok = false; }
      if (ok) { rec.shown = performance.now(); observer.disconnect(); return; }
    }
    requestAnimationFrame(poll);
  };
  requestAnimationFrame(poll);
}
"""

# Samples the kernels trace every 50 ms during training: [(time, title)] at each change of its x.
SAMPLER_JS = """
([kernelsSource]) => {
  const kernels = eval(kernelsSource);
  const log = [];
  let last = null, samples = 0;
  window.__updates = log;
  window.__samples = () => samples;
  window.__sampler = setInterval(() => {
    samples += 1;
    const k = kernels();
    if (!k || !k.x) return;
    const sig = k.x.join(',');
    if (sig !== last) { last = sig; log.push([performance.now(), k.title]); }
  }, 50);
}
"""


def cpu_seconds(roots: list[int], exclude: int | None = None) -> float:
    """User + system CPU seconds of the processes under ``roots`` (themselves included, their
    finished children's time too), leaving out the tree of ``exclude``."""
    tick = os.sysconf("SC_CLK_TCK")
    parent, times = {}, {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        pid = int(entry.name)
        parent[pid] = int(fields[1])
        times[pid] = sum(int(v) for v in fields[11:15]) / tick  # utime stime cutime cstime

    def under(pid: int) -> bool:
        while pid > 1:
            if pid == exclude:
                return False
            if pid in roots:
                return True
            pid = parent.get(pid, 1)
        return False

    return sum(t for pid, t in times.items() if under(pid) and pid != os.getpid())


def js_string(text: str) -> str:
    return json.dumps(text)


def heading_shown(title: str, extra: str = "true") -> str:
    return ("() => Array.from(document.querySelectorAll('[data-testid=\"stHeading\"]'))"
            f".some((h) => h.innerText.includes({js_string(title)})) && ({extra})")


def kernels_differ(before: dict | None) -> str:
    old = js_string(",".join(map(str, before["x"]))) if before else "null"
    return (f"() => {{ const k = ({browser.KERNELS_JS})(); return k !== null && k.x !== null"
            f" && k.x.map(String).join(',') !== {old}; }}")


def trace_shown(name: str) -> str:
    return (f"() => ({browser.TRACE_NAMES_JS})().some((names) => names.includes({js_string(name)}))")


def map_title_has(text: str) -> str:
    return ("() => Array.from(document.querySelectorAll('.js-plotly-plot')).some((el) => el.layout && el.layout.title"
            f" && String(el.layout.title.text || '').includes({js_string(text)}))")


def measure(page, action, done_source: str, timeout: float = 60.0) -> tuple[float, float]:
    """Run ``action`` (a click or a key press); seconds from its event to the first DOM mutation
    and to ``done_source`` holding, on the page's clock."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    page.evaluate(PROBE_JS, [done_source])
    action()
    try:
        page.wait_for_function("() => window.__probe.shown !== null", timeout=timeout * 1000, polling=50)
    except PlaywrightTimeout:  # reported as "not shown", the other measurements go on
        rec = page.evaluate("() => window.__probe")
        mutation = (rec["mutation"] - rec["event"]) / 1000.0 if None not in (rec["mutation"], rec["event"]) else math.nan
        return mutation, math.nan
    rec = page.evaluate("() => window.__probe")
    mutation = rec["mutation"] if rec["mutation"] is not None else rec["shown"]
    return (mutation - rec["event"]) / 1000.0, (rec["shown"] - rec["event"]) / 1000.0


def settle(page) -> None:
    """Let the run an interaction started finish before the next one (the status widget shows late)."""
    browser.wait_idle(page)
    page.wait_for_timeout(500)
    browser.wait_idle(page)


# ---------------------------------------------------------------------------- (a) to (c): the browser
def browser_part(epochs: int, options: dict) -> dict:
    from playwright.sync_api import sync_playwright

    out: dict = {"latency": []}
    with sync_playwright() as playwright:
        start = time.perf_counter()
        chromium = browser.launch_browser(playwright)
        page = browser.new_page(chromium)
        out["chromium launch"] = time.perf_counter() - start
        server = browser.start_server(log_path=browser.OUTPUT / "bench-dashboard-server.log", options=options)
        try:
            # (a) cold start
            out["health"] = browser.wait_healthy(server, timeout=120)
            goto = time.perf_counter()
            page.goto(server.url)
            page.locator('[data-testid="stHeading"]', has_text="Data").first.wait_for(state="visible", timeout=180_000)
            out["goto to heading"] = time.perf_counter() - goto
            page.locator('[data-testid="stPlotlyChart"]').first.wait_for(state="attached", timeout=180_000)
            out["goto to element"] = time.perf_counter() - goto
            browser.wait_for_chart(page, timeout=180)
            out["first chart"] = time.perf_counter() - server.launched_at
            out["goto to chart"] = time.perf_counter() - goto
            browser.wait_idle(page)

            # (b) and (c): one browser session, moving by the sidebar links
            def nav(title: str):
                return lambda: page.locator('[data-testid="stSidebarNav"] a', has_text=title).first.click()

            out["latency"].append(("sidebar: Data -> Train and watch",
                                   *measure(page, nav("Train and watch"), heading_shown("Train and watch"))))
            settle(page)
            browser.set_number(page, "epochs", epochs)
            settle(page)
            page.evaluate(SAMPLER_JS, [browser.KERNELS_JS])
            cpu_server = cpu_seconds([server.process.pid])
            cpu_browser = cpu_seconds([os.getpid()], exclude=server.process.pid)
            start_button = page.get_by_role("button", name="Start", exact=True)
            out["latency"].append(("click Start (kernels on the map)",
                                   *measure(page, start_button.click, kernels_differ(None))))
            clicked = page.evaluate("() => window.__probe.event")
            page.get_by_text(re.compile(rf"— trained, epoch {epochs} of {epochs}")).first.wait_for(
                state="visible", timeout=900_000)
            finished = page.evaluate("() => performance.now()")
            page.evaluate("() => clearInterval(window.__sampler)")
            updates = page.evaluate("() => window.__updates")
            out["updates"] = _update_rate(updates, clicked, finished, epochs)
            out["updates"]["cpu server"] = cpu_seconds([server.process.pid]) - cpu_server
            out["updates"]["cpu browser"] = cpu_seconds([os.getpid()], exclude=server.process.pid) - cpu_browser
            settle(page)
            browser.wait_for_chart(page)

            slider = page.locator('input[type="range"][aria-label="replay: snapshot"]')
            for _ in range(3):
                before, value = browser.kernels_trace(page), slider.get_attribute("aria-valuetext")
                timing = measure(page, lambda: (slider.focus(), page.keyboard.press("ArrowLeft")), kernels_differ(before))
                label = f"replay slider, ArrowLeft ({value} -> {slider.get_attribute('aria-valuetext')})"
                out["latency"].append((label, *timing))
                settle(page)

            out["latency"].append(("sidebar: Train and watch -> Regions",
                                   *measure(page, nav("Regions"), heading_shown(
                                       "Regions", "document.body.innerText.includes('#1 kernel')"))))
            settle(page)
            browser.wait_for_chart(page)
            buttons = page.get_by_role("button", name="Show members on the map")
            cards = re.findall(r"#\d+ kernel (\d+)", page.locator('[data-testid="stMain"]').inner_text())
            for i, kernel in enumerate(cards[:2]):
                out["latency"].append((f"Regions: Show members on the map (card {i + 1})",
                                       *measure(page, buttons.nth(i).click, map_title_has(
                                           f"members of kernel {kernel} highlighted"))))
                settle(page)
                browser.wait_for_chart(page)
            out["latency"].append(("sidebar: Regions -> Data",
                                   *measure(page, nav("Data"), heading_shown("Data", "!!document.querySelector("
                                                                                   "'[data-testid=\"stMetric\"]')"))))
            settle(page)
        finally:
            browser.stop_server(server)
            chromium.close()
    return out


def _update_rate(updates: list, clicked: float, finished: float, epochs: int) -> dict:
    times = np.array([u[0] for u in updates], dtype=float)
    epochs_seen = [int(m.group(1)) for _, title in updates if (m := re.search(r"epoch (\d+):", title or ""))]
    gaps = np.diff(times) / 1000.0 if times.size > 1 else np.array([np.nan])
    span = (times[-1] - times[0]) / 1000.0 if times.size > 1 else float("nan")
    return {
        "changes": int(times.size),
        "snapshots": epochs // 5 + 1,
        "training s": (finished - clicked) / 1000.0,
        "rate": (times.size - 1) / span if times.size > 1 else float("nan"),
        "rate whole": times.size / ((finished - clicked) / 1000.0),
        "median gap": float(np.median(gaps)),
        "p90 gap": float(np.percentile(gaps, 90)),
        "max gap": float(np.max(gaps)),
        "epochs seen": (min(epochs_seen), max(epochs_seen)) if epochs_seen else None,
    }


# ---------------------------------------------------------------------------- report
def machine() -> list[str]:
    cores = os.cpu_count()
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else cores
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        version = subprocess.run([str(browser.CHROMIUM), "--version"], capture_output=True, text=True, timeout=30).stdout
    except OSError:
        version = "not found"
    import plotly
    import streamlit
    import torch

    return [
        f"date      {datetime.datetime.now().astimezone().isoformat(timespec='seconds')}",
        f"command   {' '.join([Path(sys.executable).name] + sys.argv)}",
        f"machine   {cpu}; {cores} cores ({usable} usable), {platform.system()} {platform.release()}",
        f"software  python {platform.python_version()}, streamlit {streamlit.__version__}, plotly {plotly.__version__}, "
        f"torch {torch.__version__} ({torch.get_num_threads()} threads), {version.strip().split(' built')[0]}",
    ]


def verdict(value: float, target: float, higher_is_better: bool = False) -> str:
    if not np.isfinite(value):
        return "n/a"
    ok = value >= target if higher_is_better else value <= target
    return "meets" if ok else "MISSES"


def report(b: dict | None, p: dict | None, options: dict, load_before, load_after, header: list[str]) -> None:
    print("\n".join(header))
    print(f"server    streamlit run dashboard/app.py, extra options: {options or 'none (the repository config)'}")
    print(f"load avg  before {load_before[0]:.2f} {load_before[1]:.2f} {load_before[2]:.2f}; "
          f"after {load_after[0]:.2f} {load_after[1]:.2f} {load_after[2]:.2f}")
    if b is not None:
        cold = TARGETS["cold start"]
        print("\n(a) cold start (new streamlit process, default wiki sample)          seconds   target")
        print(f"    chromium launch (before the server; not counted)              {b['chromium launch']:>7.2f}")
        print(f"    launch -> /_stcore/health ok                                   {b['health']:>7.2f}")
        print(f"    launch -> first plotly chart drawn in Chromium                 {b['first chart']:>7.2f}   "
              f"<= {cold:.0f} s  {verdict(b['first chart'], cold)}")
        print(f"      of which page load (goto) -> the Data heading shown          {b['goto to heading']:>7.2f}")
        print(f"      of which page load (goto) -> the chart's element in the DOM  {b['goto to element']:>7.2f}")
        print(f"      of which page load (goto) -> chart drawn                     {b['goto to chart']:>7.2f}")
        lat = TARGETS["latency"]
        print(f"\n(b) interaction latency (page clock)                    first DOM change   result shown   "
              f"target <= {lat:.0f} s")
        for name, mutation, shown in b["latency"]:
            shown_text = f"{shown:>9.3f} s" if np.isfinite(shown) else "not in 60 s"
            print(f"    {name:<48} {mutation:>9.3f} s   {shown_text:>11}   {verdict(shown, lat)}")
        u = b["updates"]
        rate = TARGETS["update rate"]
        print(f"\n(c) map updates while training (kernels trace sampled every 50 ms)")
        print(f"    distinct kernel-position changes seen      {u['changes']:>7d}   "
              f"(snapshots in the fit: {u['snapshots']})")
        print(f"    epochs shown in the map titles             {u['epochs seen']}")
        print(f"    Start -> 'trained' in the page             {u['training s']:>7.1f} s")
        print(f"    update rate (first to last change)         {u['rate']:>7.2f} /s   >= {rate:.0f} /s  "
              f"{verdict(u['rate'], rate, True)}")
        print(f"    update rate (changes / whole training)     {u['rate whole']:>7.2f} /s")
        print(f"    gap between updates: median {u['median gap']:.3f} s, p90 {u['p90 gap']:.3f} s, max {u['max gap']:.3f} s")
        print(f"    CPU used meanwhile: server {u['cpu server']:.1f} s, browser (Chromium + Playwright) "
              f"{u['cpu browser']:.1f} s, over {u['training s']:.1f} s of wall time on {os.cpu_count()} cores")
    if p is not None:
        print_placement(p)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=400, help="epochs of the fit watched in (c)")
    parser.add_argument("--skip-umap", action="store_true", help="leave out the UMAP.transform comparison in (d)")
    parser.add_argument("--skip-browser", action="store_true", help="only (d)")
    parser.add_argument("--repeats", type=int, default=50, help="repeats of each placement timing (median)")
    parser.add_argument("--option", action="append", default=[], metavar="NAME=VALUE",
                        help="a Streamlit option for the server (repeatable); default: SPARKER_STREAMLIT_OPTIONS")
    args = parser.parse_args()
    options = dict(o.split("=", 1) for o in args.option) if args.option else browser.options_from_env()
    if not args.skip_browser and not browser.chromium_available():
        parser.error(f"no Chromium at {browser.CHROMIUM}; install Debian's chromium or pass --skip-browser")
    header = machine()
    load_before = os.getloadavg()
    b = None if args.skip_browser else browser_part(args.epochs, options)
    p = placement_part(args.skip_umap, args.repeats)
    report(b, p, options, load_before, os.getloadavg(), header)


if __name__ == "__main__":
    main()
