"""The browser test's JupyterLab server, and the JSON of the report its kernel shows.

The server runs from this venv on 127.0.0.1 with its config / data / runtime dirs, its root and
its program cache (ETWB_CACHE_DIR) in a temporary directory (the notebook is copied there), so
nothing is written into the repo and the user's Jupyter setup is neither read nor changed.
Its user settings start the notebook's kernel without asking and never ask about news.
The browser may only talk to that server: `local_only` aborts every other request.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "00_workbench.ipynb"
BIN = Path(sys.executable).parent
CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


class LabError(RuntimeError):
    pass


@dataclass
class Lab:
    url: str
    root: Path  # the server's root_dir; the notebook is root/notebooks/00_workbench.ipynb
    env: dict[str, str]  # the kernel's environment (ETWB_CACHE_DIR: the program cache)
    log: Path
    runtime: Path  # JUPYTER_RUNTIME_DIR: the kernels' connection files

    @property
    def notebook_url(self) -> str:
        return f"{self.url}/lab/tree/notebooks/{NOTEBOOK.name}"

    @property
    def kernel_cwd(self) -> Path:
        """Where the kernel runs: relative paths the app writes land here."""
        return self.root / "notebooks"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


SETTINGS = {
    # start python3 for the notebook instead of asking (the dialog races the first click)
    ("notebook-extension", "tracker"): {"autoStartDefaultKernel": True},
    # no "get notified about official Jupyter news?" toast over the output
    ("apputils-extension", "notification"): {"fetchNews": "false", "checkForUpdates": False},
}


def _write_settings(user_settings: Path) -> None:
    for (extension, plugin), values in SETTINGS.items():
        path = user_settings / extension / f"{plugin}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))


@contextmanager
def running_lab(home: Path) -> Iterator[Lab]:
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
    _write_settings(home / "config" / "lab" / "user-settings" / "@jupyterlab")
    port = _free_port()
    log_path = home / "lab.log"
    log = open(log_path, "w")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [
            str(BIN / "jupyter"),
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
                raise LabError("JupyterLab exited:\n" + log_path.read_text()[-3000:])
            try:
                urllib.request.urlopen(url + "/api", timeout=2)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise LabError(
                        "JupyterLab did not start in 90 s:\n" + log_path.read_text()[-3000:]
                    ) from None
                time.sleep(0.5)
        yield Lab(url, root, env, log_path, home / "runtime")
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        log.close()


def local_only(route) -> None:
    host = urlparse(route.request.url).hostname
    if host in ("127.0.0.1", None) or route.request.url.startswith(("data:", "blob:")):
        route.continue_()
    else:
        route.abort()


def open_notebook(page, lab: Lab, settle: float = 3.0) -> None:
    """Open the workbench notebook and wait until its kernel is idle, with no dialog, for
    `settle` seconds (JupyterLab's kernel dialog, if it still asks, is accepted: python3)."""
    page.goto(lab.notebook_url, timeout=60_000)
    page.locator(".jp-CodeCell .jp-InputArea-editor").first.wait_for(timeout=90_000)
    accept = page.locator(".jp-Dialog button.jp-mod-accept")
    idle = page.locator('.jp-Notebook-ExecutionIndicator[data-status="idle"]')
    deadline, since = time.monotonic() + 120, None
    while time.monotonic() < deadline:
        if accept.count() and accept.first.is_visible():
            accept.first.click()
            page.locator(".jp-Dialog").wait_for(state="detached", timeout=10_000)
            since = None
        elif idle.count() and idle.first.is_visible():
            since = since or time.monotonic()
            if time.monotonic() - since >= settle:
                return
        else:
            since = None
        page.wait_for_timeout(200)
    raise LabError("the notebook's kernel was not idle after 120 s")


def kernel_json(lab: Lab, expression: str, timeout: float = 120) -> Any:
    """Evaluate `expression` (a JSON string) in the notebook's kernel, over a second client of
    the same kernel: e.g. the report the app shows, `wb.state.lowered.to_json()`."""
    from jupyter_client import BlockingKernelClient

    files = sorted(lab.runtime.glob("kernel-*.json"), key=lambda f: f.stat().st_mtime)
    if not files:
        raise LabError(f"no kernel connection file in {lab.runtime}")
    client = BlockingKernelClient()
    client.load_connection_file(str(files[-1]))
    client.start_channels()
    out: list[str] = []
    errors: list[str] = []

    def hook(msg) -> None:
        kind, content = msg["msg_type"], msg["content"]
        if kind == "stream" and content.get("name") == "stdout":
            out.append(content["text"])
        elif kind == "error":
            errors.append(f"{content['ename']}: {content['evalue']}")

    try:
        client.wait_for_ready(timeout=timeout)
        code = f"import sys as _etwb_sys\n_etwb_sys.stdout.write({expression})\n"
        client.execute_interactive(code, store_history=False, output_hook=hook, timeout=timeout)
    finally:
        client.stop_channels()
    if errors:
        raise LabError(f"the kernel could not evaluate {expression}: {errors[0]}")
    return json.loads("".join(out))
