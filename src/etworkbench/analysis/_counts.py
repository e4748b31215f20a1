"""The node counts every view shows, defined once: `NodePlacement.kind` and `NodeCounts`.

analysis.placement walks a lowered (or previewed) program into `NodePlacement` rows and
re-exports every name here; the kinds follow executorch's `get_delegation_info`:

- delegated: a `call_function` node inside a lowered module (whatever its target, a getitem
  inside a delegate included: the backend compiled it). Equal to get_delegation_info's
  `num_delegated_nodes`.
- structural: a `call_function` node outside every delegate whose target is `operator.getitem`.
  It unpacks a delegate's or a multi-output op's results; the ExecuTorch emitter turns it into
  no instruction, so it runs no kernel. In a preview, the getitem lowering will add after each
  delegate output counts too.
- CPU fallback (`cpu_kernel`): every other `call_function` node outside the delegates; each one
  becomes an operator call run by a CPU kernel.
- `executorch_call_delegate` itself is not a node of any kind (get_delegation_info skips it
  too), nor are placeholders, `get_attr` and the output node.

So `delegated + cpu_kernels + structural` is every counted node, get_delegation_info's
`num_non_delegated_nodes` is `cpu_kernels + structural`, and the delegated share is
`delegated / (delegated + cpu_kernels)`: of the nodes that run a kernel, how many a backend runs.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

# The three kinds of counted node (`NodePlacement.kind`) and the words every view uses for them.
DELEGATED = "delegated"
CPU_KERNEL = "cpu_kernel"
STRUCTURAL = "structural"
KINDS = (DELEGATED, CPU_KERNEL, STRUCTURAL)
KIND_LABELS = {
    DELEGATED: "delegated",
    CPU_KERNEL: "CPU fallback (runs a kernel)",
    STRUCTURAL: "structural (getitem, no kernel)",
}
SHARE_DEFINITION = "delegated share = delegated / (delegated + CPU fallback) nodes"
DELEGATION_INFO_DEFINITION = (
    "get_delegation_info counts delegated nodes the same way; its non-delegated nodes are "
    "CPU fallback + structural"
)


@dataclass
class NodePlacement:
    """One graph node and where it runs."""

    name: str
    op: str  # get_delegation_info's op key, e.g. aten_convolution_default
    target: str  # the operator, e.g. aten.convolution.default
    delegated: bool
    backend: str | None = None  # workbench backend name, e.g. xnnpack
    delegate: str | None = None  # delegate instance, e.g. lowered_module_0
    module_path: str = ""  # nn.Module path it came from, e.g. features.3.conv
    module_type: str = ""
    source: str = ""  # file:line: code
    shape: str = ""  # dtype[shape] of its output(s)
    reason: str | None = None  # why it was not delegated (CPU nodes only)
    structural: bool = False  # getitem outside the delegates; runs no kernel
    inputs: list[str] = field(default_factory=list)  # producer node / graph-input names
    # the op of the user's exported program it came from, before any backend decomposed it,
    # e.g. aten.conv2d.default for XNNPACK's aten.convolution.default (analysis.source_ops)
    source_op: str = ""
    # What to change, from `reason` and the node's facts, with the partitioner's words beside
    # (analysis.advice); None without a rule for the reason and in results stored before it.
    # A plain default, so an older pickled NodePlacement (the cache's) reads it as None.
    advice: str | None = None

    @property
    def why(self) -> str | None:
        """What the views show: the advice (which quotes the reason), else the reason."""
        return self.advice or self.reason

    @property
    def kind(self) -> str:
        """DELEGATED, CPU_KERNEL or STRUCTURAL: the one classification every count uses."""
        if self.delegated:
            return DELEGATED
        return STRUCTURAL if self.structural else CPU_KERNEL


def share_text(share: float | None) -> str:
    """A delegated share as every view prints it: "75%", never "100%" or "0%" unless exact."""
    if share is None:
        return "n/a"
    text = f"{share:.0%}"
    if (text == "100%" and share < 1) or (text == "0%" and share > 0):
        text = f"{share:.1%}"
        if text == "100.0%":
            return ">99.9%"
        if text == "0.0%":
            return "<0.1%"
    return text


@dataclass(frozen=True)
class NodeCounts:
    """How many nodes of a program (or of several, summed) are of each kind (see module doc)."""

    delegated: int = 0
    cpu_kernels: int = 0  # CPU fallback nodes that run a kernel
    structural: int = 0  # getitems outside the delegates; run no kernel

    @classmethod
    def of(cls, nodes: Iterable[NodePlacement]) -> NodeCounts:
        kinds = [n.kind for n in nodes]
        return cls(kinds.count(DELEGATED), kinds.count(CPU_KERNEL), kinds.count(STRUCTURAL))

    @classmethod
    def from_dict(cls, record: dict[str, Any]) -> NodeCounts:
        """From `BackendResult.to_dict()` (a sweep cell); records written before the kinds
        were stored count as structural the fallback nodes whose reason says so."""
        if record.get("structural_nodes") is not None:
            return cls(
                record["delegated_nodes"], record["cpu_kernel_nodes"], record["structural_nodes"]
            )
        structural = sum(
            1
            for r in record.get("fallback_reasons") or []
            if (r.get("reason") or "").startswith("structural")
        )
        non_delegated = record.get("fallback_nodes") or 0
        return cls(record.get("delegated_nodes") or 0, non_delegated - structural, structural)

    def __add__(self, other: NodeCounts) -> NodeCounts:
        return NodeCounts(
            self.delegated + other.delegated,
            self.cpu_kernels + other.cpu_kernels,
            self.structural + other.structural,
        )

    @property
    def kernel_nodes(self) -> int:
        """Nodes that run a kernel: delegated + CPU fallback (the share's denominator)."""
        return self.delegated + self.cpu_kernels

    @property
    def total(self) -> int:
        return self.delegated + self.cpu_kernels + self.structural

    @property
    def share(self) -> float | None:
        """delegated / (delegated + cpu_kernels); None when no node runs a kernel."""
        return self.delegated / self.kernel_nodes if self.kernel_nodes else None

    @property
    def share_text(self) -> str:
        return share_text(self.share)

    @property
    def delegation_info_delegated(self) -> int:
        """get_delegation_info's num_delegated_nodes."""
        return self.delegated

    @property
    def delegation_info_non_delegated(self) -> int:
        """get_delegation_info's num_non_delegated_nodes (structural getitems included)."""
        return self.cpu_kernels + self.structural

    def text(self) -> str:
        """'delegated 3 / CPU fallback 2 / structural 2 nodes'."""
        return (
            f"delegated {self.delegated} / CPU fallback {self.cpu_kernels} / "
            f"structural {self.structural} nodes"
        )

    def delegation_info_text(self) -> str:
        return (
            f"get_delegation_info: {self.delegation_info_delegated} delegated / "
            f"{self.delegation_info_non_delegated} non-delegated"
        )

    def describe(self) -> str:
        """The counts, the share and, when they differ, get_delegation_info's totals."""
        text = f"{self.text()}, {self.share_text} delegated"
        if self.structural:
            text += f" ({self.delegation_info_text()})"
        return text

    def to_dict(self) -> dict[str, Any]:
        """The keys `BackendResult.to_dict()` adds next to delegated_nodes / fallback_nodes."""
        return {
            "cpu_kernel_nodes": self.cpu_kernels,
            "structural_nodes": self.structural,
            "delegated_share": self.share,
        }


def short_op(target: str) -> str:
    """'aten.cumsum.default' -> 'cumsum', 'aten.mean.dim' -> 'mean.dim' (for one-line listings)."""
    name = target.removeprefix("aten.")
    return name.removesuffix(".default")


def _short_reason(reason: str | None, target: str) -> str:
    """The reason without the op it names at its end ('no XNNPACK implementation of
    aten.cumsum.default' -> 'no XNNPACK implementation'), so ops with one cause share it."""
    text = (reason or "").strip()
    for name in (target, short_op(target), target.removeprefix("aten.")):
        if name and text.endswith(f" of {name}"):
            return text[: -len(f" of {name}")]
    return text


def fallback_listing(nodes: Iterable[NodePlacement], limit: int = 8) -> str:
    """The CPU fallback nodes that run a kernel, by op with counts, most frequent first; ops
    with the same (most common) reason share it: 'cumsum×1, where×1 (no XNNPACK
    implementation); mean.dim×1 (mean.dim only supports keepdim=True)'. Structural nodes are
    left out; past `limit` ops, '… and N more'. Empty when nothing falls back."""
    by_op: dict[str, list[str]] = {}
    for node in nodes:
        if node.kind == CPU_KERNEL:
            by_op.setdefault(node.target, []).append(_short_reason(node.reason, node.target))
    if not by_op:
        return ""
    ranked = sorted(by_op.items(), key=lambda item: -len(item[1]))  # stable: graph order
    shown, rest = ranked[:limit], len(ranked) - limit
    groups: dict[str, list[str]] = {}  # reason -> "op×n", in order of first appearance
    for target, reasons in shown:
        reason = max(dict.fromkeys(reasons), key=reasons.count)  # most common, first on ties
        groups.setdefault(reason, []).append(f"{short_op(target)}×{len(reasons)}")
    text = "; ".join(
        ", ".join(ops) + (f" ({reason})" if reason else "") for reason, ops in groups.items()
    )
    return text + (f"; … and {rest} more" if rest > 0 else "")


def advice_listing(nodes: Iterable[NodePlacement], limit: int = 3) -> list[str]:
    """'unsqueeze_copy×78: <advice>' for the `limit` CPU fallback ops with the most nodes that
    have advice (the first such node's), for `LoweringReport.summary()`."""
    by_op: dict[str, list[NodePlacement]] = {}
    for node in nodes:
        if node.kind == CPU_KERNEL:
            by_op.setdefault(node.target, []).append(node)
    ranked = sorted(by_op.items(), key=lambda item: -len(item[1]))
    lines = []
    for target, members in ranked:
        first = next((n.advice for n in members if n.advice), None)
        if first and len(lines) < limit:
            lines.append(f"{short_op(target)}×{len(members)}: {first}")
    return lines


def fallback_record(node: NodePlacement) -> dict[str, Any]:
    """One entry of `BackendResult.to_dict()["fallback_reasons"]`: `reason` is the
    partitioner's words, `advice` what to change (None without a rule)."""
    return {
        "node": node.name,
        "op": node.target,
        "reason": node.reason,
        "advice": node.advice,
        "source": node.source,
        "module": node.module_path,
        "structural": node.structural,
    }
