"""The memory plan (planned activation arenas) equals what executorch's own program states."""

from __future__ import annotations

import pytest
import torch

from etworkbench import inspect_pte, lower


class _Net(torch.nn.Module):
    """Delegated convs around a CPU cumsum: activations planned on both sides of a delegate."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 8, 3, padding=1)
        self.fc = torch.nn.Linear(8, 16)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.relu(self.conv(x)).mean(dim=(2, 3))
        return torch.cumsum(self.fc(y), dim=1)


def _plain_arenas(module, inputs, partitioners) -> list[int]:
    from executorch.exir import to_edge_transform_and_lower

    edge = to_edge_transform_and_lower(
        torch.export.export(module, inputs), partitioner=partitioners
    )
    plan = edge.to_executorch().executorch_program.execution_plan[0]
    return list(plan.non_const_buffer_sizes)


@pytest.mark.parametrize("backend", ["xnnpack", "portable"])
def test_memory_plan_equals_executorchs(backend, tmp_path):
    torch.manual_seed(0)
    module, inputs = _Net().eval(), (torch.randn(1, 3, 16, 16),)
    partitioners = []
    if backend == "xnnpack":
        from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner

        partitioners = [XnnpackPartitioner()]
    expected = _plain_arenas(module, inputs, partitioners)
    assert len(expected) >= 2 and expected[0] == 0 and sum(expected) > 0

    result = lower(module, [backend], example_inputs=inputs, cache=False)[backend]
    assert list(result.sizes.planned_arena_bytes) == expected
    assert result.sizes.activation_bytes == sum(expected)
    assert result.to_dict()["sizes"]["activation_bytes"] == sum(expected)
    (method,) = inspect_pte(result.buffer, isolate=False).methods
    assert method.planned_arena_bytes == expected
    assert (
        "memory plan (activations): id 1: " in inspect_pte(result.buffer, isolate=False).summary()
    )


def test_delegating_more_plans_less_memory_outside():
    """XNNPACK keeps the conv's activations inside its delegate: the CPU arena shrinks."""
    torch.manual_seed(0)
    module, inputs = _Net().eval(), (torch.randn(1, 3, 16, 16),)
    report = lower(module, ["portable", "xnnpack"], example_inputs=inputs, cache=False)
    portable, xnnpack = report["portable"].sizes, report["xnnpack"].sizes
    assert 0 < xnnpack.activation_bytes < portable.activation_bytes


def test_a_cache_hit_keeps_the_memory_plan(tmp_path, monkeypatch):
    monkeypatch.setenv("ETWB_CACHE_DIR", str(tmp_path / "cache"))
    torch.manual_seed(0)
    module, inputs = _Net().eval(), (torch.randn(1, 3, 16, 16),)
    first = lower(module, ["xnnpack"], example_inputs=inputs)["xnnpack"]
    again = lower(module, ["xnnpack"], example_inputs=inputs)["xnnpack"]
    assert again.cached and not first.cached
    assert again.sizes.planned_arena_bytes == first.sizes.planned_arena_bytes != ()
