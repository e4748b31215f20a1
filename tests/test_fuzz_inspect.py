"""Mutated .pte files: every one ends in `PteFormatError` or a consistent report, never anything else.

`PteFormatError` alone proves little: the reader turns any exception of the deserializer into one
("corrupt flatbuffer: the executorch deserializer raised X"), a bug in the reader included. So
such an error counts as clean only when X is one of the errors a flatbuffer read of corrupt
bytes raises (`DESERIALIZER_ERRORS`) and it was raised outside etworkbench's own code.

The corpus is two real programs made here (teaching_net with two XNNPACK delegates and named data
in segments; tiny_convnet with no delegates and its weights as constants). Mutations use a fixed
seed so a failure names an input that can be rebuilt.
"""

from __future__ import annotations

import json
import random
import re
import struct
import time
import traceback
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from etworkbench import PteFormatError, inspect_pte
from etworkbench.analysis import pte_file
from etworkbench.analysis.pte_file import PteReport

SEED = 20261126
FUZZ_INPUTS = 2500
PER_INPUT_TIMEOUT = 5.0


_CORPUS: list[bytes] = []  # module-level so hypothesis does not print 20 kB per example


@pytest.fixture(scope="module")
def corpus(teaching_xnnpack) -> list[bytes]:
    import torch
    from executorch.exir import to_edge_transform_and_lower

    from etworkbench import load_model

    spec = load_model("tiny_convnet")
    program = torch.export.export(spec.module, spec.example_inputs)
    plain = bytes(to_edge_transform_and_lower(program).to_executorch().buffer)
    _CORPUS[:] = [Path(teaching_xnnpack["xnnpack"].pte_path).read_bytes(), plain]
    return _CORPUS


@pytest.fixture
def corpus_ready(corpus) -> None:
    return None


def _mutate(rng: random.Random, corpus: list[bytes]) -> tuple[str, bytes]:
    data = bytearray(rng.choice(corpus))
    kind = rng.choice(["flip", "flip", "int", "int", "truncate", "splice", "chunk"])
    if kind == "flip":
        for _ in range(rng.randint(1, 8)):
            data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
    elif kind == "int":  # a length or offset field set to something extreme
        pos = rng.randrange(0, len(data) - 8) & ~3
        value = rng.choice([0, 1, 0x7FFFFFFF, 0xFFFFFFFF, len(data), rng.getrandbits(32)])
        struct.pack_into("<I", data, pos, value)
    elif kind == "truncate":
        data = data[: rng.randrange(len(data))]
    elif kind == "splice":
        other = rng.choice(corpus)
        data = data[: rng.randrange(len(data))] + other[rng.randrange(len(other)) :]
    else:  # insert or delete a chunk
        pos = rng.randrange(len(data))
        if rng.random() < 0.5:
            data[pos:pos] = rng.randbytes(rng.randint(1, 64))
        else:
            del data[pos : pos + rng.randint(1, 64)]
    return kind, bytes(data)


# What executorch's deserializer and the flatbuffers runtime raise when an offset or length
# read from corrupt bytes points past the buffer or at garbage: struct.error (unpack_from out of
# range), ValueError (incl. UnicodeDecodeError on a bad string; "buffer is smaller than requested
# size"), IndexError, OverflowError, and flatbuffers' TypeError "bad number N for type uint32".
DESERIALIZER_ERRORS = (struct.error, ValueError, IndexError, OverflowError, TypeError)
_RAISED = re.compile(r"the executorch deserializer raised (\w+)")
_OWN_CODE = str(Path(pte_file.__file__).resolve().parent.parent)  # the etworkbench package


def _escaped(exc: PteFormatError, data: bytes) -> str | None:
    """None when `exc` is a documented failure of `data`; else what escaped the reader.

    Structural messages (header, offsets, segment table, timeout, memory) are the reader's own
    words. A "deserializer raised X" is parsed again in this process (it raised quickly in the
    worker, so it cannot hang here) to see the real exception and where it came from.
    """
    if not _RAISED.search(str(exc)):
        return None
    size = len(data)
    program_size, segment_base = pte_file.check_layout("<bytes>", data[:64], size)
    try:
        pte_file._parse(data, program_size, segment_base)
    except Exception as raised:
        frames = traceback.extract_tb(raised.__traceback__)
        where = f"{frames[-1].filename}:{frames[-1].lineno}" if frames else "?"
        own = bool(frames) and str(Path(frames[-1].filename).resolve()).startswith(_OWN_CODE)
        if isinstance(raised, DESERIALIZER_ERRORS) and not own:
            return None
        kind = "raised in etworkbench's reader" if own else "not a documented reader error"
        return f"{type(raised).__name__} at {where} ({kind}): {raised}"
    return f"the worker reported {exc} but parsing again in-process succeeded"


def _check_report(report: PteReport, data: bytes) -> None:
    """A report that came back must be self-consistent and bounded by the file."""
    assert report.total_bytes == len(data)
    assert report.program_bytes <= len(data)
    assert report.segment_bytes <= len(data)
    # Two delegates may share one payload, so only each payload is bounded by the file.
    assert all(d.payload_bytes <= len(data) for d in report.delegates)
    assert report.named_data_bytes <= len(data) and report.constant_bytes <= len(data)
    for method in report.methods:
        assert all(count >= 0 for count in method.operators.values())
        assert method.cpu_kernel_calls + method.delegate_calls <= method.instructions
    json.dumps(report.to_dict())
    assert report.summary()


def test_fuzz_mutated_pte_files(corpus, record_property, capsys):
    for original in corpus:  # the unmutated files are read correctly
        _check_report(inspect_pte(original), original)
    rng = random.Random(SEED)
    outcomes: Counter = Counter()
    start = time.perf_counter()
    for index in range(FUZZ_INPUTS):
        kind, data = _mutate(rng, corpus)
        try:
            report = inspect_pte(data, timeout=PER_INPUT_TIMEOUT)
        except PteFormatError as exc:
            assert str(exc).startswith("<bytes>: "), str(exc)
            escaped = _escaped(exc, data)
            if escaped is not None:
                pytest.fail(f"input {index} ({kind}, seed {SEED}): {escaped}")
            outcomes["timeout" if "did not finish" in str(exc) else "PteFormatError"] += 1
            continue
        except Exception as exc:  # the point of the test: report which input escaped
            pytest.fail(f"input {index} ({kind}, seed {SEED}) raised {type(exc).__name__}: {exc}")
        _check_report(report, data)
        outcomes["report"] += 1
    seconds = time.perf_counter() - start
    summary = f"fuzz: {FUZZ_INPUTS} inputs in {seconds:.1f} s: " + ", ".join(
        f"{n} {k}" for k, n in sorted(outcomes.items())
    )
    record_property("fuzz_inputs", FUZZ_INPUTS)
    record_property("fuzz_summary", summary)
    with capsys.disabled():
        print(f"\n{summary}")
    assert sum(outcomes.values()) == FUZZ_INPUTS
    assert outcomes["PteFormatError"] > FUZZ_INPUTS // 4  # the mutations do break files
    assert seconds < 90


@settings(
    max_examples=150,
    deadline=None,
    database=None,  # nothing written into the work tree
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    choice=st.integers(0, 1),
    edits=st.lists(st.tuples(st.integers(0, 1 << 20), st.integers(0, 255)), max_size=12),
    cut=st.one_of(st.none(), st.integers(0, 1 << 20)),
)
def test_property_edited_files_fail_cleanly_or_report(corpus_ready, choice, edits, cut):
    data = bytearray(_CORPUS[choice])
    for position, value in edits:
        data[position % len(data)] = value
    if cut is not None:
        data = data[: cut % (len(data) + 1)]
    data = bytes(data)
    try:
        report = inspect_pte(data, timeout=PER_INPUT_TIMEOUT)
    except PteFormatError as exc:
        escaped = _escaped(exc, data)
        assert escaped is None, escaped
        return
    _check_report(report, data)


@settings(max_examples=100, deadline=None, database=None)
@given(st.binary(max_size=256))
def test_property_arbitrary_bytes(data):
    try:
        inspect_pte(data, timeout=PER_INPUT_TIMEOUT)
    except PteFormatError as exc:
        assert "<bytes>" in str(exc)
        escaped = _escaped(exc, data)
        assert escaped is None, escaped


def test_escaped_tells_a_reader_bug_from_corrupt_data(corpus, monkeypatch):
    """The guard itself: a deserializer-style error passes, anything else is reported."""
    data = corpus[1]
    wrapped = PteFormatError("<bytes>: corrupt flatbuffer: the executorch deserializer raised X")

    def corrupt(*_args):
        raise struct.error("unpack_from requires a buffer of at least 9 bytes")

    def buggy(*_args):
        return None.Location()  # what a missing optional table does to careless reader code

    monkeypatch.setattr(pte_file, "_parse", corrupt)
    assert _escaped(wrapped, data) is None
    monkeypatch.setattr(pte_file, "_parse", buggy)
    assert "AttributeError" in (_escaped(wrapped, data) or "")
    structural = PteFormatError("<bytes>: bad flatbuffer: segment table claims 9 entries")
    assert _escaped(structural, data) is None
