"""executorch.devtools internals, written for executorch 1.5.1: the ETDump's intermediate outputs.

`Inspector(etdump, etrecord, debug_buffer)` resolves each runtime event's debug handles through
the ETRecord (public); what it does not expose publicly is the instruction an event belongs to
(`Event._instruction_id`), used here only to order events. Everything else is public API:
`Event.name`, `debug_handles`, `debug_data`, `num_outputs`, `delegate_backend_name`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# Framework events and the OPERATOR_CALL wrapper of a kernel (executorch skips the same ones
# in `_get_runtime_intermediate_outputs_and_op_names`): their data is another event's.
_SKIPPED = {"OPERATOR_CALL", "Method::execute", "Method::init", "Program::load_method"}


@dataclass
class RuntimeValue:
    """One runtime event that logged outputs: a CPU kernel call or a delegate call."""

    event: str  # "DELEGATE_CALL", "native_call_mean.out"
    backend: str | None  # delegate backend id for DELEGATE_CALL, else None
    handles: tuple[int, ...]  # the edge program's debug handles this event covers
    outputs: list[Any]  # the event's output tensors (its inputs, also logged, dropped)
    instruction: int


class DevtoolsMissing(RuntimeError):
    """executorch.devtools (Inspector, ETRecord) is not importable in this environment."""


def inspector_class() -> Any:
    try:
        from executorch.devtools import Inspector
    except ImportError as exc:  # a runtime-only install
        raise DevtoolsMissing(
            f"executorch.devtools is not importable ({exc}); per-node numerics need it "
            "(pip install executorch, which ships devtools)"
        ) from exc
    return Inspector


def intermediate_outputs(etdump: str, debug_buffer: str, etrecord: str) -> list[RuntimeValue]:
    """Every event of the (single) execution that logged output tensors, in instruction order.

    A delegate call logs its inputs and then its outputs; the last `num_outputs` are outputs.
    """
    import warnings

    inspector_type = inspector_class()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        inspector = inspector_type(
            etdump_path=etdump, etrecord=etrecord, debug_buffer_path=debug_buffer
        )
    found: list[RuntimeValue] = []
    for block in inspector.event_blocks:
        if block.name != "Execute":
            continue
        for event in block.events:
            if event.name in _SKIPPED or not event.debug_data or event.debug_handles is None:
                continue
            handles = event.debug_handles
            handles = (handles,) if isinstance(handles, int) else tuple(handles)
            count = max(1, int(event.num_outputs or 1))
            found.append(
                RuntimeValue(
                    event=event.name,
                    backend=event.delegate_backend_name,
                    handles=handles,
                    outputs=list(event.debug_data[-count:]),
                    instruction=int(event._instruction_id or 0),  # executorch 1.5.1
                )
            )
    found.sort(key=lambda value: value.instruction)
    return found
