"""`etwb` output carries the workbench's own lines, the user's prints and real errors; not the
lines native libraries write to fd 2 at import or runtime load (`_compat.output`)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from etworkbench._compat.output import quiet_native_stderr

FOREIGN = (
    "Registering override fallback regex",  # pytorch_tokenizers, at import
    "No CUDA runtime is found",  # torch.utils.cpp_extension, at import
    "cpuinfo_utils.cpp",  # ExecuTorch's threadpool, first XNNPACK method load
    "OpenvinoBackend.cpp",  # ExecuTorch's OpenVINO runtime, first OpenVINO method load
    "Converting PyTorch Frontend ==> MIL Ops",  # coremltools' bars, each Core ML lowering
    "Running MIL ",
)

MODEL = textwrap.dedent(
    """
    import torch

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = torch.nn.Linear(8, 8)

        def forward(self, x):
            return torch.cumsum(torch.relu(self.fc(x)), dim=1)

    def make():
        print("USER-PRINT from the factory")
        return Net(), (torch.randn(1, 8),)
    """
)


def _openvino_available() -> bool:
    from etworkbench.backends import get_backend

    return get_backend("openvino").availability.available


def _etwb(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "ETWB_CACHE_DIR": str(cwd / "cache")}
    return subprocess.run(
        [sys.executable, "-m", "etworkbench.cli", *args],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=cwd,
        env=env,
    )


def _foreign(text: str) -> list[str]:
    return [line for line in text.splitlines() if any(f in line for f in FOREIGN)]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    where = tmp_path_factory.mktemp("noise")
    (where / "tiny.py").write_text(MODEL)
    return where


@pytest.fixture(scope="module")
def lowered_run(model_dir: Path) -> subprocess.CompletedProcess:
    backends = ["xnnpack", "coreml", "openvino"] if _openvino_available() else ["xnnpack", "coreml"]
    return _etwb("lower", "tiny.py:make", "--backends", *backends, "--run", cwd=model_dir)


def test_cli_run_shows_only_its_own_lines(lowered_run):
    proc = lowered_run
    assert proc.returncode == 0, proc.stderr
    assert _foreign(proc.stdout + proc.stderr) == []
    assert "Lowered " in proc.stdout and "xnnpack: ok  " in proc.stdout
    assert "    cpu: cumsum×1 (no XNNPACK implementation)" in proc.stdout
    assert "    run: " in proc.stdout
    assert re.search(r"xnnpack: ok  \d+(\.\d)? (B|KB|MB)  delegated", proc.stdout)  # human units
    assert "0.00 MB" not in proc.stdout
    assert "USER-PRINT from the factory" in proc.stdout  # the user's own output stays


def test_cli_json_run_shows_only_its_own_lines(model_dir: Path):
    proc = _etwb("lower", "tiny.py:make", "--backends", "xnnpack", "--run", "--json", cwd=model_dir)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert isinstance(report["results"][0]["pte_bytes"], int)  # JSON keeps raw bytes
    assert _foreign(proc.stdout + proc.stderr) == []
    assert "USER-PRINT from the factory" in proc.stderr  # moved off stdout, not hidden


def test_native_failure_in_a_quiet_load_is_shown(model_dir: Path, lowered_run, tmp_path: Path):
    """A method whose delegate is not registered: the runtime's own error line still shows."""
    assert lowered_run.returncode == 0, lowered_run.stderr
    data = (model_dir / "tiny_make_xnnpack.pte").read_bytes()
    assert b"XnnpackBackend" in data
    broken = tmp_path / "broken.pte"
    broken.write_bytes(data.replace(b"XnnpackBackend", b"XnnpackBackenX"))
    script = textwrap.dedent(
        f"""
        from etworkbench._compat.output import quiet_native_noise
        quiet_native_noise()
        from executorch.runtime import Runtime
        program = Runtime.get().load_program({str(broken)!r})
        program.load_method("forward")
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode != 0
    assert "XnnpackBackenX is not registered" in proc.stderr
    assert "Failed to load method forward" in proc.stderr


def test_quiet_region_drops_known_noise_and_keeps_the_rest(capfd):
    with quiet_native_stderr():
        os.write(2, b"[cpuinfo_utils.cpp:71] Reading file /sys/devices/soc0/image_version\n")
        os.write(2, b"a line of the user's own\n")
        print("python stderr too", file=sys.stderr)
    err = capfd.readouterr().err
    assert "cpuinfo_utils" not in err
    assert "a line of the user's own" in err and "python stderr too" in err


def test_quiet_region_that_raises_shows_everything(capfd):
    with pytest.raises(RuntimeError, match="load failed"), quiet_native_stderr():
        with quiet_native_stderr():  # nested: one capture
            os.write(2, b"[cpuinfo_utils.cpp:71] Reading file /sys/x\n")
            os.write(2, b"[method.cpp:85] Backend Nope is not registered.\n")
        raise RuntimeError("load failed")
    err = capfd.readouterr().err
    assert "[cpuinfo_utils.cpp:71]" in err and "Backend Nope is not registered" in err
