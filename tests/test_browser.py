"""The real thing: JupyterLab + headless Debian Chromium, the workbench notebook, the Lower button."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

pytestmark = pytest.mark.browser


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian chromium is not installed")
    port = _free_port()
    home = tmp_path_factory.mktemp("lab")
    env = dict(os.environ, JUPYTER_RUNTIME_DIR=str(home / "runtime"))
    log = open(home / "lab.log", "w")
    proc = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "jupyter"),
            "lab",
            "--no-browser",
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={port}",
            "--ServerApp.port_retries=0",
            "--IdentityProvider.token=",
            "--ServerApp.password=",
            f"--ServerApp.root_dir={ROOT}",
            "--LabApp.news_url=",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(120):
        try:
            urllib.request.urlopen(url + "/api", timeout=1)
            break
        except OSError:
            time.sleep(0.5)
    else:
        proc.terminate()
        pytest.fail("JupyterLab did not start: " + (home / "lab.log").read_text()[-2000:])
    yield url
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()


def test_lower_button_draws_graph_and_sizes(lab, output_dir):
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        try:
            page.goto(f"{lab}/lab/tree/notebooks/00_workbench.ipynb", timeout=60_000)
            # Run the app cell (the first code cell) only: the button must do the lowering.
            editor = page.locator(".jp-CodeCell .jp-InputArea-editor").first
            editor.wait_for(timeout=60_000)
            page.wait_for_selector(
                ".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=90_000
            )
            editor.click()
            page.keyboard.press("Shift+Enter")

            model = page.locator(".widget-dropdown select").first
            model.wait_for(timeout=120_000)
            model.select_option("teaching_net")
            page.locator(".widget-checkbox", has_text="XNNPACK").locator("input").check()
            page.locator("button.jupyter-button", has_text="Lower").first.click()

            svg = page.locator(".etwb-graph-canvas svg").first
            svg.wait_for(timeout=240_000)
            delegated = svg.locator("g.node polygon[fill='#4c9be8']")
            fallback = svg.locator("g.node polygon[fill='#fdecea']")
            expect(delegated.first).to_be_attached()
            expect(fallback.first).to_be_attached()
            assert fallback.count() >= 2  # mean and cumsum stay on CPU
            assert svg.locator("#N_aten_cumsum_default").count() == 1

            page.locator(".lm-TabBar-tab", has_text="sizes").first.click()
            chart = page.locator(".js-plotly-plot").first
            chart.wait_for(timeout=60_000)
            expect(chart.locator(".bars path").first).to_be_attached()
            page.screenshot(path=str(output_dir / "workbench_sizes.png"), full_page=True)
            page.locator(".lm-TabBar-tab", has_text="graph").first.click()
            page.screenshot(path=str(output_dir / "workbench_graph.png"), full_page=True)
        except Exception:
            page.screenshot(path=str(output_dir / "workbench_failure.png"), full_page=True)
            raise
        finally:
            browser.close()
