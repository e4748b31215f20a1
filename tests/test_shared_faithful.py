"""The shared export step lowers exactly what executorch lowers from a fresh export.

Models whose graphs depend on how the export is handled (the conformance corpus's "tricky"
models): a tensor attribute used as numbers, `.item()` of a buffer (a data-dependent symbol), a grid built
from the feature map's size. Each backend of one `lower()` call is compared with the plain API
on a freshly built module: per-op counts (`get_delegation_info`), delegate subgraphs, and .pte
bytes where the backend is deterministic (XNNPACK, Vulkan). The preview is held to the same
counts. The reference never goes through our pipeline.
"""

from __future__ import annotations

import pytest
import torch
from _checks import delegation_info_counts, placement_counts

from etworkbench import get_backend, lower, preview
from etworkbench.conformance._tricky import build_tricky

CASES = ["tensor_attr_fill_sum", "buffer_item", "anchor_grid"]


def _build(name: str) -> tuple[torch.nn.Module, tuple]:
    """A fresh, seeded instance and its example inputs (the same on every call)."""
    torch.manual_seed(0)
    module, args, _ = build_tricky(name)
    return module, args


BACKENDS = ["xnnpack", "coreml", "vulkan"]
DETERMINISTIC = {"xnnpack", "vulkan"}


def _plain(name: str, backend_name: str):
    """(get_delegation_info, .pte bytes) of the plain API on a fresh module."""
    from executorch.devtools.backend_debug import get_delegation_info
    from executorch.exir import to_edge_transform_and_lower

    module, inputs = _build(name)
    backend = get_backend(backend_name)
    kwargs = {"partitioner": backend.partitioners(backend.default_scheme)}
    config = backend.edge_compile_config()
    if config is not None:
        kwargs["compile_config"] = config
    try:
        edge = to_edge_transform_and_lower(torch.export.export(module, inputs), **kwargs)
        info = get_delegation_info(edge.exported_program().graph_module)
        return info, bytes(edge.to_executorch().buffer)
    except Exception as exc:  # the workbench must then fail too
        return exc, None


@pytest.fixture(scope="module")
def plain():
    return {(n, b): _plain(n, b) for n in CASES for b in BACKENDS}


@pytest.mark.parametrize("name", CASES)
def test_one_call_for_three_backends_equals_the_plain_api(name, plain):
    module, inputs = _build(name)
    report = lower(module, BACKENDS, example_inputs=inputs, cache=False)
    _assert_same_as_plain(report, name, BACKENDS, plain)


def _assert_same_as_plain(report, name: str, backends: list[str], plain) -> None:
    for backend in backends:
        result = report[backend]
        info, pte = plain[(name, backend)]
        if isinstance(info, Exception):  # both fail, at the same place
            assert result.status == "failed", backend
            assert type(info).__name__ == result.error.type, backend
            continue
        assert result.ok, report.summary()
        assert placement_counts(result.placement) == delegation_info_counts(info), backend
        if backend in DETERMINISTIC:
            assert result.buffer == pte, backend


@pytest.mark.parametrize("name", CASES)
def test_preview_places_like_the_plain_api(name, plain):
    module, inputs = _build(name)
    for _ in range(2):  # the second call is served from the preview's in-memory store
        report = preview(module, BACKENDS, example_inputs=inputs)
        for backend in BACKENDS:
            result = report[backend]
            info, _ = plain[(name, backend)]
            if isinstance(info, Exception):  # preprocess failures are past what a preview does
                continue
            assert result.ok, report.summary()
            ours = placement_counts(result.placement)
            theirs = delegation_info_counts(info)
            assert (ours["delegated"], ours["cpu"]) == (theirs["delegated"], theirs["cpu"]), backend


def test_the_issue_table_numbers(plain):
    """The model from the report: XNNPACK 3 / 6, Core ML 7 / 1, Vulkan 7 / 1 (delegated / CPU)."""
    counts = {b: delegation_info_counts(plain[("tensor_attr_fill_sum", b)][0]) for b in BACKENDS}
    assert {b: (c["delegated"], c["cpu"]) for b, c in counts.items()} == {
        "xnnpack": (3, 6),
        "coreml": (7, 1),
        "vulkan": (7, 1),
    }


def test_symbols_in_the_graph_mean_fresh_exports_not_copies():
    from etworkbench.lowering._shared_edge import SharedExport, copies_are_faithful

    module, inputs = _build("buffer_item")
    exports = []

    def again():
        exports.append(1)
        return torch.export.export(module, inputs)

    shared = SharedExport(torch.export.export(module, inputs), reexport=again).prepare()
    assert not shared.copy_safe
    first, second = shared.functional(), shared.functional()
    assert first is not second and len(exports) == 1
    # A tensor attribute's `.item()` is folded by the functionalization: no symbol is left.
    module, inputs = _build("tensor_attr_fill_sum")
    assert copies_are_faithful(torch.export.export(module, inputs).run_decompositions({}))


@pytest.mark.slow
def test_worker_processes_equal_the_plain_api(plain):
    module, inputs = _build("buffer_item")
    report = lower(module, ["xnnpack", "vulkan"], example_inputs=inputs, cache=False, jobs=2)
    _assert_same_as_plain(report, "buffer_item", ["xnnpack", "vulkan"], plain)
