"""The advice rule tables, one per backend: XNNPACK's in advice_xnnpack, the others here.

Vulkan's sentences are read off executorch 1.5.1's backends/vulkan (partitioner's
`_is_node_supported`, op_registry's `check_conv_node` and `is_reduce_node_supported`,
utils' `op_contains_high_dim_tensor` and dtype checks); Core ML's off its partitioner's skip
messages (coremltools' converter table); OpenVINO's off its partitioner's support table.
"""

from __future__ import annotations

from typing import Any

from . import advice_xnnpack
from .advice_facts import NodeFacts, Rule, other_backends, rule

CPU = "runs on a CPU portable kernel."


# -- Vulkan ---------------------------------------------------------------------------------


@rule(r"(input\[\d+\](?:\[\d+\])?|output(?:\[\d+\])?) dtype torch\.(\w+) not in \{(.*)\}")
def _vk_dtype(facts: NodeFacts, match: Any) -> str | None:
    allowed = match[3].replace("torch.", "")
    return (
        f"Vulkan's {facts.op} takes {{{allowed}}} for its {match[1]}; in this node"
        f"{facts.where()} it is {match[2]}: cast to one of those before it if the values allow, "
        "else it stays on CPU"
    )


@rule(r"^no operator implementation$|^no Vulkan implementation of")
def _vk_no_impl(facts: NodeFacts, match: Any) -> str | None:
    return (
        f"Vulkan has no operator implementation of {facts.target} (executorch 1.5.1): this node"
        f"{facts.where()} {CPU}" + other_backends(facts, "vulkan")
    )


_REDUCE = ("mean", "sum", "amax", "amin", "argmax", "argmin")


def _vk_reduce(facts: NodeFacts) -> str | None:
    x = facts.inputs[0] if facts.inputs else None
    if x is None:
        return None
    dims = facts.arg(1)
    keepdim = next((a for a in facts.args if isinstance(a, bool)), False)  # get_keepdim_setting
    listed = dims if isinstance(dims, (list, tuple)) else [dims]
    fixes = []
    if dims is None:
        fixes.append("pass an explicit dim")
    elif len(listed) > 2:
        fixes.append("reduce at most 2 dims per call (chain the reductions)")
    elif not keepdim:
        fixes.append("pass keepdim=True (and squeeze after)")
    if dims is not None and len(listed) == 1 and listed[0] == -1 and x.rank:
        fixes.append(
            f"write the last dim as dim={x.rank - 1}: the check compares it with {x.rank - 1}"
        )
    return (
        f"Vulkan reduces either only the last dim (dim={x.rank - 1} here) or at most 2 dims "
        f"with keepdim=True; this {facts.op}{facts.where()} reduces dims {dims} of {x.text()} "
        f"with keepdim={keepdim}: " + ("; or ".join(fixes) or "it stays on CPU")
    )


def _vk_conv(facts: NodeFacts) -> str | None:
    x = facts.inputs[0] if facts.inputs else None
    if x is None:
        return None
    if x.rank == 4 and x.shape[0] != 1:
        batch = x.shape[0]
        dynamic = (
            f" ({batch} is a dynamic dim; the check needs it to be exactly 1)"
            if isinstance(batch, str)
            else ""
        )
        return (
            f"Vulkan's 2-D convolution takes batch 1 only; this conv{facts.where()} gets "
            f"{x.text()}, batch {batch}{dynamic}: run it with batch 1 (export and call with "
            "batch 1, looping over the batch) or leave it on CPU"
        )
    if x.rank == 3 and facts.arg(6):
        return (
            f"Vulkan has no transposed 1-D convolution; this one{facts.where()} gets {x.text()}: "
            "it stays on CPU." + other_backends(facts, "vulkan")
        )
    return None


@rule(r"^op args not supported$")
def _vk_args(facts: NodeFacts, match: Any) -> str | None:
    if facts.op in _REDUCE:
        return _vk_reduce(facts)
    if facts.op in ("convolution", "conv_with_clamp"):
        return _vk_conv(facts)
    return None


@rule(r"^op does not support high dim tensors$")
def _vk_high_dim(facts: NodeFacts, match: Any) -> str | None:
    high = [t for t in facts.outputs + facts.inputs if t.rank > 4]
    if not high:
        return None
    t = high[0]
    return (
        f"Vulkan's {facts.op} takes tensors of up to 4 dims; this node's {t.where} is {t.text()} "
        f"(rank {t.rank}){facts.where()}: fold dims into 4 or fewer around it, or leave it on "
        "CPU." + other_backends(facts, "vulkan")
    )


# -- Core ML --------------------------------------------------------------------------------


@rule(r"\{argmax, argmin\}\.default with dim=None")
def _coreml_arg_none(facts: NodeFacts, match: Any) -> str | None:
    x = facts.inputs[0] if facts.inputs else None
    over = f" over {x.text()}" if x else ""
    return (
        f"Core ML refuses argmax/argmin without a dim; this {facts.op}{facts.where()} has "
        f"dim=None{over}: x.flatten().{facts.op}(dim=0) gives the same index"
    )


@rule(r"\{sub, add\}\.Tensor with alpha != 1")
def _coreml_alpha(facts: NodeFacts, match: Any) -> str | None:
    alpha = facts.kwargs.get("alpha", "alpha")
    sign = "+" if facts.op == "add" else "-"
    return (
        f"Core ML's {facts.op} takes no alpha; this one{facts.where()} has alpha={alpha}: write "
        f"a {sign} {alpha} * b"
    )


@rule(r"not supported by CoreML: \S+|coremltools has no converter for")
def _coreml_no_converter(facts: NodeFacts, match: Any) -> str | None:
    return (
        f"coremltools has no converter for {facts.target}: this node{facts.where()} {CPU}"
        + other_backends(facts, "coreml")
    )


# -- OpenVINO -------------------------------------------------------------------------------


@rule(r"Op not supported:\s+torch\.ops\.\S+|^no OpenVINO implementation of")
def _openvino_unsupported(facts: NodeFacts, match: Any) -> str | None:
    return (
        f"OpenVINO's partitioner has no {facts.target} in its supported-op table: this node"
        f"{facts.where()} {CPU}" + other_backends(facts, "openvino")
    )


RULES: dict[str, list[Rule]] = {
    "xnnpack": advice_xnnpack.RULES,
    "vulkan": [_vk_dtype, _vk_no_impl, _vk_args, _vk_high_dim],
    "coreml": [_coreml_arg_none, _coreml_alpha, _coreml_no_converter],
    "openvino": [_openvino_unsupported],
}
