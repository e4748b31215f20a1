"""Model Explorer itself: its config for our files, its server and the notebook embedding.

The server runs in a child process of its own (see `serve`), so the kernel never hosts it.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ..errors import UsageError


def explorer_config(paths: Iterable[str | Path]) -> Any:
    """A `model_explorer` config of files as `write` lists them: each graph file, and each
    node data file applied to the graph file written before it."""
    import model_explorer

    config = model_explorer.config()
    graph: Path | None = None
    for path in map(Path, paths):
        if path.name.endswith("_nodedata.json"):
            if graph is None:
                raise UsageError(f"{path}: node data before any graph file")
            config.add_node_data_from_path(str(path), model_name=graph.name)
        else:
            graph = path
            config.add_model_from_path(str(path))
    return config


def explorer_url(config: Any, host: str, port: int) -> str:
    """The page that opens the config's graphs, as Model Explorer's server prints it."""
    return f"http://{host}:{port}/?data={config.to_url_param_value()}"


# The server's process: Model Explorer's own `visualize_from_config`, with its PyPI version
# check (at start and from the page) answered locally, so serving stays offline.
_SERVER_MAIN = """
import sys
from model_explorer import server, visualize_from_config
from etworkbench.views._model_explorer_server import explorer_config
server._check_new_version = lambda *args, **kwargs: {
    "version": "", "runningVersion": "", "releaseUrl": "", "desktopAppUrl": ""}
host, port, paths = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
visualize_from_config(config=explorer_config(paths), host=host, port=port, no_open_in_browser=True)
"""
_SERVERS: list[Any] = []  # the processes this Python started; stopped at exit


def serve(paths: Iterable[str | Path], host: str = "localhost", port: int | None = None) -> str:
    """Start Model Explorer's server for these files; its page URL.

    It runs in a child process (`visualize_from_config` blocks while it serves, and prints a
    banner meant for a terminal): its output goes to `model_explorer_server.log` beside the
    first file, nothing it does can stall or kill the kernel, and it stops when this Python
    exits (`stop_servers()` stops it sooner).
    """
    import atexit
    import subprocess
    import sys
    import time
    import urllib.request

    import portpicker

    paths = [str(p) for p in paths]
    config = explorer_config(paths)  # a bad list is a UsageError here, not a dead server
    port = port or portpicker.pick_unused_port()
    log_path = Path(paths[0]).parent / "model_explorer_server.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-c", _SERVER_MAIN, host, str(port), *paths],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    if not _SERVERS:
        atexit.register(stop_servers)
    _SERVERS.append(process)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        try:
            with urllib.request.urlopen(f"http://{host}:{port}/check_health", timeout=1) as r:
                if r.read() == b"model_explorer_ok":
                    return explorer_url(config, host, port)
        except OSError:
            time.sleep(0.2)
    process.kill()
    tail = log_path.read_text(errors="replace")[-1500:].strip()
    raise RuntimeError(
        f"Model Explorer's server did not start on {host}:{port}; its output ({log_path}):\n{tail}"
    )


def stop_servers() -> None:
    """Stop every Model Explorer server this Python started."""
    while _SERVERS:
        process = _SERVERS.pop()
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=5)
            except Exception:
                process.kill()
