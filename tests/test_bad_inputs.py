"""The bad-input catalogue: each mistake gives one message naming the bad thing and what to do.

CLI exit code 2 for usage errors, 1 when a backend (or a file) failed; never a bare traceback.
"""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from _fake_backend import register_failing_backend

from etworkbench import UsageError, lower
from etworkbench.cli import main

FIX = "tests/fixtures/bad_factories.py"
REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _repo_cwd(monkeypatch):
    monkeypatch.chdir(REPO)  # the fixture references are relative, as users type them


def _cli(argv, capsys) -> tuple[int, str]:
    code = main(argv)
    captured = capsys.readouterr()
    text = captured.err + captured.out
    assert "Traceback" not in text
    return code, text


# -- usage errors: exit 2 ------------------------------------------------------------------------
USAGE = [
    (["no_such_model"], ["unknown model 'no_such_model'", "file.py:factory"]),
    (["teaching_net", "--backends", "nope"], ["unknown backend 'nope'; choose one of"]),
    (["teaching_net", "--quant", "int3"], ["no quantization scheme 'int3'", "etwb schemes"]),
    (["missing.py:make"], ["file 'missing.py' does not exist", "relative paths start at"]),
    ([f"{FIX}:nothing"], ["has no 'nothing'", "callables there:", "raises"]),
    (
        [f"{FIX}:raises"],
        ["raised FileNotFoundError", "download the checkpoint", "bad_factories.py:"],
    ),
    ([f"{FIX}:returns_module_only"], ["must return (nn.Module, example_inputs_tuple)", "e.g."]),
    (
        [f"{FIX}:string_input"],
        ["example_inputs[0] is a str", "tensors, ints, floats, bools and None"],
    ),
    (["teaching_net", "--exclude-op", "mean"], ["cannot exclude op 'mean'", "aten.mean.dim"]),
]


@pytest.mark.parametrize(("args", "needles"), USAGE, ids=[" ".join(a) for a, _ in USAGE])
def test_usage_errors_exit_2_with_a_message(args, needles, capsys, tmp_path):
    code, text = _cli(["lower", *args, "--out", str(tmp_path)], capsys)
    assert code == 2
    for needle in needles:
        assert needle in text
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_factory_file_with_a_syntax_error(tmp_path, capsys):
    bad = tmp_path / "broken.py"
    bad.write_text("import torch\n\ndef make(:\n    return None\n")
    code, text = _cli(["lower", f"{bad}:make"], capsys)
    assert code == 2
    assert f"model file {str(bad)!r} has a syntax error at line 3" in text
    assert "def make(:" in text


def test_api_raises_the_same_usage_errors():
    with pytest.raises(UsageError, match="without example_inputs"):
        lower(torch.nn.Linear(2, 2), ["xnnpack"])
    with pytest.raises(UsageError, match="no backends given"):
        lower("teaching_net", [])


# -- export and lowering failures: recorded on the result, exit 1 -------------------------------
def test_unexportable_model_cli(tmp_path):
    """Exactly `etwb lower tests/fixtures/unexportable.py:make --backends xnnpack`."""
    proc = subprocess.run(
        [sys.executable, "-m", "etworkbench.cli", "lower", "tests/fixtures/unexportable.py:make"]
        + ["--backends", "xnnpack", "--out", str(tmp_path), "--no-cache"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=600,
    )
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    assert "def forward" not in proc.stderr  # torch's partial-graph dump is kept out
    line = proc.stdout.strip().splitlines()[-1]
    assert "export failed" in line and "depends on tensor values" in line
    assert "unexportable.py:14: if y.sum() > 0:" in line
    assert list(tmp_path.iterdir()) == []


def test_unexportable_model_result_names_the_source_line():
    result = lower("tests/fixtures/unexportable.py:make", ["xnnpack"], cache=False)["xnnpack"]
    assert result.status == "failed" and result.error.stage == "export"
    path, line, code = result.error.source.split(":", 2)
    assert path.endswith("tests/fixtures/unexportable.py") and line == "14"
    assert code.strip().startswith("if y.sum() > 0:")
    summary, _, original = result.error.message.partition("\n\n")
    assert "torch.cond" in summary and result.error.source in summary
    assert "data-dependent" in original  # torch's own text is kept after the summary


def test_wrong_input_shape_leads_with_a_summary():
    result = lower(f"{FIX}:wrong_shape", ["xnnpack"], cache=False)["xnnpack"]
    assert result.error.stage == "export"
    first = result.error.message.splitlines()[0]
    assert "example inputs (x: float32[1, 4, 8, 8])" in first
    assert "expected input[1, 4, 8, 8] to have 3 channels" in first
    assert "bad_factories.py:13: return self.conv(x)" in first
    assert result.error.one_line.startswith("export failed: RuntimeError: torch.export failed")


def test_wrong_input_dtype_leads_with_a_summary():
    result = lower(f"{FIX}:wrong_dtype", ["xnnpack"], cache=False)["xnnpack"]
    assert result.status == "failed"
    first = result.error.message.splitlines()[0]
    assert "aten.addmm.default got tensors of different dtypes" in first
    assert "(x: int64[2, 4])" in first
    assert "mismatched dtypes" in result.error.message  # the original text follows


@pytest.mark.parametrize("stage", ["partition", "preprocess"])
def test_backend_raising_mid_lowering_is_recorded_and_others_go_on(monkeypatch, stage, tmp_path):
    register_failing_backend(monkeypatch, "failing", stage)
    report = lower("teaching_net", ["failing", "xnnpack"], out_dir=tmp_path, cache=False)
    failing, xnnpack = report["failing"], report["xnnpack"]
    assert failing.status == "failed" and failing.error.stage == stage
    assert f"simulated compiler crash in {stage}()" in failing.error.message
    assert xnnpack.ok and Path(xnnpack.pte_path).exists()
    assert [p.name for p in tmp_path.iterdir()] == ["teaching_net_xnnpack.pte"]


def test_backend_failure_cli_exit_1(monkeypatch, capsys, tmp_path):
    register_failing_backend(monkeypatch, "failing", "preprocess")
    argv = ["lower", "teaching_net", "--backends", "failing", "xnnpack", "--out", str(tmp_path)]
    code, text = _cli([*argv, "--no-cache"], capsys)
    assert code == 1
    assert "failing: failed: preprocess failed" in text and "xnnpack: ok" in text


# -- output paths ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def teaching_result(teaching_xnnpack):
    return teaching_xnnpack["xnnpack"]


def _leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def test_save_to_a_directory(teaching_result, tmp_path):
    with pytest.raises(UsageError, match="it is a directory; give a file path such as"):
        teaching_result.save(tmp_path)


def test_save_under_a_file(teaching_result, tmp_path):
    (tmp_path / "afile").write_text("x")
    with pytest.raises(UsageError, match="afile' is a file, not a directory; choose another"):
        teaching_result.save(tmp_path / "afile" / "m.pte")
    assert _leftovers(tmp_path) == ["afile"]


def test_save_to_an_unwritable_directory(teaching_result, tmp_path, monkeypatch):
    import tempfile

    def denied(*args, **kwargs):  # tests may run as root, where chmod does not stop writes
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(tempfile, "mkstemp", denied)
    with pytest.raises(UsageError, match="m.pte': Permission denied; choose a writable"):
        teaching_result.save(tmp_path / "m.pte")
    assert _leftovers(tmp_path) == []


def test_save_on_a_full_disk(teaching_result, tmp_path, monkeypatch):
    target = tmp_path / "m.pte"
    target.write_bytes(b"previous version")

    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(UsageError, match="No space left on device; free space or choose another"):
        teaching_result.save(target)
    assert _leftovers(tmp_path) == ["m.pte"] and target.read_bytes() == b"previous version"


def test_out_dir_that_is_a_file_fails_before_lowering(tmp_path, capsys):
    blocker = tmp_path / "out"
    blocker.write_text("not a directory")
    code, text = _cli(["lower", "teaching_net", "--out", str(blocker)], capsys)
    assert code == 2  # found before exporting, not after a lowering
    assert str(blocker) in text and "is a file, not a directory" in text
    assert _leftovers(tmp_path) == ["out"]


# -- .pte files: exit 1 ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "make", "needle"),
    [
        ("empty", lambda d: b"", "empty file"),
        ("truncated", lambda d: d[: len(d) // 3], "truncated: header says program is"),
        ("random", lambda d: bytes(range(256)) * 8, "not an ExecuTorch program: magic is"),
        ("bad offsets", lambda d: d[:16] + (10**6).to_bytes(8, "little") + d[24:], "truncated"),
    ],
)
def test_bad_pte_files(teaching_result, tmp_path, capsys, name, make, needle):
    path = tmp_path / f"{name}.pte"
    path.write_bytes(make(teaching_result.buffer))
    code, text = _cli(["inspect", str(path)], capsys)
    assert code == 1 and needle in text and str(path) in text
