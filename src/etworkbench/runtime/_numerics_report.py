"""What per-node numerics report: each node's gap to the float model, and the first that diverges.

The default threshold, relative error 1e-3 (max abs error / max abs of the float tensor), sits
between the two kinds of gap a program shows: fp32 delegates only reorder float arithmetic
(~1e-6 relative, measured on XNNPACK), while one int8 step is 1/255 of a tensor's range
(~4e-3). So at 1e-3 an fp32 program has no diverging node and an int8 one diverges at the first
node that carries quantization noise.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

DEFAULT_THRESHOLD = 1e-3
METRICS = ("max_abs", "relative", "snr_db", "cosine")


@dataclass
class NodeGap:
    """One graph node whose runtime output was recorded, against the float model's value.

    `name` is the placement's node name (`NodePlacement.name`), so the graph can colour it; a
    delegate reports at its outputs (`lowered_module_0/<inner node>`), a CPU kernel per op.
    """

    name: str
    op: str  # the model op it stands for (source op), e.g. aten.conv2d.default
    placement: str  # the delegate's backend ("xnnpack") or "cpu"
    order: int  # position in the graph's topological order
    max_abs: float
    relative: float | None  # max_abs / max |reference|; None when the reference is all zero
    snr_db: float  # 10 log10(sum ref^2 / sum err^2); inf when equal
    cosine: float
    shape: tuple[int, ...] = ()
    event: str = ""  # the ETDump event: DELEGATE_CALL or native_call_<op>
    reference: str = ""  # the float model's node it is compared with
    module_path: str = ""  # the nn.Module it came from (a delegate output: its ops' common one)

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["shape"] = list(self.shape)
        data["snr_db"] = None if math.isinf(self.snr_db) else self.snr_db  # JSON has no inf
        return data


@dataclass
class NumericsReport:
    """Per-node numerical gap of one program run here, against the float (eager) model."""

    status: str  # ok | not runnable here | not run | failed
    reason: str = ""
    backend: str = ""
    threshold: float = DEFAULT_THRESHOLD  # on `relative`
    rows: list[NodeGap] = field(default_factory=list)  # in topological order
    unmatched: list[str] = field(default_factory=list)  # recorded outputs with no float twin
    note: str = ""
    seconds: dict[str, float] = field(default_factory=dict)
    cached: bool = False

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def first_diverging(self) -> NodeGap | None:
        """The earliest node (topological order) whose relative error exceeds `threshold`."""
        return next(
            (r for r in self.rows if r.relative is not None and r.relative > self.threshold), None
        )

    @property
    def last(self) -> NodeGap | None:
        return self.rows[-1] if self.rows else None

    def worst(self, count: int = 10, metric: str = "relative") -> list[NodeGap]:
        higher_is_worse = metric in ("max_abs", "relative")

        def key(row: NodeGap) -> float:
            value = getattr(row, metric)
            value = -math.inf if value is None else value
            return -value if higher_is_worse else value

        return sorted(self.rows, key=lambda r: (key(r), r.order))[:count]

    def overlay(self, metric: str = "relative") -> Any:
        """The gap as a `NodeOverlay` named "error", keyed by placement node names."""
        from ..analysis.overlays import NodeOverlay

        if metric not in METRICS:
            raise ValueError(f"metric must be one of {', '.join(METRICS)}; got {metric!r}")
        units = {"max_abs": "abs", "relative": "rel", "snr_db": "dB", "cosine": "cos"}
        values = {r.name: getattr(r, metric) for r in self.rows if getattr(r, metric) is not None}
        return NodeOverlay(
            name="error",
            unit=units[metric],
            values=values,
            details={r.name: {m: r.to_dict()[m] for m in METRICS} for r in self.rows},
            higher_is_worse=metric in ("max_abs", "relative"),
            note=f"{self.backend}: gap to float per node ({self.note})",
        )

    def to_dict(self) -> dict[str, Any]:
        first = self.first_diverging
        return {
            "status": self.status,
            "reason": self.reason or None,
            "backend": self.backend,
            "threshold": self.threshold,
            "first_diverging": first.name if first else None,
            "rows": [r.to_dict() for r in self.rows],
            "unmatched": list(self.unmatched),
            "note": self.note,
            "seconds": dict(self.seconds),
            "cached": self.cached,
        }

    def to_dataframe(self) -> Any:
        import pandas as pd

        return pd.DataFrame([r.to_dict() for r in self.rows])

    def summary(self, count: int = 10) -> str:
        """The worst `count` nodes and the first diverging one, as text (CLI, repr)."""
        if not self.ok:
            return f"numerics {self.backend}: {self.status}: {self.reason}"
        first = self.first_diverging
        lines = [
            f"numerics {self.backend}: {len(self.rows)} nodes compared with float ({self.note})",
            "  first diverging (relative > "
            f"{self.threshold:g}): "
            + (f"{first.name} ({first.op}, {first.placement})" if first else "none"),
            f"  {'node':<58} {'op':<28} {'where':<8} {'max abs':>9} {'rel':>9} "
            f"{'SNR dB':>7} {'cos':>8}",
        ]
        for row in self.worst(count):
            rel = f"{row.relative:.2e}" if row.relative is not None else "n/a"
            snr = "inf" if math.isinf(row.snr_db) else f"{row.snr_db:.1f}"
            lines.append(
                f"  {row.name[:58]:<58} {row.op[:28]:<28} {row.placement[:8]:<8} "
                f"{row.max_abs:>9.2e} {rel:>9} {snr:>7} {row.cosine:>8.5f}"
            )
        return "\n".join(lines)

    def _repr_pretty_(self, printer, cycle) -> None:  # IPython
        printer.text(self.summary())


def gap_metrics(reference: Any, value: Any) -> tuple[float, float | None, float, float]:
    """(max abs, relative to max |reference|, SNR dB, cosine) of `value` against `reference`."""
    ref, out = reference.double().flatten(), value.double().flatten()
    err = out - ref
    max_abs = float(err.abs().max()) if err.numel() else 0.0
    scale = float(ref.abs().max()) if ref.numel() else 0.0
    signal, noise = float((ref * ref).sum()), float((err * err).sum())
    snr = math.inf if noise == 0 else (10 * math.log10(signal / noise) if signal > 0 else -math.inf)
    norms = float(ref.norm() * out.norm())
    cosine = float((ref * out).sum()) / norms if norms > 0 else (1.0 if max_abs == 0 else 0.0)
    return max_abs, (max_abs / scale if scale > 0 else None), snr, cosine
