"""Lowerings in threads at once give exactly what they give one after the other.

The workbench patches library code while it lowers (stage timing, reason capture, shared
provenance, stdout routing; all in `etworkbench._compat.patches`). Those patches act per thread,
so two `lower()` calls running at the same time in two threads must not see each other's hooks:
same per-op counts, same fallback reasons per node, same .pte bytes (XNNPACK and Vulkan are
deterministic) as the same calls made in sequence. Priority groups attribute each reason to the
backend whose partitioner gave it.
"""

from __future__ import annotations

import io
import sys
import threading

import pytest
import torch

from etworkbench import get_backend, lower, preview

DETERMINISTIC = {"xnnpack", "vulkan"}


class _SortNet(torch.nn.Module):
    """linear -> relu, then cumsum and sort: CPU fallbacks with reasons on most backends."""

    def __init__(self) -> None:
        super().__init__()
        self.lin = torch.nn.Linear(8, 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.relu(self.lin(x))
        return torch.cumsum(y, dim=1) + torch.sort(y, dim=1).values


class _ConvNet(torch.nn.Module):
    """conv -> hardswish -> mean, then an argmax (int64) and a topk."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 3, padding=1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        y = torch.nn.functional.hardswish(self.conv(x)).mean(dim=(2, 3))
        return torch.topk(y, 2).values, torch.argmax(y, dim=1)


def _sort_net() -> tuple[torch.nn.Module, tuple]:
    torch.manual_seed(0)
    return _SortNet().eval(), (torch.randn(2, 8),)


def _conv_net() -> tuple[torch.nn.Module, tuple]:
    torch.manual_seed(1)
    return _ConvNet().eval(), (torch.randn(1, 3, 8, 8),)


def _facts(report) -> dict:
    """What must not change: status, per-op counts, reasons per CPU node, deterministic bytes."""
    facts = {}
    for result in report.results:
        entry: dict = {"status": result.status, "error": str(result.error or "")}
        if result.ok:
            nodes = result.placement.nodes
            entry["coverage"] = [
                (c.op, c.delegated, c.fallback, c.structural) for c in result.coverage()
            ]
            entry["placed"] = {n.name: n.backend for n in nodes}
            entry["reasons"] = {n.name: n.reason for n in nodes if not n.delegated}
            if set(result.backends) <= DETERMINISTIC:
                entry["pte"] = result.buffer
        facts[result.backend] = entry
    return facts


def _available(*names: str) -> list[str]:
    return [name for name in names if get_backend(name).availability.available]


def _run(jobs: list) -> list[dict]:
    """Each job `(build, backends, kwargs)` lowered once, every job in its own thread, all
    started together; returns their facts in job order (re-raises a thread's exception)."""
    barrier = threading.Barrier(len(jobs))
    out: list = [None] * len(jobs)

    # Built here, one after the other: each build seeds torch's global RNG, so two builds in
    # two threads at once would interleave and make different weights.
    built = [build() for build, _, _ in jobs]

    def work(index: int, backends, kwargs) -> None:
        module, inputs = built[index]
        try:
            barrier.wait(timeout=120)
            out[index] = _facts(lower(module, backends, example_inputs=inputs, **kwargs))
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            out[index] = exc

    threads = [
        threading.Thread(target=work, args=(i, backends, kwargs))
        for i, (_, backends, kwargs) in enumerate(jobs)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for value in out:
        if isinstance(value, BaseException):
            raise value
    return out


def _one_after_the_other(jobs: list) -> list[dict]:
    facts = []
    for build, backends, kwargs in jobs:
        module, inputs = build()
        facts.append(_facts(lower(module, backends, example_inputs=inputs, **kwargs)))
    return facts


def test_two_lowerings_in_two_threads_match_the_sequential_ones():
    first = _available("xnnpack", "openvino")
    second = _available("vulkan")
    if "xnnpack" not in first or "vulkan" not in second:
        pytest.skip("needs XNNPACK and Vulkan")
    jobs = [
        (_sort_net, first, {"cache": False}),
        (_conv_net, second, {"cache": False}),
    ]
    stdout = sys.stdout
    sequential = _one_after_the_other(jobs)
    concurrent = _run(jobs)
    assert sys.stdout is stdout  # the per-thread stdout routing is gone again
    for alone, together in zip(sequential, concurrent, strict=True):
        assert set(alone) == set(together)
        for backend in alone:
            assert alone[backend] == together[backend], backend
    # the models do fall back, with reasons: the capture was exercised
    assert any(len(facts["reasons"]) > 1 for facts in sequential[0].values() if "reasons" in facts)


def test_a_priority_group_records_each_reason_under_its_backend():
    if _available("tosa", "xnnpack") != ["tosa", "xnnpack"]:
        pytest.skip("needs Arm TOSA and XNNPACK")
    module, inputs = _sort_net()
    report = lower(module, ["tosa", "xnnpack"], example_inputs=inputs, priority=True, cache=False)
    (result,) = report.results
    assert result.ok, report.summary()
    reason = next(n.reason for n in result.placement.nodes if n.name == "aten_sort_default")
    tosa, xnnpack = reason.split(" | ")
    assert tosa.startswith("Arm TOSA: ") and "TOSA" in tosa.removeprefix("Arm TOSA: ")
    assert xnnpack.startswith("XNNPACK: ") and "TOSA" not in xnnpack  # TOSA's, not XNNPACK's

    placed = preview(module, ["tosa", "xnnpack"], example_inputs=inputs, priority=True)
    (shown,) = placed.results
    shown_reason = next(n.reason for n in shown.placement.nodes if n.name == "aten_sort_default")
    assert shown_reason == reason


def test_without_knowing_the_partitioner_every_backend_of_the_group_gets_the_reason(monkeypatch):
    """The control for the test above: the attribution is what keeps TOSA's reason apart."""
    if _available("tosa", "xnnpack") != ["tosa", "xnnpack"]:
        pytest.skip("needs Arm TOSA and XNNPACK")
    from etworkbench._compat import patches

    monkeypatch.setattr(patches, "partitioner_backend", lambda partitioner: None)
    module, inputs = _sort_net()
    report = lower(module, ["tosa", "xnnpack"], example_inputs=inputs, priority=True, cache=False)
    reason = next(
        n.reason for n in report.results[0].placement.nodes if n.name.endswith("sort_default")
    )
    assert "TOSA" in reason.split(" | ")[1]


def test_hooks_act_only_in_the_thread_that_set_them():
    """Two threads inside their own capture at once: each sees only its own rejections and
    prints; outside every capture the library is itself again."""
    from executorch.exir.backend.utils import WhyNoPartitionReporter

    from etworkbench._compat.output import route_stderr, route_stdout
    from etworkbench._compat.patches import capture_rejections

    graph = torch.fx.Graph()
    nodes = {name: graph.placeholder(name) for name in ("a", "b")}
    both_in = threading.Barrier(2)
    seen: dict[str, list] = {"a": [], "b": []}
    printed: dict[str, list] = {}

    def work(name: str) -> None:
        out, err = io.StringIO(), io.StringIO()
        with capture_rejections(name, lambda node, reason: seen[name].append(node.name)):
            with route_stdout(out), route_stderr(err):
                both_in.wait(10)
                WhyNoPartitionReporter().report_reject(nodes[name], "no")
                print(f"from {name}")
                print(f"err {name}", file=sys.stderr)
                both_in.wait(10)
        printed[name] = out.getvalue().splitlines() + err.getvalue().splitlines()

    stdout, stderr = sys.stdout, sys.stderr
    threads = [threading.Thread(target=work, args=(name,)) for name in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert seen == {"a": ["a"], "b": ["b"]}
    assert printed == {"a": ["from a", "err a"], "b": ["from b", "err b"]}
    assert sys.stdout is stdout and sys.stderr is stderr
    assert "report_reject" in vars(WhyNoPartitionReporter)  # executorch's own, not ours
    assert WhyNoPartitionReporter.report_reject.__qualname__.startswith("WhyNoPartitionReporter")


def test_the_public_path_lowers_the_same_programs(monkeypatch, recwarn):
    """With the internals switched off (another torch / executorch, or forced) lowering takes
    executorch's public `to_edge_transform_and_lower`: same counts, reasons and bytes."""
    import etworkbench._compat as compat
    from etworkbench._compat import patches
    from etworkbench.lowering import _shared_edge

    jobs = [(_conv_net, _available("xnnpack", "vulkan"), {"cache": False})]
    internal = _one_after_the_other(jobs)
    monkeypatch.setenv(compat.PUBLIC_ONLY_ENV, "1")
    monkeypatch.setattr(compat, "_warned", threading.Event())
    calls = []
    real = _shared_edge.lower_manager
    monkeypatch.setattr(_shared_edge, "lower_manager", lambda *a: calls.append(a) or real(*a))
    monkeypatch.setattr(patches, "shared_node_sources", lambda: calls.append("provenance"))
    public = _one_after_the_other(jobs)
    assert not calls  # neither the step-by-step mirror nor shared provenance was used
    assert public == internal
    warned = [w for w in recwarn.list if compat.PUBLIC_ONLY_ENV in str(w.message)]
    assert len(warned) == 1  # once per process, however many lowerings
    assert "executorch 1.5.1" in str(warned[0].message)
