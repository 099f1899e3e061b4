"""Drive the real dashboard in headless Chromium: shared by ``test_browser.py`` and
``benchmarks/bench_dashboard.py``.

A ``streamlit run dashboard/app.py`` server is started as a subprocess on a free port (from the
repository root, so ``.streamlit/config.toml`` applies), polled on ``/_stcore/health`` and torn down
by its own process id. Chromium is the system one (``/usr/bin/chromium``, which CI installs from
Debian); Playwright only drives it, so no ``playwright install`` is needed.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
APP = REPO / "dashboard" / "app.py"
OUTPUT = REPO / "test-output"  # screenshots and server logs (not tracked)
CHROMIUM = Path(os.environ.get("SPARKER_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
]
VIEWPORT = {"width": 1400, "height": 1000}

# Every plotly chart on the page, and its trace named "kernels" (x, y as plain arrays), read in the page.
# plotly.py sends numpy arrays base64-encoded ({dtype, bdata}); plotly.js keeps that object in
# ``el.data`` and the decoded array in ``el._fullData``, so the decoded one is preferred when present.
KERNELS_JS = """
() => {
  const plain = (v) => (v && typeof v.length === 'number') ? Array.from(v).map(Number) : null;
  for (const el of document.querySelectorAll('.js-plotly-plot')) {
    const data = el.data || [];
    for (let i = 0; i < data.length; i++) {
      if (data[i].name !== 'kernels') continue;
      const full = (el._fullData || []).find((t) => t.index === i) || {};
      const x = plain(full.x) || plain(data[i].x);
      const y = plain(full.y) || plain(data[i].y);
      return {x: x, y: y, title: (el.layout && el.layout.title && el.layout.title.text) || ''};
    }
  }
  return null;
}
"""

# Names of the traces of every plotly chart on the page: [[name, ...], ...].
TRACE_NAMES_JS = """
() => Array.from(document.querySelectorAll('.js-plotly-plot')).map((el) => (el.data || []).map((t) => t.name || ''))
"""


def chromium_available() -> bool:
    return CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    """A running ``streamlit run`` process."""

    process: subprocess.Popen
    port: int
    log_path: Path
    launched_at: float  # time.perf_counter() just before Popen
    health_seconds: float | None = None  # launch -> /_stcore/health answered "ok"
    _log: object = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_tail(self, n_chars: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-n_chars:]
        except OSError:
            return ""


def options_from_env() -> dict[str, str]:
    """Extra Streamlit options from ``SPARKER_STREAMLIT_OPTIONS="runner.postScriptGC=false,..."``
    (to try a configuration without editing ``.streamlit/config.toml``); empty by default."""
    text = os.environ.get("SPARKER_STREAMLIT_OPTIONS", "").strip()
    pairs = [item.split("=", 1) for item in text.split(",") if item.strip()]
    return {name.strip(): value.strip() for name, value in pairs}


def start_server(port: int | None = None, log_path: Path | None = None, options: dict | None = None,
                 address: str | None = "127.0.0.1") -> Server:
    """Launch ``streamlit run dashboard/app.py`` in a new process group; returns at once.

    ``options``: extra Streamlit config options given on the command line, e.g.
    {"runner.postScriptGC": "false"}; by default those of ``options_from_env()``.
    ``address``: ``--server.address``; None leaves it to ``.streamlit/config.toml``."""
    port = port or free_port()
    log_path = log_path or OUTPUT / f"streamlit-{port}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log = open(log_path, "w")  # noqa: SIM115 (closed by stop_server)
    command = [
        sys.executable, "-m", "streamlit", "run", str(APP),
        "--server.port", str(port), "--server.headless", "true",
        "--server.fileWatcherType", "none", "--server.runOnSave", "false", "--browser.gatherUsageStats", "false",
    ]
    if address is not None:
        command += ["--server.address", address]
    for name, value in (options_from_env() if options is None else options).items():
        command += [f"--{name}", str(value)]
    launched = time.perf_counter()
    process = subprocess.Popen(command, cwd=REPO, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    return Server(process, port, log_path, launched, _log=log)


def wait_healthy(server: Server, timeout: float = 60.0) -> float:
    """Poll ``/_stcore/health`` until it answers "ok"; returns seconds since launch."""
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"streamlit exited with code {server.process.returncode}:\n{server.log_tail()}")
        try:
            with urllib.request.urlopen(f"{server.url}/_stcore/health", timeout=2) as reply:
                if reply.status == 200 and reply.read().strip() == b"ok":
                    server.health_seconds = time.perf_counter() - server.launched_at
                    return server.health_seconds
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
            pass
        time.sleep(0.05)
    raise TimeoutError(f"streamlit did not answer /_stcore/health within {timeout:.0f} s:\n{server.log_tail()}")


def stop_server(server: Server, timeout: float = 10.0) -> None:
    """SIGTERM to the server's own process group (started by ``start_server``), then SIGKILL."""
    process = server.process
    if process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout)
        except ProcessLookupError:
            pass
    if server._log is not None:
        server._log.close()


def launch_browser(playwright):
    """Headless system Chromium through Playwright."""
    return playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)


def new_page(browser):
    page = browser.new_page(viewport=VIEWPORT)
    page.set_default_timeout(30_000)
    return page


# ---------------------------------------------------------------------------- reading the app
def wait_for_app(page, timeout: float = 60.0) -> None:
    """After ``page.goto``: the app has run its script (a cold server first shows a skeleton)."""
    page.locator('[data-testid="stSidebarNav"]').wait_for(state="visible", timeout=timeout * 1000)


def wait_for_chart(page, timeout: float = 60.0) -> None:
    """A plotly chart is drawn (its SVG exists and has a size)."""
    page.locator(".js-plotly-plot .main-svg").first.wait_for(state="visible", timeout=timeout * 1000)


def wait_idle(page, timeout: float = 60.0) -> None:
    """The script has finished its run (the "Running..." status widget is gone)."""
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')"
        " || !document.querySelector('[data-testid=\"stStatusWidget\"]').innerText.includes('Running')",
        timeout=timeout * 1000,
    )


def go_to(page, title: str, timeout: float = 60.0) -> None:
    """Click the sidebar link ``title`` (keeps the session, unlike loading the URL) and wait for the page's header."""
    page.locator('[data-testid="stSidebarNav"] a', has_text=title).first.click()
    page.locator('[data-testid="stHeading"]', has_text=title).first.wait_for(state="visible", timeout=timeout * 1000)


def kernels_trace(page) -> dict | None:
    """The map's trace named "kernels": {"x": [...], "y": [...], "title": str}, or None."""
    return page.evaluate(KERNELS_JS)


def trace_names(page) -> list[list[str]]:
    return page.evaluate(TRACE_NAMES_JS)


def metric_value(page, label: str) -> str:
    """The shown value of the ``st.metric`` labelled ``label``."""
    metric = page.locator('[data-testid="stMetric"]').filter(
        has=page.locator('[data-testid="stMetricLabel"]', has_text=label)).first
    return metric.locator('[data-testid="stMetricValue"]').inner_text().strip()


def set_number(page, label: str, value, press_enter: bool = True) -> None:
    """Type ``value`` into the ``st.number_input`` labelled ``label``; Enter commits it (and reruns).

    Inside an ``st.form`` Enter would submit the form: pass ``press_enter=False`` there; the value
    is committed when the input loses focus (for instance by clicking the submit button)."""
    box = page.get_by_label(label, exact=True)
    box.fill(str(value))
    if press_enter:
        box.press("Enter")


def full_page_screenshot(page, path: Path) -> Path:
    """Screenshot of the whole page: Streamlit scrolls inside its main block, so the viewport is
    first made as tall as that block's content."""
    path.parent.mkdir(parents=True, exist_ok=True)
    height = page.evaluate(
        "() => Math.max(document.body.scrollHeight, ...Array.from(document.querySelectorAll("
        "'[data-testid=\"stMain\"], section.main, [data-testid=\"stAppViewContainer\"]')).map((e) => e.scrollHeight))"
    )
    size = page.viewport_size or VIEWPORT
    page.set_viewport_size({"width": size["width"], "height": int(min(max(height, size["height"]), 8000))})
    page.wait_for_timeout(500)  # let plotly relayout to the new size
    page.screenshot(path=str(path), full_page=True)
    page.set_viewport_size(size)
    return path
