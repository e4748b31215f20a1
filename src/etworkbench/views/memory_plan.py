"""The memory plan over time, per backend: each planned tensor a rectangle (instructions it is
live at x its bytes in the arena), and the bytes live at each instruction under it.

Takes a `LoweringReport`, a `BackendResult`, a list of them, a `MemoryPlan` or a dict of label
-> `MemoryPlan`. The number of traces is bounded (one filled polygon trace and one hover trace
per colour group, three more per backend), so a plan of thousands of tensors stays one figure
plotly draws at once.
"""

from __future__ import annotations

import html
from typing import Any

from .._io import byte_unit, human_bytes
from ..analysis.memory_plan import KINDS, MemoryPlan, TensorLifetime, memory_plan
from ..errors import WorkbenchError
from .coverage_counts import iter_results

KIND_COLOURS = {
    "input": "#7f8c8d",
    "state": "#8e44ad",
    "kernel": "#e67e22",  # a CPU kernel wrote it
    "delegate": "#4c9be8",
    "view": "#bdc3c7",
}
KIND_LABELS = {
    "input": "method input",
    "state": "state (mutable buffer)",
    "kernel": "written by a CPU kernel",
    "delegate": "written by a delegate",
    "view": "view (shares its base's bytes)",
}
MEM_COLOURS = ("#4c9be8", "#e67e22", "#27ae60", "#8e44ad", "#c0392b", "#16a085", "#7f8c8d")
TICK_LABELS_UP_TO = 40  # instructions; above this the x axis is numbered only


def plans_for(results: Any, method: str | None = None) -> tuple[list[tuple[str, MemoryPlan]], str]:
    """([(label, plan)], why some backends have none) for anything the figure takes."""
    if isinstance(results, MemoryPlan):
        return [(results.method, results)], ""
    if isinstance(results, dict):
        return list(results.items()), ""
    plans, missing = [], []
    for result in iter_results(results):
        label = f"{result.backend} ({result.scheme})"
        if result.preview or not result.ok:
            missing.append(f"{result.backend}: {'preview' if result.preview else result.status}")
            continue
        try:
            plans.append((label, memory_plan(result, method)))
        except WorkbenchError as exc:  # a corrupt program or a missing method
            missing.append(f"{result.backend}: {exc}")
    return plans, ", ".join(missing)


def short_label(op: str) -> str:
    """'aten::convolution.out' -> 'convolution', 'XnnpackBackend' -> 'xnnpack'."""
    name = op.split("::")[-1].removesuffix(".out").removesuffix(".default")
    return name.removesuffix("Backend").lower() if name.endswith("Backend") else name


def _hover(t: TensorLifetime) -> str:
    shape = "x".join(map(str, t.shape)) or "scalar"
    text = (
        f"v{t.value_index}: {html.escape(t.producer)}<br>{shape} {t.dtype}, "
        f"{human_bytes(t.nbytes)} ({t.nbytes:,} B)<br>id {t.mem_id} at +{t.offset:,} B"
        f"<br>live at instructions {t.first}-{t.last}"
    )
    if t.alias_of is not None:
        text += f"<br>view of v{t.alias_of}"
    return text + ("<br>method output" if t.output else "")


def memory_plan_figure(results: Any, colour: str = "kind", method: str | None = None):
    """Side by side per backend: tensor rectangles over instructions (top), live bytes (bottom).

    `colour` is "kind" (what wrote the tensor: a delegate, a CPU kernel, an input...) or
    "mem_id" (its arena). Arenas of one program are stacked on the y axis in memory id order.
    """
    from plotly.subplots import make_subplots

    if colour not in ("kind", "mem_id"):
        raise ValueError(f"colour is 'kind' or 'mem_id', not {colour!r}")
    plans, missing = plans_for(results, method)
    columns = max(len(plans), 1)
    fig = make_subplots(
        rows=2,
        cols=columns,
        row_heights=[0.72, 0.28],
        vertical_spacing=0.08,
        horizontal_spacing=0.06 if columns > 1 else 0.02,
        shared_xaxes=True,
        subplot_titles=[label for label, _ in plans] + [""] * columns,
    )
    largest = max((plan.arena_bytes for _, plan in plans), default=0)
    scale, unit = byte_unit(largest)
    shown: set[str] = set()
    for column, (_, plan) in enumerate(plans, start=1):
        for trace in _rectangles(plan, colour, scale, shown):
            fig.add_trace(trace, row=1, col=column)
        for trace in _live(plan, scale, first=column == 1):
            fig.add_trace(trace, row=2, col=column)
        n = len(plan.instructions)
        axis = {"range": [-0.6, max(n, 1) - 0.4], "zeroline": False}
        if n <= TICK_LABELS_UP_TO:
            labels = [f"{i} {short_label(op)}" for i, op in enumerate(plan.instructions)]
            axis.update(tickvals=list(range(n)), ticktext=labels, tickangle=-60)
        fig.update_xaxes(axis, row=2, col=column, title_text="instruction")
        fig.update_xaxes(range=axis["range"], row=1, col=column)
        fig.update_yaxes(
            title_text=f"arena offset ({unit})" if column == 1 else None, row=1, col=column
        )
        fig.update_yaxes(title_text=f"live ({unit})" if column == 1 else None, row=2, col=column)
    title = f"Memory plan: planned tensors over instructions ({unit})"
    if missing:
        title += f"<br><sup>no memory plan: {html.escape(missing)}</sup>"
    if not plans:
        fig.add_annotation(text="nothing to draw", showarrow=False, row=1, col=1)
    fig.update_layout(title=title, height=600, hovermode="closest", legend={"orientation": "h"})
    return fig


def _rectangles(plan: MemoryPlan, colour: str, scale: float, shown: set[str]) -> list[Any]:
    """Per colour group: one filled polygon trace (the rectangles) and one invisible marker
    trace at their centres that carries the hover."""
    import plotly.graph_objects as go

    base = [0]  # each arena starts where the one before it ends
    for size in plan.arenas[1:]:
        base.append(base[-1] + size)
    groups: dict[str, list[TensorLifetime]] = {}
    for t in plan.tensors:
        groups.setdefault(t.kind if colour == "kind" else f"id {t.mem_id}", []).append(t)
    order = [k for k in KINDS if k in groups] if colour == "kind" else sorted(groups)
    traces = []
    for key in order:
        tensors = groups[key]
        if colour == "kind":
            fill, name = KIND_COLOURS[key], KIND_LABELS[key]
        else:
            fill, name = MEM_COLOURS[(int(key[3:]) - 1) % len(MEM_COLOURS)], f"arena {key}"
        xs: list[float | None] = []
        ys: list[float | None] = []
        cx, cy, text = [], [], []
        for t in tensors:
            y0 = (base[t.mem_id - 1] if 0 < t.mem_id <= len(base) else 0) + t.offset
            x0, x1, y1 = t.first - 0.45, t.last + 0.45, y0 + t.nbytes
            xs += [x0, x1, x1, x0, x0, None]
            ys += [y0 / scale, y0 / scale, y1 / scale, y1 / scale, y0 / scale, None]
            cx.append((t.first + t.last) / 2)
            cy.append((y0 + y1) / 2 / scale)
            text.append(_hover(t))
        first = key not in shown
        shown.add(key)
        traces.append(
            go.Scatter(
                x=xs,
                y=ys,
                mode="lines",
                fill="toself",
                fillcolor=fill,
                opacity=0.55 if key == "view" else 0.8,
                line={"width": 0.6, "color": "#333"},
                name=name,
                legendgroup=key,
                showlegend=first,
                hoverinfo="skip",
            )
        )
        traces.append(
            go.Scatter(
                x=cx,
                y=cy,
                mode="markers",
                marker={"size": 6, "opacity": 0, "color": fill},
                text=text,
                hovertemplate="%{text}<extra></extra>",
                legendgroup=key,
                showlegend=False,
            )
        )
    return traces


def _live(plan: MemoryPlan, scale: float, first: bool) -> list[Any]:
    """Live bytes per instruction, the arenas' total as a dashed line, delegate calls marked."""
    import plotly.graph_objects as go

    n = len(plan.instructions)
    live = plan.peak_bytes_by_instruction
    traces = [
        go.Scatter(
            x=list(range(n)),
            y=[b / scale for b in live],
            customdata=[
                f"{human_bytes(b)} live at {i} ({op})"
                for i, (b, op) in enumerate(zip(live, plan.instructions, strict=True))
            ],
            mode="lines",
            line={"shape": "hvh", "color": "#2c3e50"},
            fill="tozeroy",
            name="live bytes",
            legendgroup="live",
            showlegend=first,
            hovertemplate="%{customdata}<extra></extra>",
        ),
        go.Scatter(
            x=[-0.5, max(n, 1) - 0.5],
            y=[plan.arena_bytes / scale] * 2,
            mode="lines",
            line={"dash": "dash", "color": "#555", "width": 1},
            name="arena size",
            legendgroup="arena",
            showlegend=first,
            hovertemplate=f"arenas: {human_bytes(plan.arena_bytes)}<extra></extra>",
        ),
    ]
    calls = [(i, op) for i, op in enumerate(plan.instructions) if op.endswith("Backend")]
    if calls:
        traces.append(
            go.Scatter(
                x=[i for i, _ in calls],
                y=[0] * len(calls),
                mode="markers",
                marker={"symbol": "triangle-up", "size": 9, "color": KIND_COLOURS["delegate"]},
                text=[f"instruction {i}: delegate call ({op})" for i, op in calls],
                hovertemplate="%{text}<extra></extra>",
                name="delegate call",
                legendgroup="calls",
                showlegend=first,
            )
        )
    return traces
