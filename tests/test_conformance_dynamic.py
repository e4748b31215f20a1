"""`etwb conformance --dynamic-batch`: the batch dim dynamic 1..4, plain API against workbench.

Two tiny cases built through the Case mechanism (no torchvision): a conv net (one image input)
and an embedding + linear net (input_ids and attention_mask, sharing the batch). Their records
are checked against an independent lowering made here with executorch's own classes.
"""

from __future__ import annotations

import json

import pytest
import torch

from etworkbench.cli import main
from etworkbench.conformance import _run
from etworkbench.conformance._cases import Case, Collection
from etworkbench.conformance._dynamic_batch import (
    SIZES,
    BatchRun,
    DynamicBatchRecord,
    DynamicSide,
    batch_inputs,
    draw_at,
    judge_dynamic,
)


class TinyConv(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 8, 3, padding=1)
        self.fc = torch.nn.Linear(8, 4)

    def forward(self, x):
        return self.fc(torch.relu(self.conv(x)).mean(dim=(2, 3)))


class TinyEmbedding(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = torch.nn.Embedding(50, 16)
        self.fc = torch.nn.Linear(16, 5)

    def forward(self, input_ids, attention_mask):
        hidden = self.embed(input_ids) * attention_mask.unsqueeze(-1).to(torch.float32)
        return self.fc(torch.tanh(hidden)).sum(dim=1)


def _ids():
    return torch.randint(0, 50, (1, 8)), torch.ones(1, 8, dtype=torch.int64)


CASES = [
    Case("models", "tiny/conv", lambda: (TinyConv(), (torch.randn(1, 3, 16, 16),), {})),
    Case("models", "tiny/embedding", lambda: (TinyEmbedding(), _ids(), {})),
    Case("models", "tiny/list_input", lambda: (TinyConv(), ([torch.randn(3, 16, 16)],), {})),
]


def _independent(case: Case) -> tuple[int, int, float, tuple]:
    """Counts and the batch-2 error of the same program, lowered here step by step."""
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.devtools.backend_debug import get_delegation_info
    from executorch.exir import to_edge_transform_and_lower
    from executorch.runtime import Runtime

    module, args, _ = case.build()
    batch = torch.export.Dim("batch", min=1, max=4)
    wide = tuple(torch.cat([a, a]) for a in args)  # batch 1 is specialized: export at 2
    program = torch.export.export(module, wide, dynamic_shapes=tuple({0: batch} for _ in args))
    edge = to_edge_transform_and_lower(program, partitioner=[XnnpackPartitioner()])
    info = get_delegation_info(edge.exported_program().graph_module)
    buffer = edge.to_executorch().buffer
    program = Runtime.get().load_program(buffer)  # both held while the method runs
    method = program.load_method("forward")
    inputs, _ = draw_at(args, {}, list(range(len(args))), 2)
    (output,) = method.execute(list(inputs))
    with torch.no_grad():
        expected = case.build()[0](*inputs)
    error = float((output.double() - expected.double()).abs().max())
    return info.num_delegated_nodes, info.num_non_delegated_nodes, error, tuple(output.shape)


@pytest.mark.slow
def test_dynamic_batch_records_match_an_independent_lowering(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("ETWB_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(_run, "collect", lambda suite: Collection(suite, list(CASES)))
    out = tmp_path / "dyn"
    code = main(["conformance", "--suite", "models", "--dynamic-batch", "--out", str(out)])
    assert code == 0, capsys.readouterr()
    records = {r["case"]: r for r in (json.loads(p.read_text()) for p in (out / "cases").iterdir())}
    assert sorted(records) == ["tiny/conv", "tiny/embedding", "tiny/list_input"]
    assert records["tiny/list_input"]["outcome"] == "not_applicable"  # a list has no batch dim
    assert records["tiny/embedding"]["batch_inputs"] == ["0", "1"]  # ids and mask share it
    for name in ("tiny/conv", "tiny/embedding"):
        record = records[name]
        assert record["outcome"] == "agree", record["differences"]
        delegated, non_delegated, error, shape = _independent(
            next(c for c in CASES if c.name == name)
        )
        assert shape[0] == 2
        for side in (record["plain"], record["workbench"]):
            assert side["status"] == "ok"
            assert (side["delegated"], side["non_delegated"]) == (delegated, non_delegated)
            assert [r["batch"] for r in side["runs"]] == list(SIZES)
            assert all(r["ran"] and r["max_abs_error"] < 1e-5 for r in side["runs"])
        assert record["plain"]["runs"][1]["max_abs_error"] == pytest.approx(error, abs=1e-7)
    summary = json.loads((out / "summary.json").read_text())
    assert (summary["agree"], summary["applicable"], summary["not_applicable"]) == (2, 2, 1)
    assert summary["run"]["backends"] == ["xnnpack"] and summary["run"]["batch_range"] == [1, 4]
    assert summary["sides"]["plain"]["runs at 4"] == summary["sides"]["workbench"]["runs at 4"] == 2
    table = (out / "conformance.md").read_text()
    assert table.startswith("## Dynamic batch (1..4), xnnpack")
    conv = records["tiny/conv"]["plain"]
    assert f"| tiny/conv | yes / yes | yes ({conv['delegated']}/{conv['non_delegated']}) |" in table
    assert "| yyy / yyy |" in table


def test_batch_inputs_are_read_off_the_inputs():
    image, matrix, ids = torch.zeros(1, 3, 8, 8), torch.zeros(3, 3), torch.zeros(1, 8)
    assert batch_inputs((image, matrix), {"ids": ids}) == [0, "ids"]
    assert batch_inputs(([image],), {}) == []
    assert batch_inputs((torch.zeros(5),), {}) == []


def _side(*errors, status="ok", stage=None, counts=(3, 3)) -> DynamicSide:
    runs = [BatchRun(b, e is not None, e) for b, e in zip(SIZES, errors, strict=False)]
    return DynamicSide(status, stage, None, *counts, runs=runs)


@pytest.mark.parametrize(
    ("plain", "work", "outcome"),
    [
        (_side(1e-3, 1e-3, 1e-3), _side(1e-3, 1.005e-3, 1e-3), "agree"),  # within 1e-5
        (_side(5e-5, 5e-5, 5e-5), _side(9e-5, 9e-5, 9e-5), "agree"),  # both <= 1e-4
        (_side(1e-3, 1e-3, 1e-3), _side(1e-3, 2e-3, 1e-3), "mismatch"),
        (_side(0.0, 0.0, 0.0), _side(0.0, 0.0, None), "mismatch"),  # ran vs not run
        (_side(0.0, 0.0, 0.0), _side(0.0, 0.0, 0.0, counts=(2, 4)), "mismatch"),
        (_side(status="failed", stage="export"), _side(status="failed", stage="export"), "agree"),
        (_side(status="failed", stage="export"), _side(0.0, 0.0, 0.0), "mismatch"),
    ],
)
def test_judge(plain, work, outcome):
    record = DynamicBatchRecord("models", "m", "xnnpack", "", plain=plain, workbench=work)
    assert judge_dynamic(record).outcome == outcome, record.differences


def test_quantized_targets_are_refused(capsys):
    argv = ["conformance", "--suite", "models", "--dynamic-batch", "--backends", "xnnpack:int8"]
    assert main([*argv, "--out", "/tmp/unused"]) == 2
    assert "--dynamic-batch compares float programs" in capsys.readouterr().err
