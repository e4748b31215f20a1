"""`inspect_pte` / `etwb inspect`: a report from the file alone that agrees with the lowering."""

from __future__ import annotations

import json
import struct
from collections import Counter
from pathlib import Path

import pytest

from etworkbench import PteFormatError, UsageError, inspect_pte
from etworkbench.cli import main


@pytest.fixture(scope="session")
def teaching_pte(teaching_xnnpack) -> Path:
    return Path(teaching_xnnpack["xnnpack"].pte_path)


def _base(op: str) -> str:
    """`aten::mean.out` and `aten.mean.dim` both become `aten.mean`."""
    return op.replace("::", ".").rsplit(".", 1)[0]


def test_report_agrees_with_the_lowering(teaching_xnnpack, teaching_pte):
    result = teaching_xnnpack["xnnpack"]
    report = inspect_pte(teaching_pte)
    assert report.total_bytes == teaching_pte.stat().st_size == result.sizes.pte_bytes
    (method,) = report.methods
    assert method.name == "forward"
    # One delegate per lowered module, each called once, all XNNPACK.
    assert len(method.delegates) == result.placement.num_delegated_subgraphs == 2
    assert method.delegate_calls == len(method.delegates)
    assert {d.backend_id for d in method.delegates} == {"XnnpackBackend"}
    payloads = sorted(d.payload_bytes for d in method.delegates)
    assert payloads == sorted(d.payload_bytes for d in result.placement.delegates)
    # The CPU kernels in the file are the lowering's non-structural fallback nodes.
    fallback = Counter(_base(n.target) for n in result.placement.fallbacks() if not n.structural)
    assert Counter({_base(op): n for op, n in method.operators.items()}) == fallback
    assert method.operators == {"aten::mean.out": 1, "aten::cumsum.out": 1}
    assert report.named_data_bytes == sum(d.data_bytes for d in result.placement.delegates)
    assert report.program_bytes + report.segment_bytes <= report.total_bytes


@pytest.mark.parametrize("model", ["tiny_convnet", "transformer_block", "small_gru"])
def test_delegate_and_cpu_counts_agree_for_more_models(model):
    from etworkbench import lower

    result = lower(model, ["xnnpack"])["xnnpack"]
    report = inspect_pte(result.buffer)
    assert len(report.delegates) == result.placement.num_delegated_subgraphs
    fallback = Counter(_base(n.target) for n in result.placement.fallbacks() if not n.structural)
    kernels = Counter({_base(op): n for op, n in report.cpu_operators().items() if n})
    assert kernels == fallback


def test_bytes_and_path_give_the_same_report(teaching_pte):
    from_path = inspect_pte(teaching_pte).to_dict()
    from_bytes = inspect_pte(teaching_pte.read_bytes(), isolate=False).to_dict()
    assert from_bytes.pop("path") == "<bytes>"
    from_path.pop("path")
    assert from_bytes == from_path


def test_report_of_a_program_without_delegates():
    import torch
    from executorch.exir import to_edge_transform_and_lower

    from etworkbench import load_model

    spec = load_model("tiny_convnet")
    program = torch.export.export(spec.module, spec.example_inputs)
    buffer = to_edge_transform_and_lower(program).to_executorch().buffer
    report = inspect_pte(buffer)
    assert report.delegates == [] and report.total_bytes == len(buffer)
    assert report.constant_bytes >= spec.parameter_bytes  # the weights stay in the program
    assert report.cpu_operators()["aten::convolution.out"] == 2


def test_a_program_with_only_an_empty_segment_and_no_extended_header():
    """executorch writes one empty constant segment and no extended header for a program with
    no weights (found by the conformance corpus: add with alpha on XNNPACK, nothing delegated)."""
    import torch
    from executorch.exir import to_edge_transform_and_lower

    class AddAlpha(torch.nn.Module):
        def forward(self, x, y):
            return torch.add(x, y, alpha=2)

    inputs = (torch.randn(2, 3), torch.randn(2, 3))
    buffer = to_edge_transform_and_lower(torch.export.export(AddAlpha(), inputs)).to_executorch()
    report = inspect_pte(buffer.buffer, isolate=False)
    assert report.delegates == [] and report.cpu_operators()["aten::add.out"] == 1


def test_cli_inspect_json_and_text(teaching_pte, capsys):
    assert main(["inspect", str(teaching_pte), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["total_bytes"] == teaching_pte.stat().st_size
    assert data["methods"][0]["cpu_kernel_calls"] == 2
    assert data["delegate_payload_bytes"] == sum(
        d["payload_bytes"] for d in data["methods"][0]["delegates"]
    )
    assert main(["inspect", str(teaching_pte)]) == 0
    text = capsys.readouterr().out
    assert "delegate 0: XnnpackBackend" in text and "aten::cumsum.out" in text


def _with_header(data: bytes, **fields: int) -> bytes:
    """`data` with extended-header fields (program_size, segment_base) replaced."""
    offsets = {"program_size": 16, "segment_base": 24, "segment_data": 32}
    out = bytearray(data)
    for name, value in fields.items():
        struct.pack_into("<Q", out, offsets[name], value)
    return bytes(out)


@pytest.mark.parametrize(
    ("make", "needle"),
    [
        (lambda d: b"", "empty file (0 bytes)"),
        (lambda d: d[:5], "truncated: 5 bytes is shorter than the 8-byte flatbuffer header"),
        (lambda d: d[:1000], "truncated: header says program is 2160 bytes but file has 1000"),
        (lambda d: d[:3000], "truncated: header says segment data ends at byte"),
        (lambda d: b"\x00" * 4 + b"JUNK" + d[8:], "not an ExecuTorch program: magic is b'JUNK'"),
        (lambda d: b"PK\x03\x04" + b"\x00" * 60, "looks like a zip archive"),
        (lambda d: d[:4] + b"ET10" + d[8:], "format ET10 is not the one this executorch reads"),
        (lambda d: _with_header(d, segment_base=100), "segments start at byte 100, inside"),
        (lambda d: _with_header(d, program_size=10), "program size 10 is smaller than"),
        (lambda d: struct.pack("<I", 1 << 30) + d[4:], "root table offset 1073741824 is outside"),
    ],
)
def test_bad_files_name_the_problem(teaching_pte, tmp_path, capsys, make, needle):
    bad = tmp_path / "bad.pte"
    bad.write_bytes(make(teaching_pte.read_bytes()))
    with pytest.raises(PteFormatError) as info:
        inspect_pte(bad)
    assert needle in str(info.value) and str(bad) in str(info.value)
    assert main(["inspect", str(bad)]) == 1
    err = capsys.readouterr().err
    assert needle in err and "Traceback" not in err


def test_segment_offset_past_the_end_is_caught(teaching_pte):
    """Grow a segment's size in the segment table itself, not in the header."""
    data = bytearray(teaching_pte.read_bytes())
    from executorch.exir._serialize._flatbuffer_program import _patch_generated_flatbuffer_aliases
    from executorch.exir._serialize.generated.executorch_flatbuffer.Program import Program

    _patch_generated_flatbuffer_aliases()
    lazy = Program.GetRootAs(bytes(data), 0)
    index = max(range(lazy.SegmentsLength()), key=lambda i: lazy.Segments(i).Size())
    segment = lazy.Segments(index)
    size_field = segment._tab.Pos + segment._tab.Offset(6)  # DataSegment.size (uint64)
    assert struct.unpack_from("<Q", data, size_field)[0] == segment.Size() > 0
    struct.pack_into("<Q", data, size_field, 1 << 40)
    with pytest.raises(
        PteFormatError, match=f"segment {index} spans bytes .* but the file has 5264"
    ):
        inspect_pte(bytes(data))


def test_missing_file_and_directory_are_usage_errors(tmp_path, capsys):
    with pytest.raises(UsageError, match="does not exist"):
        inspect_pte(tmp_path / "nope.pte")
    assert main(["inspect", str(tmp_path)]) == 2
    assert "is a directory" in capsys.readouterr().err


def test_worker_timeout_and_recovery(teaching_pte, monkeypatch):
    """A parse that hangs is killed at the deadline; the next file gets a fresh worker."""
    from etworkbench.analysis import pte_file

    data = teaching_pte.read_bytes()
    real = pte_file._parse

    def hang(*args):
        import time

        time.sleep(60)

    pte_file._WORKER.stop()  # the next parse forks a child that sees the patched _parse
    monkeypatch.setattr(pte_file, "_parse", hang)
    with pytest.raises(PteFormatError, match="did not finish within 1 s"):
        inspect_pte(data, timeout=1)
    monkeypatch.setattr(pte_file, "_parse", real)
    assert inspect_pte(data).total_bytes == len(data)


def test_worker_memory_limit(teaching_pte, monkeypatch):
    from etworkbench.analysis import pte_file

    def greedy(*args):
        return bytearray(1 << 31)  # 2 GiB, over the 64 MiB budget below

    pte_file._WORKER.stop()
    monkeypatch.setattr(pte_file, "_parse", greedy)
    with pytest.raises(PteFormatError, match="needed more than 64 MB"):
        inspect_pte(teaching_pte.read_bytes(), memory_limit=64 << 20)
    pte_file._WORKER.stop()


def test_worker_killed_between_files_is_replaced(teaching_pte):
    import os
    import signal
    import time

    from etworkbench.analysis import pte_file

    data = teaching_pte.read_bytes()
    inspect_pte(data)
    os.kill(pte_file._WORKER._pid, signal.SIGKILL)
    time.sleep(0.2)
    assert inspect_pte(data).total_bytes == len(data)  # not blamed on the file


def test_reader_crash_is_a_format_error(teaching_pte, monkeypatch):
    import os
    import signal

    from etworkbench.analysis import pte_file

    pte_file._WORKER.stop()
    monkeypatch.setattr(pte_file, "_parse", lambda *a: os.kill(os.getpid(), signal.SIGKILL))
    with pytest.raises(PteFormatError, match=r"the reader process died \(killed by signal 9\)"):
        inspect_pte(teaching_pte.read_bytes())
    pte_file._WORKER.stop()


def test_a_forked_process_gets_its_own_worker(teaching_pte):
    """After fork the parent's worker is not the child's: the child must not talk to it."""
    import os

    data = teaching_pte.read_bytes()
    inspect_pte(data)  # the parent has a worker now
    pid = os.fork()
    if pid == 0:  # never return into pytest from here
        ok = False
        try:
            ok = inspect_pte(data).total_bytes == len(data)
        except BaseException:
            pass
        os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
    assert inspect_pte(data).total_bytes == len(data)  # and the parent's still works


def test_relative_path_after_chdir(teaching_pte, tmp_path, monkeypatch):
    """The reader process keeps its own cwd, so it must be given the resolved path."""
    inspect_pte(teaching_pte)  # the reader exists, with the current cwd
    (tmp_path / "here.pte").write_bytes(teaching_pte.read_bytes())
    monkeypatch.chdir(tmp_path)
    report = inspect_pte("here.pte")
    assert report.path == "here.pte" and report.total_bytes == teaching_pte.stat().st_size
