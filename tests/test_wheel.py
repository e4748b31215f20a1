"""The front end ships in the wheel: an installed (non-editable) etworkbench keeps pan, zoom, click.

widgets/ at the top of the checkout is the source of the graph widget's JS and CSS. A copy lives
in the package (src/etworkbench/ui/static/, declared as package data) so the wheel carries it, and
the widget loads it with importlib.resources. The first test keeps the copy identical to the
source; the second builds the wheel offline from a copy of the sources, installs it into a
directory of its own and loads the widget's assets from there in a fresh interpreter.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
WIDGETS = ROOT / "widgets"
STATIC = ROOT / "src" / "etworkbench" / "ui" / "static"
SYNC = "cp widgets/* src/etworkbench/ui/static/"


def _sources() -> list[Path]:
    files = sorted(p for p in WIDGETS.iterdir() if p.is_file())
    assert files, "widgets/ holds no files"
    return files


def test_packaged_assets_are_identical_to_widgets():
    copies = sorted(p.name for p in STATIC.iterdir() if p.is_file())
    assert copies == [p.name for p in _sources()], f"ui/static/ differs from widgets/; run {SYNC}"
    for source in _sources():
        assert (STATIC / source.name).read_bytes() == source.read_bytes(), (
            f"src/etworkbench/ui/static/{source.name} is not widgets/{source.name}; run {SYNC}"
        )


def test_widget_loads_its_assets_from_the_package():
    from etworkbench.ui._graph_panel import GraphWidget, widget_asset

    assert widget_asset("graph.js") == (WIDGETS / "graph.js").read_text(encoding="utf-8")
    assert GraphWidget._esm == widget_asset("graph.js")
    assert GraphWidget._css == widget_asset("graph.css")
    with pytest.raises(FileNotFoundError, match=r"ui/static/nope\.js.*reinstall"):
        widget_asset("nope.js")


_CHECK = """
import json, sys
from importlib import resources
import etworkbench
from etworkbench.ui import _graph_panel
js = resources.files("etworkbench.ui") / "static" / "graph.js"
print(json.dumps({
    "package": etworkbench.__file__,
    "asset": str(js),
    "js": _graph_panel.widget_asset("graph.js"),
    "css": _graph_panel.widget_asset("graph.css"),
    "esm": _graph_panel.GraphWidget._esm,
}))
"""


@pytest.mark.slow
def test_wheel_carries_the_front_end(tmp_path):
    # Build from a copy, so nothing (build/, *.egg-info) is written into the checkout.
    tree = tmp_path / "tree"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    shutil.copytree(ROOT / "src", tree / "src", ignore=ignore)
    shutil.copytree(WIDGETS, tree / "widgets")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, tree / name)
    dist, target = tmp_path / "dist", tmp_path / "target"
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input"]
    env = {**os.environ, "PIP_NO_INDEX": "1"}  # offline: the build uses this venv's setuptools
    subprocess.run(
        [*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", str(dist), str(tree)],
        check=True,
        capture_output=True,
        env=env,
        timeout=300,
    )
    (wheel,) = dist.glob("etworkbench-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        for source in _sources():
            member = f"etworkbench/ui/static/{source.name}"
            assert member in names, f"{member} is not in {wheel.name}"
            assert archive.read(member) == source.read_bytes(), member

    subprocess.run(
        [*pip, "install", "--no-deps", "--target", str(target), str(wheel)],
        check=True,
        capture_output=True,
        env=env,
        timeout=300,
    )
    run_env = {**env, "PYTHONPATH": os.pathsep.join([str(target), env.get("PYTHONPATH", "")])}
    done = subprocess.run(
        [sys.executable, "-c", _CHECK],
        capture_output=True,
        text=True,
        env=run_env,
        cwd=tmp_path,  # not the checkout, so nothing there can be imported by accident
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert Path(found["package"]).resolve().is_relative_to(target.resolve()), found["package"]
    assert Path(found["asset"]).resolve().is_relative_to(target.resolve()), found["asset"]
    assert found["js"] == found["esm"] == (WIDGETS / "graph.js").read_text(encoding="utf-8")
    assert found["css"] == (WIDGETS / "graph.css").read_text(encoding="utf-8")
