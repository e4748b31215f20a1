"""A cache hit proves itself: the stored program must still compute what it computed.

When a program that runs on this host is stored, its outputs on the example inputs are stored
with it (inputs too, so a zoo model served by name need not be built). On a hit the program is
run once on those inputs; a different answer (a damaged or swapped file, a runtime that changed
underneath) discards the entry and the model is lowered again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class StoredAnswer:
    """The flat inputs a program was run on and the tensors it returned."""

    inputs: list[Any]
    outputs: list[Any]


def answer_of(result: Any, spec: Any) -> StoredAnswer | None:
    """The program's answer on the example inputs, or None when it does not run here."""
    from ..models._inputs import flat_inputs
    from ..runtime import runnability

    try:
        if runnability(result) is not None:
            return None
        inputs = flat_inputs(tuple(spec.example_inputs), dict(spec.example_kwargs))
        outputs = _execute(result.pte_data, inputs)
    except Exception:  # e.g. an input the runtime refuses: nothing to check against later
        return None
    return StoredAnswer(inputs, outputs)


def still_answers(buffer: bytes, stored: StoredAnswer) -> bool:
    """True when `buffer` run on the stored inputs gives the stored outputs."""
    import torch

    try:
        outputs = _execute(buffer, stored.inputs)
    except Exception:
        return False
    return len(outputs) == len(stored.outputs) and all(
        a.shape == b.shape and a.dtype == b.dtype and torch.allclose(a, b, rtol=1e-5, atol=1e-6)
        for a, b in zip(outputs, stored.outputs, strict=True)
    )


def _execute(buffer: bytes, inputs: list[Any]) -> list[Any]:
    import torch
    from executorch.runtime import Runtime

    method = Runtime.get().load_program(buffer).load_method("forward")
    return [out.clone() for out in method.execute(list(inputs)) if isinstance(out, torch.Tensor)]
