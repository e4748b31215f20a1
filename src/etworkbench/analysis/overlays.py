"""Per-node values laid over the partitioned graph: a numerical gap, a latency, any measure.

The one shape every producer (numerics, ETDump latency, a device profile) hands to every view
(graph colour modes, the worst-nodes table, Model Explorer node data), so a view never knows
where the numbers came from. Keys are the placement's node names (`NodePlacement.name`), or a
delegate id (`lowered_module_0`) for a value measured per delegate call only (an ETDump
delegate call whose ops carry no debug handles): views colour that delegate's box or frame.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class NodeOverlay:
    """One measure per graph node.

    `name` is the colour mode ("error", "latency"); `unit` labels the legend ("dB", "ms");
    `values` maps node names to the number that is coloured; `details` holds, per node, the
    metrics the node's detail pane lists (e.g. max abs error, SNR, cosine); `higher_is_worse`
    orders the worst-nodes table (False for SNR-like measures); `note` says what was measured
    (inputs, executions, which program).
    """

    name: str
    unit: str
    values: dict[str, float] = field(default_factory=dict)
    details: dict[str, dict[str, Any]] = field(default_factory=dict)
    higher_is_worse: bool = True
    note: str = ""

    def worst(self, count: int = 10) -> list[tuple[str, float]]:
        """The `count` nodes with the worst values, worst first (ties by node name)."""
        sign = -1.0 if self.higher_is_worse else 1.0
        ranked = sorted(self.values.items(), key=lambda item: (sign * item[1], item[0]))
        return ranked[:count]

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "unit": self.unit,
            "higher_is_worse": self.higher_is_worse,
            "note": self.note,
            "values": dict(self.values),
            "details": {node: dict(metrics) for node, metrics in self.details.items()},
        }
