"""Turning an exception from a lowering stage into a `Failure`: stage, node, op, source line."""

from __future__ import annotations

import os
import re
import traceback
from dataclasses import dataclass

from ..analysis.placement import source_line

_LIBRARY_DIRS = tuple(
    os.sep + p + os.sep
    for p in (
        "torch",
        "torchvision",
        "executorch",
        "torchao",
        "coremltools",
        "openvino",
        "nncf",
        "tosa_tools",
        "ethosu",
    )
)


# executorch's message when an op a partitioner kept from decomposition was left undelegated.
_KEPT_BUT_REFUSED = "was not decomposed or delegated"
# coremltools' wordings of "this needs a newer deployment target" (state, iOS18 ops, ...)
_COREML_TARGET = re.compile(
    r"minimum_deployment_target\W{0,2}[^.]{0,30}?(?:coremltools\.target\.|ct\.target\.|to )"
    r"(iOS\d+)"
)


@dataclass
class Failure:
    """What went wrong in one backend's lowering, in the terms a user can act on."""

    stage: str  # export | quantize | to_edge | partition | preprocess | to_executorch | save | run
    type: str
    message: str
    node: str | None = None
    op: str | None = None
    source: str | None = None
    traceback: str = ""
    # The op to name in `exclude_ops` to keep this node on CPU. A backend's compiler may rewrite
    # ops (XNNPACK turns aten.max.dim into aten.amax) so the node it fails on is not in the graph
    # the partitioner saw; its `original_aten` is, and exclusion matches on it.
    exclude_op: str | None = None

    @property
    def one_line(self) -> str:
        first = self.message.strip().splitlines()[0] if self.message.strip() else self.type
        where = f" at node {self.node} ({self.op})" if self.node else ""
        return f"{self.stage} failed{where}: {self.type}: {first[:300]}"

    @property
    def exclude_hint(self) -> str:
        """What to type to keep the failing op on CPU, for stages where exclusion helps."""
        kept_but_refused = _KEPT_BUT_REFUSED in self.message
        if not self.exclude_op or (
            self.stage not in ("partition", "preprocess") and not kept_but_refused
        ):
            return ""
        return f"try --exclude-op {self.exclude_op} (exclude_ops=[...]) to keep it on CPU"


def triage(stage: str, exc: BaseException, op_name=None) -> Failure:
    """Find the fx node being processed when `exc` was raised, if any frame holds one."""
    import torch.fx

    node = None
    for frame, _ in traceback.walk_tb(exc.__traceback__):
        for value in frame.f_locals.values():
            if isinstance(value, torch.fx.Node) and value.op == "call_function":
                node = value  # keep the deepest one
    source = None
    if node is not None:
        source = source_line(node.meta.get("stack_trace")) or None
    if source is None:
        source = _user_frame(exc)
    op = exclude_op = None
    if node is not None:
        name = op_name or str
        op = name(node.target)
        original = node.meta.get("original_aten")
        exclude_op = name(original) if original is not None else op
    return Failure(
        stage=stage,
        type=type(exc).__name__,
        message=str(exc) or repr(exc),
        node=node.name if node is not None else None,
        op=op,
        source=source,
        exclude_op=exclude_op,
        traceback="".join(traceback.format_exception(type(exc), exc, exc.__traceback__)),
    )


def lead_with_summary(failure: Failure, inputs: str) -> Failure:
    """Put one line a user can act on, with the source line, before a long library message."""
    text = failure.message
    at = f" at {failure.source}" if failure.source else ""
    if failure.stage == "export" and (
        "data-dependent" in text or failure.type.startswith("GuardOnDataDependent")
    ):
        head = (
            f"torch.export cannot trace Python control flow that depends on tensor values{at}; "
            "use torch.cond, or branch on shapes or constants instead"
        )
    elif failure.stage == "export":
        first = text.strip().splitlines()[0][:300] if text.strip() else failure.type
        head = (
            f"torch.export failed running forward() on the example inputs ({inputs}){at}: "
            f"{first}; check that they match what forward() expects (shape, dtype, count)"
        )
    elif _KEPT_BUT_REFUSED in text:
        which = failure.exclude_op or "an operator"
        head = (
            f"the backend asked to keep {which} whole (not decomposed) but then did not take "
            f"this node{at}, so no CPU kernel can run it; exclude the op so it is decomposed "
            "and runs on CPU"
        )
    elif (needs := _COREML_TARGET.search(text)) is not None:
        target = needs.group(1)
        head = (  # the option first: it must survive `one_line`'s cut
            f"Core ML needs minimum_deployment_target {target} or later for this model: pass "
            f"--option coreml.minimum_deployment_target={target} (Python: options="
            f"{{'coreml': {{'minimum_deployment_target': '{target}'}}}}); e.g. a stateful model "
            "(mutable buffers) needs iOS18"
        )
    elif "mismatched dtypes" in text:
        match = re.search(r"Operator: <EdgeOpOverload: ([\w.]+)>", text)
        which = match.group(1) if match else "an operator"
        head = (
            f"{which} got tensors of different dtypes{at}; check the dtypes of the example "
            f"inputs ({inputs}) against the model's weights"
        )
    else:
        return failure
    failure.message = f"{head}\n\n{text}"
    return failure


def _user_frame(exc: BaseException) -> str | None:
    """The deepest traceback frame outside the ML libraries (the user's model code), if any."""
    here = os.path.dirname(os.path.dirname(__file__))
    best = None
    for frame, lineno in traceback.walk_tb(exc.__traceback__):
        filename = frame.f_code.co_filename
        if (
            any(d in filename for d in _LIBRARY_DIRS)
            or filename.startswith(here)
            or filename.startswith("<")
        ):
            continue
        best = (filename, lineno)
    if best is None:
        match = re.search(r'File "([^"]+)", line (\d+)', str(exc))
        if match and not any(d in match.group(1) for d in _LIBRARY_DIRS):
            best = (match.group(1), int(match.group(2)))
    if best is None:
        return None
    import linecache

    code = linecache.getline(best[0], best[1]).strip()
    return f"{best[0]}:{best[1]}: {code}"
