"""Backend libraries' per-node support checks, observed for reasons (see `patches` for the design).

Written for executorch 1.5.1's Vulkan, Core ML (coremltools 9.0) and OpenVINO (openvino 2025.4)
partitioners: `VulkanSupportedOperators.log_skip`, Core ML's private
`_OperatorsSupportedForCoreMLBackend.is_node_supported` / `.log_once`, and
`OpenvinoOperatorsSupport.is_node_supported`, which prints its reasons to stdout. Also
coremltools' conversion progress bars, kept out of a Core ML lowering's output.
"""

from __future__ import annotations

import contextlib
import importlib
import io
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from typing import Any

from .output import route_stdout
from .patches import hooks_dispatch, patch_for, pushed

_vulkan_hooks: ContextVar[tuple] = ContextVar("etwb_vulkan", default=())


def _on_log_skip(hooks: tuple, original: Any, args: tuple, kwargs: dict) -> Any:
    _self, node, reason = args
    for sink in hooks:
        sink(node, reason)
    return original(*args, **kwargs)


def vulkan_skips(support_class: Any, sink: Callable[[Any, Any], None]):
    """`sink(node, reason)` for every `VulkanSupportedOperators.log_skip` in this context."""
    patch = patch_for(
        support_class, lambda: {"log_skip": hooks_dispatch(_vulkan_hooks, _on_log_skip)}
    )
    return pushed(_vulkan_hooks, sink, patch)


_coreml_hooks: ContextVar[tuple] = ContextVar("etwb_coreml", default=())
_coreml_node: ContextVar[Any] = ContextVar("etwb_coreml_node", default=None)


def _coreml_check(hooks: tuple, original: Any, args: tuple, kwargs: dict) -> Any:
    token = _coreml_node.set(args[2])  # (self, submodules, node)
    try:
        return original(*args, **kwargs)
    finally:
        _coreml_node.reset(token)


def _coreml_log(hooks: tuple, original: Any, args: tuple, kwargs: dict) -> Any:
    node = _coreml_node.get()
    if node is not None:
        for sink in hooks:
            sink(node, args[1])  # (self, msg)
    return original(*args, **kwargs)


def coreml_skips(sink: Callable[[Any, str], None]):
    """`sink(node, message)` for each of Core ML's skip messages in this context (its
    `log_once` deduplicates across nodes, so they are taken before it does)."""
    make = {
        "is_node_supported": hooks_dispatch(_coreml_hooks, _coreml_check),
        "log_once": hooks_dispatch(_coreml_hooks, _coreml_log),
    }
    return pushed(_coreml_hooks, sink, patch_for(coreml_operator_support_class(), lambda: make))


_openvino_hooks: ContextVar[tuple] = ContextVar("etwb_openvino", default=())


def _openvino_check(hooks: tuple, original: Any, args: tuple, kwargs: dict) -> Any:
    printed = io.StringIO()
    with route_stdout(printed):
        supported = original(*args, **kwargs)
    node = args[2]  # (self, submodules, node)
    for line in printed.getvalue().splitlines():
        if line.strip():
            for sink in hooks:
                sink(node, line.strip())
    return supported


def openvino_prints(support_class: Any, sink: Callable[[Any, str], None]):
    """`sink(node, line)` for what OpenVINO's support check prints per node, kept off stdout."""
    make = {"is_node_supported": hooks_dispatch(_openvino_hooks, _openvino_check)}
    return pushed(_openvino_hooks, sink, patch_for(support_class, lambda: make))


def coreml_operator_support_class() -> Any:
    """Core ML's operator-support class (private in executorch 1.5.1's coreml_partitioner)."""
    from executorch.backends.apple.coreml.partition import coreml_partitioner

    return coreml_partitioner._OperatorsSupportedForCoreMLBackend


def openvino_support_table() -> frozenset[str]:
    """`torch.ops.X` names OpenVINO converts: its torchdynamo `OperatorSupport._support_dict`
    (openvino 2025.4) plus executorch 1.5.1's `OpenvinoOperatorsSupport.extended_support_dict`."""
    from executorch.backends.openvino.partitioner import OpenvinoOperatorsSupport
    from openvino.frontend.pytorch.torchdynamo.op_support import OperatorSupport

    table = OperatorSupport([])._support_dict | OpenvinoOperatorsSupport.extended_support_dict
    return frozenset(table)


def import_vulkan_passes() -> None:
    """Import Vulkan's private `_passes` (executorch 1.5.1) so its import-time logging setup
    runs where the caller can undo it."""
    from executorch.backends.vulkan._passes import tag_memory_meta_pass  # noqa: F401


def cache_vulkan_pattern_graphs() -> list[str]:
    """Register the cached pattern-graph builders executorch 1.5.1 meant Vulkan to use.

    `executorch.backends.vulkan.patterns.rope` and `.rope_hf` decorate `get_rope_graphs` /
    `get_hf_rope_graphs` with `@lru_cache` *above* `@register_pattern_graph`, so the registry
    holds the uncached function: every Vulkan partition and preprocess re-exports both rope
    patterns (about 3 s per call, 6 s per lowering). The builders take no arguments and the
    graphs are only read (`SubgraphMatcher`), so registering the cached ones changes no result
    (tests/test_vulkan_patterns.py: same bytes as plain executorch). Done once, under
    `PATCH_LOCK`; only where the registry holds exactly the function the cache wraps, so a
    version that fixed the order (or changed the modules) is left alone. Returns what changed.
    """
    from executorch.backends.vulkan.patterns import rope, rope_hf
    from executorch.backends.vulkan.patterns.pattern_registry import fusable_patterns

    from .patches import PATCH_LOCK

    changed = []
    with PATCH_LOCK:
        for name, cached in (
            ("export_llama_rope", rope.get_rope_graphs),
            ("hf_rope", rope_hf.get_hf_rope_graphs),
        ):
            entry = fusable_patterns.get(name)
            uncached = getattr(cached, "__wrapped__", None)
            if entry is not None and uncached is not None and entry.get_graphs_fn is uncached:
                entry.get_graphs_fn = cached
                changed.append(name)
    return changed


_coreml_bars_off: ContextVar[tuple] = ContextVar("etwb_coreml_bars_off", default=())
# coremltools 9.0 draws a tqdm bar for its PyTorch frontend and one per MIL pass pipeline: four
# bars of a few milliseconds each per Core ML partition, in the CLI's and the notebook's output.
COREML_PROGRESS_BARS = (
    ("coremltools.converters.mil.frontend.torch.ops", "_tqdm"),
    ("coremltools.converters.mil.mil.passes.pass_pipeline", "tqdm"),
)


def _bar_off(hooks: tuple, original: Any, args: tuple, kwargs: dict) -> Any:
    return original(*args, **{**kwargs, "disable": True})


@contextlib.contextmanager
def coreml_progress_bars_off() -> Iterator[None]:
    """While a Core ML lowering runs in this context, coremltools' bars draw nothing (the
    workbench reports the lowering's progress itself); other threads keep theirs. A coremltools
    without these names keeps its bars."""
    with contextlib.ExitStack() as stack:
        for module_name, name in COREML_PROGRESS_BARS:
            try:
                module = importlib.import_module(module_name)
            except ImportError:
                continue
            if not callable(getattr(module, name, None)):
                continue
            patch = patch_for(
                module, lambda name=name: {name: hooks_dispatch(_coreml_bars_off, _bar_off)}
            )
            stack.enter_context(pushed(_coreml_bars_off, True, patch))
        yield
