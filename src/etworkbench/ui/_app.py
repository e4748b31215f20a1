"""`Workbench`: the app. It wires the panels to the engine (`lower`) and nothing more.

Scripted use goes through the same methods the buttons call: `select`, `lower` (blocking),
`save`. The Lower button runs the engine in a background thread so the notebook stays live;
Cancel stops at the next stage boundary the engine reports.
"""

from __future__ import annotations

import html
import threading
from pathlib import Path
from typing import Any

import ipywidgets as W

from ..lowering import lower
from ._controls import Controls
from ._coverage_panel import CoveragePanel
from ._failures_panel import FailuresPanel
from ._graph_panel import GraphPanel
from ._save_panel import SavePanel
from ._sizes_panel import SizesPanel


class Cancelled(Exception):
    """Raised from the progress callback to stop a lowering the user cancelled."""


class Workbench(W.VBox):
    """Pick a model and backends, lower, and look at what each backend took."""

    def __init__(self, model: Any = None, example_inputs: tuple | None = None) -> None:
        self._python_model = model if model is not None and not isinstance(model, str) else None
        self._example_inputs = example_inputs
        self.controls = Controls(has_python_model=self._python_model is not None)
        if isinstance(model, str):
            self.select(model=model)
        self.graphs = GraphPanel()
        self.coverage = CoveragePanel()
        self.sizes = SizesPanel()
        self.failures = FailuresPanel()
        self.saving = SavePanel()
        self.summary = W.HTML()
        self.panels = W.Tab(
            [self.graphs, self.coverage, self.sizes, self.failures, self.saving],
            titles=["graph", "coverage", "sizes", "failures", "save"],
        )
        self.report = None
        self._thread: threading.Thread | None = None
        self._cancel = threading.Event()
        self.controls.lower_button.on_click(lambda _: self.lower_in_background())
        self.controls.cancel_button.on_click(lambda _: self.cancel())
        super().__init__([self.controls, self.summary, self.panels])

    # -- scripted use -------------------------------------------------------------------------
    def select(
        self,
        model: str | None = None,
        backends: list[str] | None = None,
        quantization: str | None = None,
    ) -> Workbench:
        c = self.controls
        if model is not None:
            if model in c.model.options:
                c.model.value = model
            else:
                c.model.value = c.model.options[-1]  # the reference field
                c.reference.value = model
        if backends is not None:
            c.set_backends(list(backends))
        if quantization is not None:
            if quantization not in c.scheme.options:
                raise ValueError(
                    f"scheme {quantization!r} is not supported by all of {c.order}; "
                    f"choose from {list(c.scheme.options)}"
                )
            c.scheme.value = quantization
        return self

    def lower(self):
        """Lower with the current selection (blocking); shows and returns the LoweringReport."""
        c = self.controls
        if not c.order:
            raise ValueError("choose at least one backend: wb.select(backends=['xnnpack'])")
        self._cancel.clear()
        c.progress.max = len(c.order) if not c.priority.value else 1
        c.progress.value = 0
        stages: dict[str, str] = {}
        model = c.model_choice()
        report = lower(
            self._python_model if model is None else model,
            list(c.order),
            c.scheme.value,
            example_inputs=self._example_inputs if model is None else None,
            priority=c.priority.value,
            progress=lambda label, stage: self._progress(stages, label, stage),
        )
        self.show(report)
        return report

    def save(self, path: str | Path, backend: str | None = None) -> Path:
        """Write one backend's .pte atomically (the only one, or `backend`)."""
        if self.report is None:
            raise ValueError("nothing lowered yet: call wb.lower() first")
        ok = [r for r in self.report.results if r.ok]
        result = self.report[backend] if backend else (ok[0] if len(ok) == 1 else None)
        if result is None:
            raise ValueError(
                f"several results, say which: backend= one of {[r.backend for r in ok]}"
            )
        written = result.save(path)
        row = self.saving.rows.get(result.backend)
        if row is not None:
            row.path.value = str(written)
            row.status.value = f"wrote <code>{html.escape(str(written))}</code> ({written.stat().st_size / 1e6:.3f} MB)"
        return written

    # -- the app ------------------------------------------------------------------------------
    def show(self, report) -> None:
        self.report = report
        self.summary.value = f"<pre>{html.escape(report.summary())}</pre>"
        self.graphs.show(report)
        self.coverage.show(report.results)
        self.sizes.show(report)
        self.failures.show(report)
        self.saving.show(report)
        bad = [r for r in report.results if r.status != "ok"]
        self.panels.titles = [
            "graph",
            "coverage",
            "sizes",
            f"failures ({len(bad)})" if bad else "failures",
            "save",
        ]

    def lower_in_background(self) -> threading.Thread:
        """What the Lower button does: the engine in a thread, progress via its callback."""
        self.controls.busy(True)
        self.controls.stage.value = "starting…"

        def work() -> None:
            try:
                self.lower()
            except Cancelled:
                self.controls.stage.value = "<b>cancelled</b> (at a stage boundary; nothing shown)"
            except Exception as exc:  # shown in the app, not as a dead cell
                self.failures.crash(exc)
                self.panels.selected_index = 3
                self.controls.stage.value = (
                    f"<b style='color:#c0392b'>failed:</b> {html.escape(str(exc))}"
                )
            finally:
                self.controls.busy(False)

        self._thread = threading.Thread(target=work, name="etwb-lower", daemon=True)
        self._thread.start()
        return self._thread

    def cancel(self) -> None:
        self._cancel.set()
        self.controls.stage.value += " · cancelling at the next stage…"

    def _progress(self, stages: dict[str, str], label: str, stage: str) -> None:
        if self._cancel.is_set():
            raise Cancelled(label)
        stages[label] = stage
        done = sum(1 for s in stages.values() if s in ("done", "failed"))
        self.controls.progress.value = min(done, self.controls.progress.max)
        self.controls.stage.value = " · ".join(
            f"<b>{html.escape(k)}</b>: {html.escape(v)}" for k, v in stages.items()
        )
