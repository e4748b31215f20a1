"""Calibration data for static schemes: example inputs, an iterable, or a torch.save file."""

from __future__ import annotations

import json

import pytest
import torch

from etworkbench import UsageError, load_model, lower
from etworkbench.cli import main

MODEL = "tiny_convnet"


@pytest.fixture(scope="module")
def example():
    return load_model(MODEL).example_inputs[0]


def _cli(argv, capsys) -> tuple[int, str, str]:
    code = main(argv)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_a_file_of_four_batches_calibrates_and_is_reported(example, tmp_path, capsys):
    path = tmp_path / "calib.pt"
    torch.save(torch.randn(4, *example.shape), path)  # [N, *example shape]: N batches
    argv = ["lower", MODEL, "--backends", "xnnpack", "--quant", "int8"]
    code, out, err = _cli(
        [*argv, "--calibration", str(path), "--out", str(tmp_path), "--json"], capsys
    )
    assert code == 0, err
    (result,) = json.loads(out)["results"]
    assert result["status"] == "ok"
    assert result["calibration"] == {"batches": 4, "source": str(path)}
    assert "calibrate" in err and "4/4" in err  # the progress bar, on stderr

    code, out, err = _cli([*argv, "--calibration", str(path), "--out", str(tmp_path)], capsys)
    assert code == 0 and f"calibrated on 4 batches ({path})" in out


def test_calibration_changes_the_program_and_is_part_of_the_cache_key(example, tmp_path):
    torch.manual_seed(1)
    small = [(torch.randn(*example.shape) * 0.01,) for _ in range(2)]
    large = [(torch.randn(*example.shape) * 10,) for _ in range(3)]
    a = lower(MODEL, ["xnnpack"], "int8", calibration=small)["xnnpack"]
    b = lower(MODEL, ["xnnpack"], "int8", calibration=large)["xnnpack"]
    again = lower(MODEL, ["xnnpack"], "int8", calibration=small)["xnnpack"]
    assert (a.calibration_batches, b.calibration_batches) == (2, 3)
    assert a.ok and b.ok and a._buffer != b._buffer  # the scales come from the data
    assert again.cached and again._buffer == a._buffer and again.calibration_batches == 2


def test_default_is_the_example_inputs_and_dynamic_schemes_report_none():
    static = lower(MODEL, ["xnnpack"], "int8")["xnnpack"]
    assert (static.calibration_batches, static.calibration_source) == (1, "example inputs")
    dynamic = lower(MODEL, ["xnnpack"], "int8-dynamic")["xnnpack"]
    assert dynamic.calibration_batches is None


def test_splitting_a_tensor_by_the_example_batch_size(tmp_path):
    from etworkbench.lowering._calibration import load_calibration

    example = (torch.randn(2, 3, 8, 8),)
    path = tmp_path / "six.pt"
    torch.save(torch.randn(6, 3, 8, 8), path)
    assert [tuple(b[0].shape) for b in load_calibration(path, example).batches] == [
        (2, 3, 8, 8)
    ] * 3
    pairs = [(torch.randn(2, 4), torch.ones(2, dtype=torch.long)) for _ in range(5)]
    both = (torch.randn(2, 4), torch.zeros(2, dtype=torch.long))
    assert len(load_calibration(pairs, both).batches) == 5


def _bad_files(tmp_path, example):
    def saved(name, value):
        torch.save(value, tmp_path / name)
        return tmp_path / name

    (tmp_path / "random.pt").write_bytes(b"\x13\x37not a torch file" * 10)
    (tmp_path / "empty.pt").write_bytes(b"")
    (tmp_path / "adir").mkdir()
    return {
        "missing.pt": (tmp_path / "missing.pt", "does not exist"),
        "a directory": (tmp_path / "adir", "is a directory"),
        "random bytes": (tmp_path / "random.pt", "not a tensor file torch.load can read"),
        "empty file": (tmp_path / "empty.pt", "not a tensor file torch.load can read"),
        "empty list": (saved("nothing.pt", []), "has no batches"),
        "a dict": (saved("dict.pt", {"x": example}), "holds a dict"),
        "wrong shape": (saved("shape.pt", torch.randn(3, 5)), "does not fit the example input"),
        "wrong dtype": (saved("dtype.pt", [example.to(torch.float64)]), "float64"),
        "two tensors per batch": (saved("two.pt", [(example, example)]), "has 2 inputs"),
        "not tensors": (saved("ints.pt", [1, 2]), "is a int, not a tensor"),
    }


def test_bad_calibration_files_are_usage_errors_naming_the_file(example, tmp_path, capsys):
    for case, (path, expected) in _bad_files(tmp_path, example).items():
        with pytest.raises(UsageError, match=expected) as info:
            lower(MODEL, ["xnnpack"], "int8", calibration=path, cache=False)
        assert str(path) in str(info.value), case
        argv = [
            "lower",
            MODEL,
            "--quant",
            "int8",
            "--calibration",
            str(path),
            "--out",
            str(tmp_path),
        ]
        code, out, err = _cli(argv, capsys)
        assert code == 2 and expected in err and str(path) in err, (case, err)
        assert "Traceback" not in err
    assert not list(tmp_path.glob("*.pte"))


def test_calibration_for_a_scheme_that_does_not_calibrate_is_an_error(example, tmp_path):
    path = tmp_path / "calib.pt"
    torch.save(example, path)
    for scheme in (None, "int8-dynamic"):
        with pytest.raises(UsageError, match="no chosen scheme .* calibrates"):
            lower(MODEL, ["xnnpack"], scheme, calibration=path)


def test_workers_use_the_file_the_parent_checked(example, tmp_path):
    from etworkbench.lowering._workers import lower_in_workers

    path = tmp_path / "calib.pt"
    torch.save(torch.randn(4, *example.shape), path)
    report = lower_in_workers(MODEL, ["xnnpack"], "int8", jobs=1, calibration=path, cache=False)
    result = report["xnnpack"]
    assert result.ok, result.summary_line()
    assert (result.calibration_batches, result.calibration_source) == (4, str(path))
