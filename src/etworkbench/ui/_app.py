"""`Workbench`: the app. It wires the panels to the engine (`lower`, `preview`) and nothing more.

Scripted use goes through the same methods the buttons call: `select`, `lower` / `preview`
(blocking, return the report), `save`. The buttons run the engine in a background thread so
the notebook stays live (`background = False` runs them in the foreground, for tests).
All backends go to one engine call, so they share the export; several lower in parallel
worker processes. Cancel is honest: it kills running workers (their results say "Cancelled")
and no further backend starts; a single backend lowers in this process and, having no safe
midpoint, finishes.
"""

from __future__ import annotations

import html
import threading
from pathlib import Path
from typing import Any

import ipywidgets as W

from ..errors import UsageError
from ..lowering import LoweringReport, lower, preview
from ..lowering._programs import program_groups
from ..progress import Progress
from ._controls import Controls
from ._coverage_panel import CoveragePanel
from ._failures_panel import FailuresPanel
from ._graph_panel import GraphPanel
from ._save_panel import SavePanel
from ._sizes_panel import SizesPanel

_ERROR_STYLE = (
    "border-left:4px solid #c0392b;background:#fdecea;padding:6px 10px;margin:4px 0;"
    "font-family:sans-serif"
)


class Workbench(W.VBox):
    """Pick a model and backends, lower (or preview), and look at what each backend took."""

    background = True  # False: the Lower / Preview buttons run in the foreground

    def __init__(
        self,
        model: Any = None,
        example_inputs: tuple | None = None,
        backends: list[str] | None = None,
        example_kwargs: dict | None = None,
    ) -> None:
        self._python_model = model if model is not None and not isinstance(model, str) else None
        self._example_inputs = example_inputs
        self._example_kwargs = example_kwargs
        self.controls = Controls(has_python_model=self._python_model is not None)
        self.message = W.HTML()  # errors outside any backend, shown where the user looks
        self.graphs = GraphPanel()
        self.coverage = CoveragePanel()
        self.sizes = SizesPanel()
        self.failures = FailuresPanel(on_exclude=self.exclude_and_lower)
        self.saving = SavePanel()
        self.summary = W.HTML()
        self.panels = W.Tab(
            [self.graphs, self.coverage, self.sizes, self.failures, self.saving],
            titles=["graph", "coverage", "sizes", "failures", "save"],
        )
        self.report: LoweringReport | None = None
        self._thread: threading.Thread | None = None
        self._cancel = threading.Event()
        self.controls.lower_button.on_click(lambda _: self.start("lower"))
        self.controls.preview_button.on_click(lambda _: self.start("preview"))
        self.controls.cancel_button.on_click(lambda _: self.cancel())
        super().__init__([self.controls, self.message, self.summary, self.panels])
        if isinstance(model, str) or backends:
            self.select(model=model if isinstance(model, str) else None, backends=backends)

    # -- scripted use -------------------------------------------------------------------------
    def select(
        self,
        model: str | None = None,
        backends: list[str] | None = None,
        quantization: str | None = None,
        priority: bool | None = None,
        exclude_ops: list[str] | None = None,
    ) -> Workbench:
        """Set the controls as a user would; unknown names raise (and show) a UsageError."""
        c = self.controls
        try:
            if model is not None:
                if model in c.model.options:
                    c.model.value = model
                else:
                    c.model.value = c.model.options[-1]  # the file.py:factory reference field
                    c.reference.value = model
            if backends is not None:
                c.set_backends(list(backends))
            if priority is not None:
                c.priority.value = bool(priority)
            if quantization is not None:
                if quantization not in c.scheme.options:
                    raise UsageError(
                        f"scheme {quantization!r} is not offered by all of {c.order}; "
                        f"choose from {list(c.scheme.options)}"
                    )
                c.scheme.value = quantization
            if exclude_ops is not None:
                c.exclude.value = ", ".join(exclude_ops)
        except (UsageError, ValueError) as exc:
            self.show_error(exc)
            raise
        return self

    def lower(self) -> LoweringReport | None:
        """Lower with the current selection (blocking); shows and returns the report.

        Errors outside any backend (a bad model reference, no backend chosen) are shown in
        the app and give None rather than a traceback.
        """
        return self._run("lower")

    def preview(self) -> LoweringReport | None:
        """Placement only (float, no .pte): what each backend would take, in seconds."""
        return self._run("preview")

    def exclude_and_lower(self, op: str) -> threading.Thread | None:
        """What a failure's "exclude <op> and lower again" button does."""
        self.controls.add_exclude_op(op)
        return self.start("lower")

    def save(self, path: str | Path, backend: str | None = None) -> Path:
        """Write one backend's .pte atomically (the only one, or `backend`)."""
        if self.report is None:
            raise UsageError("nothing lowered yet: call wb.lower() first")
        ok = [r for r in self.report.results if r.ok and not r.preview]
        result = self.report[backend] if backend else (ok[0] if len(ok) == 1 else None)
        if result is None:
            raise UsageError(
                f"say which backend to save: backend= one of {[r.backend for r in ok]}"
            )
        row = self.saving.rows.get(result.backend)
        if row is not None:  # the row shows what was written, as the button would
            row.path.value = str(path)
            written = row.save()
            if written is None:
                raise UsageError(f"{result.backend}: not saved: {row.status.value}")
            return written
        return result.save(path)

    # -- the app ------------------------------------------------------------------------------
    def start(self, kind: str = "lower") -> threading.Thread | None:
        """What the Lower / Preview buttons do: the engine in a thread (or inline)."""
        self.controls.busy(True)
        self.controls.stage.value = "starting…"

        def work() -> None:
            try:
                self._run(kind)
            finally:
                self.controls.busy(False)

        if not self.background:
            work()
            return None
        self._thread = threading.Thread(target=work, name=f"etwb-{kind}", daemon=True)
        self._thread.start()
        return self._thread

    def cancel(self) -> None:
        self._cancel.set()
        self.controls.stage.value = (
            "<b>cancelling</b>: running workers are stopped, no further backend starts "
            "(a backend lowering in this process finishes first)"
        )

    def show(self, report: LoweringReport) -> None:
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

    def show_error(self, exc: BaseException) -> None:
        """An error outside any backend: a red box on top, the traceback in the failures tab."""
        kind = type(exc).__name__
        self.message.value = (
            f"<div class='etwb-error' style='{_ERROR_STYLE}'><b>{html.escape(kind)}</b>: "
            f"{html.escape(str(exc))}</div>"
        )
        self.failures.crash(exc)
        self.controls.stage.value = "<b style='color:#c0392b'>stopped</b> (see the message above)"

    def _run(self, kind: str) -> LoweringReport | None:
        self.message.value = ""
        try:
            report = self._engine(kind)
        except Exception as exc:  # shown in the app, not as a dead cell
            self.show_error(exc)
            return None
        if report is not None:
            self.show(report)
        return report

    def _engine(self, kind: str) -> LoweringReport | None:
        c = self.controls
        if not c.order:
            raise UsageError(
                "choose at least one backend (tick a box, or wb.select(backends=[...]))"
            )
        model = c.model_choice()
        if model == "":
            raise UsageError("type a model reference such as my_model.py:build or pkg.mod:build")
        target = self._python_model if model is None else model
        inputs = self._example_inputs if model is None else None
        kwargs = self._example_kwargs if model is None else None
        groups = program_groups(c.order, c.priority.value)  # the engine's own program labels
        labels = ["+".join(b.name for b in g) for g in groups]
        c.start_progress(labels)
        c.progress.max, c.progress.value = len(groups), 0
        self._cancel.clear()
        if kind == "preview":
            c.stage.value = "preview: <b>" + html.escape(", ".join(labels)) + "</b>"
            for label in labels:
                c.stage_reached(label, "preview")
            report = preview(
                target,
                list(c.order),
                example_inputs=inputs,
                example_kwargs=kwargs,
                priority=c.priority.value,
                exclude_ops=c.exclude_ops(),
            )
            for result in report.results:
                c.stage_reached(result.backend, "done" if result.status == "ok" else "failed")
            c.progress.value = len(groups)
            c.stage.value = "preview: done"
            return report

        def reached(event: Progress) -> None:
            c.progress_reached(event)
            if event.stage in ("done", "failed"):
                c.progress.value = min(c.progress.value + 1, len(groups))
            else:
                counts = f" {event.done}/{event.total}" if event.total is not None else ""
                c.stage.value = (
                    f"lower: <b>{html.escape(event.backend)}</b> "
                    f"({html.escape(event.stage + counts)})"
                )

        # One engine call, so the backends share the export and its functionalization. Several
        # backends lower in parallel worker processes, which Cancel stops; one lowers here, and
        # Cancel is asked before it starts.
        report = lower(
            target,
            list(c.order),
            c.scheme.value,
            example_inputs=inputs,
            example_kwargs=kwargs,
            priority=c.priority.value,
            progress=reached,
            exclude_ops=c.exclude_ops(),
            stop=self._cancel.is_set,
            jobs=0,
        )
        for result in report.results:
            if result.status == "unavailable":
                c.stage_reached(result.backend, "failed")
            elif result.error is not None and result.error.stage == "cancel":
                c.stage_reached(result.backend, "cancelled")
        stopped = [r.backend for r in report.results if r.error and r.error.stage == "cancel"]
        if stopped and not report.not_started:
            c.stage.value = "<b>cancelled</b>: stopped " + html.escape(", ".join(stopped))
            return report
        if report.not_started:
            for rest in report.not_started:
                c.stage_reached(rest, "cancelled")
            done = len(groups) - len(report.not_started)
            c.stage.value = (
                f"<b>cancelled</b> after {done} of {len(groups)}: not started: "
                + html.escape(", ".join(report.not_started))
            )
        else:
            c.progress.value = len(groups)
            c.stage.value = "lower: done"
        return report
