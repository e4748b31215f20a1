"""XNNPACK's advice rules: its partitioner's reasons, read with what each config checks.

Every sentence about what XNNPACK takes is read off executorch 1.5.1's
backends/xnnpack/partition/config (`check_common_constraints`, `MeanDimConfig`,
`UnsqueezeCopyConfig`, `ConvolutionConfig`, `PowConfig`, `CatConfig`, `AvgPoolingConfig`,
`AddConfig`/`SubConfig`, `ViewCopyConfig`; `ALL_PARTITIONER_CONFIGS` for which ops it has);
every sentence about the node is read off its metadata (`NodeFacts`).
"""

from __future__ import annotations

import math
from typing import Any

from .advice_facts import NodeFacts, Rule, TensorFacts, other_backends, rule

FLOATS = ("float32", "float16")  # check_common_constraints' dtypes outside quant nodes
# Ops XNNPACK has a config for that a rewrite below may use (ALL_PARTITIONER_CONFIGS).
VIEW = "XNNPACK has a view_copy config for static shapes"


def _shape(dims: Any) -> str:
    return ", ".join(str(d) for d in dims)


def _static(tensor: TensorFacts | None) -> bool:
    return tensor is not None and all(isinstance(d, int) for d in tensor.shape)


def _first(facts: NodeFacts) -> TensorFacts | None:
    return facts.inputs[0] if facts.inputs else None


def _dims(value: Any, rank: int) -> list[int] | None:
    """A reduction's dims, normalized to 0..rank-1 (None: all dims)."""
    if value is None:
        return None
    items = value if isinstance(value, (list, tuple)) else [value]
    return sorted(int(d) % rank for d in items) if rank else [int(d) for d in items]


@rule(r"^invalid dtype$")
def _dtype(facts: NodeFacts, match: Any) -> str | None:
    bad = [t for t in facts.inputs + facts.outputs if t.dtype not in FLOATS]
    head = "XNNPACK takes float32 or float16 tensors here (int8 only in quantize/dequantize nodes)"
    if bad:
        t = bad[0]
        verb = "reads" if t.where.startswith("input") else "produces"
        source = f", from {t.producer}" if t.producer else ""
        text = f"{head}; this {facts.op}{facts.where()} {verb} {t.dtype} ({t.where}: {t.text()}{source})"
        if facts.op in ("_to_dim_order_copy", "_to_copy") and facts.inputs and facts.outputs:
            src, dst = facts.inputs[0].dtype, facts.outputs[0].dtype
            return (
                f"{text}: it is a cast from {src} to {dst} and stays on CPU; to drop it, "
                f"produce {dst} earlier (e.g. give the model {dst} inputs), or leave it"
            )
        if t.dtype == "float64":
            return f"{text}: XNNPACK has no float64; use float32 (model.float() and float32 inputs)"
        if t.dtype == "bool":
            return f"{text}: it stays on CPU; a mask computed here is cheap to leave there"
        return (
            f"{text}: it stays on CPU; integer index math (e.g. position ids, sizes) is fine to "
            "leave there; if it is data, cast it to float32 earlier"
        )
    for t in facts.inputs:
        if t.numel == 0:
            return f"{head} and no empty tensors; this {facts.op}'s {t.where} is {t.text()} (0 elements)"
    for t in facts.inputs:
        if any(isinstance(d, str) and d.startswith("u") for d in t.shape):
            return (
                f"XNNPACK refuses tensors with data-dependent sizes; this {facts.op}'s {t.where} "
                f"is {t.text()}"
            )
    return None


@rule(r"does not support mixed input dtypes, got: \[(\S+), (\S+)\]")
def _mixed(facts: NodeFacts, match: Any) -> str | None:
    a, b = (d.replace("torch.", "") for d in match.groups())
    return (
        f"XNNPACK needs every input of {facts.op} in one dtype; this one mixes {a} and {b}: "
        f"cast the {b} input to {a} before it"
    )


def _mean_rewrite(x: TensorFacts, dims: list[int], out: TensorFacts | None) -> str:
    """x.reshape(...).mean((2, 3), keepdim=True)... when the averaged dims are the last ones."""
    rank = x.rank
    lead = list(x.shape[: rank - len(dims)])
    if dims != list(range(rank - len(dims), rank)) or len(lead) > 2 or not _static(x):
        return ""
    four = [1] * (2 - len(lead)) + lead + [1, math.prod(x.shape[rank - len(dims) :])]
    back = f".reshape({_shape(out.shape)})" if out is not None and _static(out) else ""
    return f" (here: x.reshape({_shape(four)}).mean((2, 3), keepdim=True){back})"


@rule(r"mean\.dim only supports averaging 4D tensors, got tensor of rank (\d+)")
def _mean_rank(facts: NodeFacts, match: Any) -> str | None:
    x = _first(facts)
    if x is None:
        return None
    dims = _dims(facts.arg(1), x.rank)
    keep = bool(facts.arg(2, False))
    rewrite = _mean_rewrite(x, dims, facts.outputs[0] if facts.outputs else None) if dims else ""
    return (
        "XNNPACK's mean.dim is a global average pool: a 4-D input averaged over dims (2, 3) "
        f"with keepdim=True; this mean{facts.where()} averages dims {dims} of a rank-{match[1]} "
        f"input {x.text()} with keepdim={keep}: reshape to 4-D with the averaged dims last and "
        f"use keepdim=True{rewrite}, or leave it on CPU"
    )


@rule(r"mean\.dim only supports averaging 4D tensors across the innermost dimensions")
def _mean_dims(facts: NodeFacts, match: Any) -> str | None:
    x = _first(facts)
    if x is None:
        return None
    dims = _dims(facts.arg(1), x.rank)
    fix = "permute the averaged dims last (XNNPACK has permute_copy) and average (2, 3)"
    if dims is not None and len(dims) == 2 and x.rank == 4:
        order = [d for d in range(4) if d not in dims] + dims
        fix = f"x.permute({_shape(order)}).mean((2, 3), keepdim=True) averages the same values"
    return (
        "XNNPACK's mean.dim averages only dims (2, 3) of a 4-D input; this mean"
        f"{facts.where()} averages dims {dims} of {x.text()}: {fix}"
    )


@rule(r"mean\.dim only supports keepdim=True")
def _mean_keepdim(facts: NodeFacts, match: Any) -> str | None:
    out = facts.outputs[0] if facts.outputs else None
    after = f" and .reshape({_shape(out.shape)}) after it" if _static(out) else " and reshape after"
    return (
        f"XNNPACK's mean.dim needs keepdim=True; this mean{facts.where()} has keepdim=False: "
        f"pass keepdim=True{after} (e.g. .flatten(1) for a classifier head)"
    )


@rule(r"unsqueeze_copy only supported on the trailing dimension")
def _unsqueeze(facts: NodeFacts, match: Any) -> str | None:
    x, out = _first(facts), (facts.outputs[0] if facts.outputs else None)
    if x is None:
        return None
    fix = f"x.reshape({_shape(out.shape)}) does the same ({VIEW})" if _static(out) else "reshape"
    return (
        f"XNNPACK unsqueezes only at the end (dim=-1 or dim={x.rank}); this unsqueeze"
        f"{facts.where()} inserts dim {facts.arg(1)} into {x.text()}: {fix}, or leave it"
    )


@rule(r"Only support 1D \+ 2D Conv")
def _conv3d(facts: NodeFacts, match: Any) -> str | None:
    weight = facts.inputs[1] if len(facts.inputs) > 1 else None
    kind = f"a {weight.rank - 2}-D convolution (weight {weight.text()})" if weight else "3-D"
    return (
        f"XNNPACK has 1-D and 2-D convolutions only; this is {kind}{facts.where()}: it stays "
        "on CPU." + other_backends(facts, "xnnpack")
    )


_POWERS = {
    "0.5": "torch.sqrt(x)",
    "-0.5": "torch.rsqrt(x)",
    "2.0": "x * x (or x ** 2 with an int 2)",
    "3": "x * x * x",
    "3.0": "x * x * x",
    "1": "x itself",
    "1.0": "x itself",
}


@rule(r"only support (?:int powers|power == 2), got (\S+)")
def _pow(facts: NodeFacts, match: Any) -> str | None:
    alt = _POWERS.get(match[1])
    fix = f": write {alt} instead (XNNPACK has sqrt, rsqrt and mul configs)" if alt else ""
    return (
        f"XNNPACK's pow takes only the int exponent 2; this pow{facts.where()} raises to "
        f"{match[1]}{fix or ': it stays on CPU'}"
    )


@rule(r"only support concatenation of > 2 tensors, got (\d+) tensors")
def _cat(facts: NodeFacts, match: Any) -> str | None:
    if match[1] != "1":
        return None
    return (
        f"XNNPACK concatenates 2 or more tensors; this cat{facts.where()} gets one, so it only "
        "copies it: drop the torch.cat (use the tensor itself)"
    )


@rule(r"^ceil mode is not supported$")
def _ceil(facts: NodeFacts, match: Any) -> str | None:
    return (
        f"XNNPACK pools without ceil_mode; this {facts.op}{facts.where()} has ceil_mode=True: "
        "with ceil_mode=False it drops the last partial window (a different output size); "
        "else it stays on CPU"
    )


@rule(r"zero-padding in the averaging calculation is not supported")
def _pad(facts: NodeFacts, match: Any) -> str | None:
    padding = facts.arg(3)
    return (
        f"XNNPACK averages without counting zero padding; this avg_pool2d{facts.where()} has "
        f"padding {padding} with count_include_pad=True: pad explicitly (F.pad; XNNPACK has "
        "constant_pad_nd) and pool with padding=0 for the same values, or set "
        "count_include_pad=False (different values at the border)"
    )


@rule(r"(Add|Sub) node doesn't support alpha != 1")
def _alpha(facts: NodeFacts, match: Any) -> str | None:
    sign = "+" if match[1] == "Add" else "-"
    alpha = facts.kwargs.get("alpha", "alpha")
    return (
        f"XNNPACK's {match[1].lower()} has no alpha; this one{facts.where()} has alpha={alpha}: "
        f"write a {sign} {alpha} * b (XNNPACK has mul and {match[1].lower()} configs)"
    )


@rule(r"Unsupported input rank (\d+) for XNN batch norm operator")
def _batch_norm(facts: NodeFacts, match: Any) -> str | None:
    x = _first(facts)
    return (
        "XNNPACK's batch norm takes 4-D inputs (or fuses into the convolution before it); this "
        f"one{facts.where()} gets a rank-{match[1]} input{f' {x.text()}' if x else ''}: it stays "
        "on CPU."
    )


def _reshape_to_output(facts: NodeFacts) -> str:
    out = facts.outputs[0] if len(facts.outputs) == 1 else None
    return f"x.reshape({_shape(out.shape)})" if _static(out) else ""


def _no_config_hint(facts: NodeFacts) -> str:
    """A rewrite into ops XNNPACK has, where the node's facts make one exact."""
    op, reshape = facts.op, _reshape_to_output(facts)
    if op in ("squeeze_copy", "select_copy") and reshape:
        lead = "x.narrow(dim, index, 1) then " if op == "select_copy" else ""
        return f" Write {lead}{reshape} instead ({VIEW}{' and slice_copy' if lead else ''})."
    if op in ("split_with_sizes_copy", "split_copy"):
        return " Slice the pieces instead (x[..., a:b]; XNNPACK has a slice_copy config)."
    if op == "expand_copy":
        return " If it only feeds elementwise ops (add, mul, sub, div), drop it: they broadcast."
    if op == "_adaptive_avg_pool2d" and list(facts.arg(1) or []) == [1, 1]:
        return " It is a global average: x.mean((2, 3), keepdim=True) is XNNPACK's mean.dim."
    if op == "upsample_nearest2d":
        return " XNNPACK has upsample_bilinear2d only (mode='bilinear' changes the values)."
    if op in ("full", "scalar_tensor", "arange", "zeros", "ones") and not facts.inputs:
        return (
            " It builds a tensor from constants only: if it is the same on every call, make "
            "it a buffer (register_buffer in __init__) and it becomes a constant, not an op."
        )
    return ""


@rule(r"^no XNNPACK implementation of (\S+)$")
def _no_config(facts: NodeFacts, match: Any) -> str | None:
    return (
        f"XNNPACK has no partitioner config for {facts.target} (executorch 1.5.1): this node"
        f"{facts.where()} runs on a CPU portable kernel."
        + _no_config_hint(facts)
        + other_backends(facts, "xnnpack")
    )


RULES: list[Rule] = [
    _dtype,
    _mixed,
    _mean_rank,
    _mean_dims,
    _mean_keepdim,
    _unsqueeze,
    _conv3d,
    _pow,
    _cat,
    _ceil,
    _pad,
    _alpha,
    _batch_norm,
    _no_config,
]
