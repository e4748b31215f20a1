"""The memory plan over time (each planned tensor's bytes and lifetime) read from a .pte agrees
with executorch's own planner on the same program, and keeps the planner's promises."""

from __future__ import annotations

import dataclasses
import json
import operator
import random

import pytest
import torch

import etworkbench
from etworkbench import MemoryPlan, PteFormatError, UsageError, load_model, memory_plan
from etworkbench._io import byte_unit
from etworkbench.analysis.memory_plan import KINDS, TensorLifetime
from etworkbench.cli import main
from etworkbench.views.memory_plan import memory_plan_figure


class _ViewsNet(torch.nn.Module):
    """A multi-output CPU kernel (max_pool2d_with_indices), an elided view (flatten), x * x."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 3, padding=1)
        self.fc = torch.nn.Linear(4 * 4 * 4, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.nn.functional.max_pool2d(torch.relu(self.conv(x)), 2)
        z = torch.flatten(y, 1)
        return self.fc(z * z)


def _module(name: str):
    if name == "views_net":
        torch.manual_seed(0)
        return _ViewsNet().eval(), (torch.randn(1, 3, 8, 8),)
    spec = load_model(name)
    return spec.module.eval(), tuple(spec.example_inputs)


CASES = [
    ("teaching_net", "portable"),
    ("teaching_net", "xnnpack"),
    ("views_net", "portable"),
    ("views_net", "xnnpack"),
]


@pytest.fixture(scope="module", params=CASES, ids=["-".join(c) for c in CASES])
def plain(request):
    """The program from executorch's own API, and our plan read from its bytes."""
    from executorch.exir import to_edge_transform_and_lower

    name, backend = request.param
    partitioners = []
    if backend == "xnnpack":
        from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner

        partitioners = [XnnpackPartitioner()]
    module, inputs = _module(name)
    edge = to_edge_transform_and_lower(
        torch.export.export(module, inputs), partitioner=partitioners
    )
    program = edge.to_executorch()
    return request.param, program, memory_plan(program.buffer, isolate=False)


def _executorch_view(program):
    """Executorch's planned tensors, their lifetimes mapped from graph nodes to the instructions
    the emitter makes of them, and its live bytes at each instruction's node: the
    activation memory profiler's timeline (`create_tensor_allocation_info`)."""
    from executorch.exir import memory
    from executorch.exir.memory_planning import get_node_tensor_specs
    from executorch.exir.tensor import num_bytes_from_shape_and_dtype
    from executorch.util.activation_memory_profiler import create_tensor_allocation_info

    graph = program.exported_program().graph
    nodes = list(graph.nodes)

    def emits(node) -> bool:  # getitem and alloc emit nothing; a static planned view neither
        if node.op != "call_function" or node.target in (operator.getitem, memory.alloc):
            return False
        spec = node.meta.get("spec")
        return not (node.target == memory.view and spec.is_static_shape_tensor)

    at = [k for k, node in enumerate(nodes) if emits(node)]  # instruction -> node index
    specs = {}
    for node in nodes:
        if node.op == "output" or node.target in (memory.alloc, memory.view):
            continue
        for spec in get_node_tensor_specs(node) or ():
            if spec is not None and spec.mem_id is not None and not spec.const:
                specs[id(spec)] = spec
    tensors = []
    for spec in specs.values():
        start, end = spec.lifetime
        first = min(i for i, k in enumerate(at) if k >= start)
        last = max(i for i, k in enumerate(at) if k <= end)
        nbytes = num_bytes_from_shape_and_dtype(spec.shape, spec.dtype)
        tensors.append((spec.mem_id, spec.mem_offset, nbytes, first, last))
    timeline = create_tensor_allocation_info(graph)
    live = [sum(a.size_bytes for a in (timeline[k].allocations if timeline[k] else ())) for k in at]
    views = sum(1 for n in nodes if n.target == memory.view)
    return sorted(tensors), live, views, len(at)


def _ours(plan: MemoryPlan):
    return sorted(
        (t.mem_id, t.offset, t.nbytes, t.first, t.last) for t in plan.tensors if t.alias_of is None
    )


def test_lifetimes_and_live_bytes_equal_executorchs(plain):
    (name, backend), program, plan = plain
    tensors, live, views, instructions = _executorch_view(program)
    assert len(plan.instructions) == instructions
    assert _ours(plan) == tensors
    assert list(plan.peak_bytes_by_instruction) == live
    assert plan.peak_bytes == max(live) > 0
    assert sum(t.alias_of is not None for t in plan.tensors) == views
    if backend == "portable":  # no delegate: every intermediate is planned
        assert len(plan.tensors) >= 6 and all(t.kind != "delegate" for t in plan.tensors)
    else:
        assert any(t.kind == "delegate" for t in plan.tensors)
        assert sum(op == "XnnpackBackend" for op in plan.instructions) >= 1
    arenas = list(program.executorch_program.execution_plan[0].non_const_buffer_sizes)
    assert list(plan.arenas) == arenas


def test_the_planners_promises_hold(plain):
    _, _, plan = plain
    for t in plan.tensors:
        assert 0 < t.mem_id < len(plan.arenas) and t.end <= plan.arenas[t.mem_id]
        assert 0 <= t.first <= t.last < len(plan.instructions)
    for mem_id, size in enumerate(plan.arenas):
        ends = [t.end for t in plan.tensors if t.mem_id == mem_id]
        assert size >= max(ends, default=0)
    assert plan.peak_bytes <= plan.arena_bytes
    assert plan.conflicts() == []


def test_conflicts_finds_tensors_that_share_live_bytes(plain):
    """The check above can fail: move one tensor onto another live at the same time."""
    _, _, plan = plain
    a, b = next(
        (a, b)
        for a in plan.tensors
        for b in plan.tensors
        if a.value_index < b.value_index
        and a.alias_of is None
        and b.alias_of is None
        and a.nbytes
        and b.nbytes
        and a.first <= b.last
        and b.first <= a.last
    )
    moved = dataclasses.replace(b, mem_id=a.mem_id, offset=a.offset)
    broken = dataclasses.replace(plan, tensors=[moved if t is b else t for t in plan.tensors])
    assert (a, moved) in broken.conflicts() or (moved, a) in broken.conflicts()


def test_a_view_is_an_alias_its_base_outlives(plain):
    (name, backend), _, plan = plain
    by_index = {t.value_index: t for t in plan.tensors}
    views = [t for t in plan.tensors if t.alias_of is not None]
    if (name, backend) == ("views_net", "portable"):
        assert views  # the flatten
    for view in views:
        base = by_index[view.alias_of]
        assert view.kind == "view" and base.alias_of is None
        assert base.first < view.first and base.last >= view.last
        assert base.mem_id == view.mem_id and base.offset <= view.offset and view.end <= base.end


def test_a_lowering_result_path_and_bytes_give_the_same_plan(teaching_xnnpack, tmp_path):
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.exir import to_edge_transform_and_lower

    result = teaching_xnnpack["xnnpack"]
    ours = memory_plan(result)
    assert etworkbench.memory_plan is memory_plan and "memory_plan" in etworkbench.__all__
    assert memory_plan(result.pte_path) == ours == memory_plan(result.buffer, "forward")
    module, inputs = _module("teaching_net")
    program = to_edge_transform_and_lower(
        torch.export.export(module, inputs), partitioner=[XnnpackPartitioner()]
    ).to_executorch()
    assert _ours(ours) == _ours(memory_plan(program.buffer, isolate=False))
    assert sum(ours.arenas) == result.sizes.activation_bytes
    with pytest.raises(UsageError, match="no method 'nope'"):
        memory_plan(result, "nope")
    with pytest.raises(UsageError, match="not int"):
        memory_plan(3)


def test_corrupt_and_truncated_programs_raise_pte_format_error(teaching_xnnpack):
    data = teaching_xnnpack["xnnpack"].buffer
    with pytest.raises(PteFormatError, match="truncated"):
        memory_plan(data[: len(data) // 3])
    with pytest.raises(PteFormatError, match="not an ExecuTorch program"):
        memory_plan(b"\x00" * 64)
    rng = random.Random(0)
    for _ in range(20):  # flipped bytes inside the flatbuffer: a plan or the error, never a crash
        broken = bytearray(data)
        for _ in range(8):
            broken[rng.randrange(64, len(data))] = rng.randrange(256)
        try:
            plan = memory_plan(bytes(broken))
        except PteFormatError:
            continue
        assert isinstance(plan, MemoryPlan)


def test_cli_inspect_memory_text_and_json(teaching_xnnpack, capsys):
    path = teaching_xnnpack["xnnpack"].pte_path
    plan = memory_plan(path)
    assert main(["inspect", path, "--memory"]) == 0
    text = capsys.readouterr().out
    assert f"{len(plan.tensors)} planned tensors over {len(plan.instructions)} instructions" in text
    assert f"peak live: {plan.peak_bytes:,} bytes" in text
    top = plan.largest(1)[0]
    assert f"v{top.value_index}: {top.nbytes:,} bytes" in text
    assert main(["inspect", path, "--memory", "--json"]) == 0
    (data,) = json.loads(capsys.readouterr().out)["memory_plans"]
    assert len(data["tensors"]) == len(plan.tensors) and data["peak_bytes"] == plan.peak_bytes
    assert main(["inspect", path, "--json"]) == 0
    assert "memory_plans" not in json.loads(capsys.readouterr().out)


def test_figure_side_by_side_per_backend(teaching_xnnpack):
    plan = memory_plan(teaching_xnnpack["xnnpack"])
    fig = memory_plan_figure({"left": plan, "right": plan})
    titles = [a.text for a in fig.layout.annotations]
    assert titles[:2] == ["left", "right"]
    hovers = [t for t in fig.data if t.mode == "markers" and t.text and "live at" in t.text[0]]
    assert sum(len(t.x) for t in hovers) == 2 * len(plan.tensors)
    lines = [t for t in fig.data if t.name == "live bytes"]
    scale, unit = byte_unit(plan.arena_bytes)
    live = [pytest.approx([b / scale for b in plan.peak_bytes_by_instruction])] * 2
    assert [list(t.y) for t in lines] == live
    assert fig.layout.yaxis.title.text == f"arena offset ({unit})" == "arena offset (KB)"
    one = memory_plan_figure(teaching_xnnpack)
    assert one.layout.annotations[0].text == "xnnpack (fp32)"
    assert "0 xnnpack" in one.layout.xaxis2.ticktext  # the delegate call, by backend


def test_a_big_plan_draws_with_a_bounded_number_of_traces():
    rng = random.Random(1)
    n, tensors = 3000, []
    for v in range(5000):
        first = rng.randrange(n)
        tensors.append(
            TensorLifetime(
                v, 1, rng.randrange(1 << 20), rng.randrange(1, 4096), first,
                min(n - 1, first + rng.randrange(20)), "aten::add.out",
                rng.choice(KINDS[1:4]), (1, 8), "float32",
            )
        )  # fmt: skip
    plan = MemoryPlan("forward", (0, 1 << 21), ("aten::add.out",) * n, tensors, (0,) * n)
    fig = memory_plan_figure(plan, colour="mem_id")
    assert len(fig.data) <= 2 * len(KINDS) + 3
    fig = memory_plan_figure(plan)
    assert len(fig.data) <= 2 * len(KINDS) + 3
    assert sum(len(t.x) for t in fig.data if t.mode == "markers") == len(tensors)


def test_sizes_panel_draws_the_memory_plan_when_shown(teaching_xnnpack):
    pytest.importorskip("ipywidgets")
    from etworkbench.ui._sizes_panel import SizesPanel

    panel = SizesPanel()
    assert panel.memory_figure is None  # nothing built before a lowering is shown
    panel.show(teaching_xnnpack)
    assert panel.memory_figure in panel.children
    drawn = len(panel.memory_figure.data)
    assert drawn and "memory plan over time" in panel.memory_note.value
    panel.colour.value = "mem_id"
    assert 0 < len(panel.memory_figure.data) <= drawn
