"""The real thing: JupyterLab + headless Debian Chromium, the workbench notebook, the Lower button.

The server runs from this venv on 127.0.0.1 with its config / data / runtime dirs and its root
in temporary directories (the notebook is copied there), so nothing is written into the repo
and the user's Jupyter setup is neither read nor changed. The browser may only talk to that
server: every other request is aborted.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "00_workbench.ipynb"
CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
DELEGATED = "g.node.etwb-delegated"  # class names views/graph.py puts on SVG nodes
FALLBACK = "g.node.etwb-fallback"

pytestmark = pytest.mark.browser


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian chromium is not installed at /usr/bin/chromium")
    home = tmp_path_factory.mktemp("lab")
    root = home / "root"
    (root / "notebooks").mkdir(parents=True)
    shutil.copy(NOTEBOOK, root / "notebooks" / NOTEBOOK.name)
    env = dict(
        os.environ,
        HOME=str(home),
        JUPYTER_CONFIG_DIR=str(home / "config"),
        JUPYTER_DATA_DIR=str(home / "data"),
        JUPYTER_RUNTIME_DIR=str(home / "runtime"),
        IPYTHONDIR=str(home / "ipython"),
        ETWB_CACHE_DIR=str(home / "etwb-cache"),
        JUPYTER_PLATFORM_DIRS="1",
        PYTHONWARNINGS="ignore",
    )
    port = _free_port()
    log_path = home / "lab.log"
    log = open(log_path, "w")  # noqa: SIM115 - closed in the finalizer below
    proc = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "jupyter"),
            "lab",
            "--no-browser",
            "--allow-root",  # CI containers run as root
            "--LabApp.extension_manager=readonly",  # no PyPI look-ups
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={port}",
            "--ServerApp.port_retries=0",
            "--ServerApp.token=",
            "--ServerApp.password=",
            f"--ServerApp.root_dir={root}",
            "--LabApp.news_url=",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        ],
        cwd=root,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            if proc.poll() is not None:
                pytest.fail("JupyterLab exited:\n" + log_path.read_text()[-3000:])
            try:
                urllib.request.urlopen(url + "/api", timeout=2)
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail(
                        "JupyterLab did not start in 90 s:\n" + log_path.read_text()[-3000:]
                    )
                time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        log.close()


def _local_only(route) -> None:
    host = urlparse(route.request.url).hostname
    if host in ("127.0.0.1", None) or route.request.url.startswith(("data:", "blob:")):
        route.continue_()
    else:
        route.abort()


def _accept_kernel_dialog(page) -> None:
    """JupyterLab may ask which kernel to start (python3 preselected): accept it."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    button = page.locator(".jp-Dialog button.jp-mod-accept", has_text="Select")
    try:
        button.click(timeout=20_000)
    except PlaywrightTimeout:
        return  # no dialog: the kernel started by itself
    page.locator(".jp-Dialog").wait_for(state="detached", timeout=10_000)


def test_lower_button_draws_graph_and_sizes(lab, output_dir):
    from playwright.sync_api import expect, sync_playwright

    shot = output_dir / "browser_workbench.png"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        context = browser.new_context(viewport={"width": 1400, "height": 1100})
        context.route("**/*", _local_only)
        page = context.new_page()
        page.set_default_timeout(60_000)
        try:
            page.goto(f"{lab}/lab/tree/notebooks/00_workbench.ipynb", timeout=60_000)
            # Run the app cell (the first code cell) only: the Lower button does the lowering.
            editor = page.locator(".jp-CodeCell .jp-InputArea-editor").first
            editor.wait_for(timeout=90_000)
            _accept_kernel_dialog(page)
            editor.click()
            page.keyboard.press("Shift+Enter")

            app = page.locator(".jp-CodeCell").first.locator(".jp-OutputArea")
            model = app.locator(".widget-dropdown select").first
            model.wait_for(timeout=180_000)  # kernel start + torch/executorch imports
            model.select_option("teaching_net")
            xnnpack = app.locator(".widget-checkbox", has_text="XNNPACK").locator("input")
            xnnpack.check()
            app.locator("button.jupyter-button", has_text="Lower").first.click()

            svg = app.locator(".etwb-graph-canvas svg").first
            svg.wait_for(timeout=240_000)
            delegated = svg.locator(DELEGATED)
            fallback = svg.locator(FALLBACK)
            expect(delegated.first).to_be_attached()
            expect(fallback.first).to_be_attached()
            # teaching_net on XNNPACK: conv/relu (+ linear) delegated, mean and cumsum on CPU.
            assert fallback.count() >= 2, f"expected mean and cumsum on CPU, saw {fallback.count()}"
            fallback_text = " ".join(fallback.all_text_contents())
            assert "cumsum" in fallback_text and "mean" in fallback_text, fallback_text
            svg.scroll_into_view_if_needed()
            page.screenshot(path=str(output_dir / "browser_workbench_graph.png"), full_page=True)

            app.locator(".lm-TabBar-tab", has_text="sizes").first.click()
            # the coverage tab holds a (hidden) plotly figure too: pick the size chart by title
            chart = app.locator(".js-plotly-plot", has_text=".pte size").first
            chart.wait_for(state="visible", timeout=60_000)
            bars = chart.locator(".trace.bars .point path")
            expect(bars.first).to_be_attached(timeout=30_000)
            assert "xnnpack" in chart.text_content()
            chart.scroll_into_view_if_needed()
            page.screenshot(path=str(shot), full_page=True)
        except Exception:
            page.screenshot(path=str(output_dir / "browser_workbench_failure.png"), full_page=True)
            raise
        finally:
            context.close()
            browser.close()
