"""Machine-readable output that user code cannot corrupt: what models print goes to stderr.

A factory or model that prints (a library banner, from Python or from C via fd 1) must not land
in front of `etwb lower --json`'s object. The workbench points fd 1 at stderr while it runs user
code (forked workers inherit that) and writes the JSON to the saved real stdout at the end.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from etworkbench.cli import main

FIXTURES = Path(__file__).parent / "fixtures"
FACTORY = f"{FIXTURES / 'printing_factory.py'}:factory"
ETWB = str(Path(sys.executable).parent / "etwb")
BANNERS = [
    f"BANNER-{how}-{where}" for how in ("PRINT", "FD") for where in ("IMPORT", "FACTORY", "FORWARD")
]


def run_etwb(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([ETWB, *args], capture_output=True, text=True, timeout=600, **kwargs)


def _check_clean(proc: subprocess.CompletedProcess, backends: list[str]) -> dict:
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "BANNER" not in proc.stdout, proc.stdout[:500]
    report = json.loads(proc.stdout)  # the whole of stdout is one JSON object
    assert [r["backend"] for r in report["results"]] == backends
    assert all(r["status"] == "ok" for r in report["results"]), report["results"]
    for banner in BANNERS:  # nothing was swallowed: every banner is on stderr
        assert banner in proc.stderr, banner
    return report


def test_lower_json_with_a_printing_factory(tmp_path):
    proc = run_etwb(
        "lower", FACTORY, "--backends", "xnnpack", "--json", "--no-cache", "--out", str(tmp_path)
    )
    report = _check_clean(proc, ["xnnpack"])
    assert Path(report["results"][0]["pte_path"]).is_file()


def test_lower_json_in_forked_workers(tmp_path):
    # Two programs: a forked hub exports (forward() prints there), forked workers lower.
    proc = run_etwb(
        "lower",
        FACTORY,
        "--backends",
        "xnnpack",
        "portable",
        "--json",
        "--no-cache",
        "--out",
        str(tmp_path),
    )
    _check_clean(proc, ["xnnpack", "portable"])
    assert len(list(tmp_path.glob("*.pte"))) == 2


def test_sweep_stdout_is_only_the_summary(tmp_path):
    proc = run_etwb("sweep", "--models", FACTORY, "--backends", "xnnpack", "--out", str(tmp_path))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.startswith("Sweep: 1/1 cells lowered"), proc.stdout[:500]
    assert len(proc.stdout.strip().splitlines()) == 1
    assert "BANNER-PRINT-FACTORY" in proc.stderr and "BANNER-FD-FORWARD" in proc.stderr


def test_inspect_json_writes_to_the_real_stdout(teaching_xnnpack, tmp_path, capsys):
    pte = teaching_xnnpack["xnnpack"].save(tmp_path / "t.pte")
    assert main(["inspect", str(pte), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["methods"][0]["delegates"]
    bad = tmp_path / "bad.pte"
    bad.write_bytes(b"not a pte")
    assert main(["inspect", str(bad), "--json"]) == 1  # the error path prints JSON too
    assert json.loads(capsys.readouterr().out)["error"]


# The helper itself, in a fresh interpreter so its real fds 1 and 2 are pipes we can read.
HELPER_SCRIPT = textwrap.dedent(
    """
    import multiprocessing as mp, os, sys
    from etworkbench._stdout import json_stdout

    def child():
        sys.stdout = sys.__stdout__  # what the workbench's forked workers do
        print("CHILD-PRINT", flush=True)
        os.write(1, b"CHILD-FD\\n")

    print("BEFORE")
    with json_stdout() as real_out:
        print("INSIDE-PRINT")
        sys.__stdout__.write("INSIDE-DUNDER\\n")  # buffered: flushed to stderr on the way out
        os.write(1, b"INSIDE-FD\\n")
        proc = mp.get_context("fork").Process(target=child)
        proc.start(); proc.join()
        real_out.write('{"ok": true}\\n')
    try:
        with json_stdout() as real_out:
            os.write(1, b"RAISING-FD\\n")
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    print("AFTER")
    os.write(1, b"AFTER-FD\\n")
    """
)


def test_json_stdout_covers_c_writes_and_forked_children_and_restores():
    proc = subprocess.run(
        [sys.executable, "-c", HELPER_SCRIPT], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["BEFORE", '{"ok": true}', "AFTER", "AFTER-FD"]
    for text in ("INSIDE-PRINT", "INSIDE-DUNDER", "INSIDE-FD", "CHILD-PRINT", "CHILD-FD"):
        assert text in proc.stderr, text
    assert "RAISING-FD" in proc.stderr


def test_json_stdout_under_a_captured_sys_stdout(capsys):
    """In a notebook or under capsys, sys.stdout is no fd: the JSON goes to that object."""
    from etworkbench._stdout import json_stdout

    before = sys.stdout
    with json_stdout() as real_out:
        print("noise")
        real_out.write("{}\n")
    assert sys.stdout is before
    captured = capsys.readouterr()
    assert captured.out == "{}\n" and "noise" in captured.err


# -- fail before working: bad paths are exit 2 before the model is even built ------------------
def _assert_fails_early(proc: subprocess.CompletedProcess, needles: list[str]) -> None:
    assert proc.returncode == 2, proc.stderr[-2000:]
    for needle in needles:
        assert needle in proc.stderr, (needle, proc.stderr)
    assert "Traceback" not in proc.stderr
    assert "BANNER" not in proc.stderr + proc.stdout  # the factory was never imported
    assert "] export" not in proc.stderr


def test_unwritable_out_fails_before_export(tmp_path):
    blocker = tmp_path / "afile"
    blocker.write_text("x")  # a path under a regular file cannot be created, also for root
    out = blocker / "sub"
    start = time.monotonic()
    proc = run_etwb("lower", FACTORY, "--backends", "xnnpack", "--out", str(out), "--no-cache")
    elapsed = time.monotonic() - start
    _assert_fails_early(proc, [str(out), "is a file, not a directory"])
    assert elapsed < 20, elapsed  # interpreter start-up only (lowering this model takes longer)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile"]


def test_unwritable_cache_dir_is_exit_2(tmp_path):
    blocker = tmp_path / "afile"
    blocker.write_text("x")
    env = {**os.environ, "ETWB_CACHE_DIR": str(blocker / "cache")}
    proc = run_etwb("lower", FACTORY, "--out", str(tmp_path), env=env)
    _assert_fails_early(proc, [str(blocker / "cache"), "ETWB_CACHE_DIR", "--no-cache"])


@pytest.mark.parametrize("case", ["missing", "directory"])
def test_bad_calibration_file_fails_before_export(tmp_path, case, capsys):
    calib = tmp_path / "calib.pt"
    if case == "directory":
        calib.mkdir()
    code = main(
        ["lower", FACTORY, "--quant", "int8", "--calibration", str(calib), "--out", str(tmp_path)]
    )
    captured = capsys.readouterr()
    assert code == 2 and str(calib) in captured.err and "Traceback" not in captured.err
    assert "BANNER-PRINT-FACTORY" not in captured.out + captured.err
