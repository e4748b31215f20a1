"""The compile specs each delegate of a .pte was lowered with, read back from the file.

executorch stores every delegate's `CompileSpec` list (key, value bytes) in the program
flatbuffer next to its payload, so what a backend option did (Core ML's `compute_units`,
`min_deployment_target`; Vulkan's `force_fp16`; OpenVINO's `device`) can be checked on the
.pte itself, not only on the call that made it.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class DelegateSpecs:
    """One delegate call's backend id and its compile specs (key -> raw bytes)."""

    backend_id: str
    specs: dict[str, bytes] = field(default_factory=dict)

    def text(self, key: str) -> str | None:
        """A spec's value as UTF-8 text (Core ML's and OpenVINO's are text), None if absent."""
        value = self.specs.get(key)
        return None if value is None else value.decode("utf-8", errors="replace")


def delegate_compile_specs(pte: bytes, method: str = "forward") -> list[DelegateSpecs]:
    """Every delegate of `method` (else the first method) in order, with its compile specs.

    Parses in this process: for the workbench's own programs; `analysis.pte_file.inspect_pte`
    is the guarded reader for files from elsewhere."""
    from .._compat.pte import deserialize_pte

    plans = deserialize_pte(bytes(pte)).program.execution_plan
    plan = next((p for p in plans if p.name == method), plans[0] if plans else None)
    if plan is None:
        return []
    return [
        DelegateSpecs(str(d.id), {str(s.key): bytes(s.value) for s in d.compile_specs})
        for d in plan.delegates
    ]
