"""Vulkan's cached rope pattern graphs change no result (see `_compat.backends`).

executorch 1.5.1 registers its rope pattern builders uncached (decorator order), so plain
executorch re-exports both patterns on every Vulkan partition and preprocess. The workbench
registers the cached builders executorch meant. The proof: a model that contains the pattern
(executorch's own `RotaryEmbeddingPattern`, so the fusion really happens) and one that does not,
lowered by plain executorch in a process where the registry is untouched, and by the workbench
twice (the second lowering uses the cached graphs): same .pte bytes, same delegation.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys

import pytest

from etworkbench import lower

pytestmark = pytest.mark.slow

_INPUTS = """
import torch
from executorch.backends.vulkan.patterns.rope import RotaryEmbeddingPattern

def build(name):
    torch.manual_seed(0)
    if name == "rope":
        args = (torch.randn(1, 1, 4, 32), torch.randn(1, 1, 2, 32), torch.randn(1, 16),
                torch.randn(1, 16))
        return RotaryEmbeddingPattern().eval(), args
    module = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU()).eval()
    return module, (torch.randn(1, 3, 8, 8),)
"""

_PLAIN = (
    _INPUTS
    + """
import hashlib, json, sys
from executorch.backends.vulkan.partitioner.vulkan_partitioner import VulkanPartitioner
from executorch.backends.vulkan.patterns import rope, rope_hf
from executorch.backends.vulkan.patterns.pattern_registry import fusable_patterns
from executorch.devtools.backend_debug import get_delegation_info
from executorch.exir import EdgeCompileConfig, to_edge_transform_and_lower

# the registry as executorch 1.5.1 leaves it: the uncached builders
assert fusable_patterns["hf_rope"].get_graphs_fn is rope_hf.get_hf_rope_graphs.__wrapped__
assert fusable_patterns["export_llama_rope"].get_graphs_fn is rope.get_rope_graphs.__wrapped__
out = {}
for name in ("rope", "conv"):
    module, args = build(name)
    edge = to_edge_transform_and_lower(
        torch.export.export(module, args), partitioner=[VulkanPartitioner({})],
        compile_config=EdgeCompileConfig(_skip_dim_order=False))
    info = get_delegation_info(edge.exported_program().graph_module)
    buffer = bytes(edge.to_executorch().buffer)
    out[name] = [hashlib.sha256(buffer).hexdigest(), info.num_delegated_nodes,
                 info.num_non_delegated_nodes]
print(json.dumps(out))
"""
)


def _plain_in_fresh_process() -> dict:
    done = subprocess.run(
        [sys.executable, "-c", _PLAIN], capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def _build(name: str):
    scope: dict = {}
    exec(_INPUTS, scope)
    return scope["build"](name)


def test_cached_pattern_graphs_give_plain_executorch_bytes():
    from executorch.backends.vulkan.patterns import get_all_fusable_subgraphs, rope_hf
    from executorch.backends.vulkan.patterns.pattern_registry import fusable_patterns
    from executorch.exir import to_edge
    from torch.export import export

    module, args = _build("rope")  # the pattern really is there to be fused
    edge = to_edge(export(module, args)).exported_program()
    assert len(get_all_fusable_subgraphs(edge.graph_module)) == 1
    plain = _plain_in_fresh_process()
    for attempt in range(2):  # the second lowering reuses the cached graphs
        for name in ("rope", "conv"):
            module, args = _build(name)
            result = lower(module, ["vulkan"], example_inputs=args, cache=False)["vulkan"]
            assert result.ok, result.error
            placement = result.placement
            got = [
                hashlib.sha256(result.buffer).hexdigest(),
                placement.delegated_nodes,
                placement.fallback_nodes,
            ]
            assert got == plain[name], (name, attempt)
    assert fusable_patterns["hf_rope"].get_graphs_fn is rope_hf.get_hf_rope_graphs
