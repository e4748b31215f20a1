"""`Workbench`: the app. It runs the engine (`lower`, `preview`) and keeps `state`, one
`WorkbenchState` that the panels observe: each redraws itself, and says so when what it shows is
stale (the selection changed, a new run is under way, or the last run stopped with an error).
A preview goes beside the last lowering (save and sizes keep the lowered programs).

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

from .._compat.output import quiet_native_noise
from ..errors import UsageError
from ..lowering import LoweringReport, lower, preview
from ..lowering._programs import program_groups
from ..progress import Progress
from ._controls import Controls
from ._coverage_panel import CoveragePanel
from ._failures_panel import FailuresPanel
from ._failures_panel import title as failures_title
from ._graph_panel import GraphPanel
from ._save_panel import SavePanel
from ._sizes_panel import SizesPanel
from ._stale import STYLE
from ._state import WorkbenchState, is_cancelled
from ._summary_panel import SummaryPanel

# The app's CSS beside the stale rules: tab titles as wide as their text (ipywidgets caps them
# at 144 px and cuts "xnnpack+coreml+vulkan (preview)"), rows of tabs that wrap, and table
# headers that wrap instead of widening a table past its panel.
APP_CLASS = "etwb-app"
LAYOUT_STYLE = (
    f"<style>.{APP_CLASS} .lm-TabBar-tab, .{APP_CLASS} .p-TabBar-tab "
    "{flex:0 0 auto !important; max-width:none !important}"
    f" .{APP_CLASS} .lm-TabBar-content, .{APP_CLASS} .p-TabBar-content {{flex-wrap:wrap}}"
    f" .{APP_CLASS} table.etwb-table thead th {{white-space:normal; vertical-align:bottom}}"
    "</style>"
)
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
        quiet_native_noise()  # the libraries' C++ log lines, not the user's output (see there)
        self._python_model = model if model is not None and not isinstance(model, str) else None
        self._example_inputs = example_inputs
        self._example_kwargs = example_kwargs
        self.state = WorkbenchState()
        self.controls = Controls(has_python_model=self._python_model is not None)
        self.message = W.HTML()  # errors outside any backend, shown where the user looks
        self.graphs = GraphPanel(self.state)
        self.coverage = CoveragePanel(self.state)
        self.sizes = SizesPanel(self.state)
        self.failures = FailuresPanel(on_exclude=self.exclude_and_lower, state=self.state)
        self.saving = SavePanel(self.state)
        self.summary = SummaryPanel(self.state)
        self.panels = W.Tab(
            [self.graphs, self.coverage, self.sizes, self.failures, self.saving],
            titles=["graph", "coverage", "sizes", "failures", "save"],
        )
        self._thread: threading.Thread | None = None
        self._cancel = threading.Event()
        self.controls.lower_button.on_click(lambda _: self.start("lower"))
        self.controls.preview_button.on_click(lambda _: self.start("preview"))
        self.controls.cancel_button.on_click(lambda _: self.cancel())
        self.state.observe(self._error_changed, ["error", "exception"])
        self.state.observe(self._retitle, ["lowered", "previewed", "showing", "exception"])
        self.state.selection = self.controls.selection()
        self.controls.on_selection(self._selected)
        super().__init__(
            [W.HTML(STYLE + LAYOUT_STYLE), self.controls, self.message, self.summary, self.panels]
        )
        self.add_class(APP_CLASS)
        if isinstance(model, str) or backends:
            self.select(model=model if isinstance(model, str) else None, backends=backends)
        self.controls.start_probes()  # last: availability fills in while the app is on screen

    # -- scripted use -------------------------------------------------------------------------
    def select(
        self,
        model: str | None = None,
        backends: list[str] | None = None,
        quantization: str | None = None,
        priority: bool | None = None,
        exclude_ops: list[str] | None = None,
        dynamic: str | None = None,
        options: dict | None = None,
        float_modules: list[str] | None = None,
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
            if dynamic is not None:  # "x:0=1..8, ..." as typed in "dynamic dims"
                c.dynamic.value = dynamic
            if float_modules is not None:  # as typed in "keep in float"
                c.keep_float.value = ", ".join(float_modules)
            if options is not None:  # as lower(options=...) takes them, for ticked backends
                c.backend_options.set(options)
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
        lowered = self.state.lowered  # a preview since then has no .pte: the lowering's stay
        if lowered is None:
            raise UsageError("nothing lowered yet: call wb.lower() first")
        ok = [r for r in lowered.results if r.ok and not r.preview]
        result = lowered[backend] if backend else (ok[0] if len(ok) == 1 else None)
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
        written = result.save(path)
        self.state.saved_to(result.backend, written)
        return written

    def open_model_explorer(
        self, backend: str | None = None, directory: str | Path | None = None, height: int = 800
    ) -> Any:
        """The shown results (or one backend's) in Google's Model Explorer, for graphs too big
        for the graph tab: an IFrame of its local server (`views.model_explorer.show`)."""
        from ..views.model_explorer import show

        report = self.state.report
        if report is None:
            raise UsageError("nothing lowered yet: call wb.lower() or wb.preview() first")
        overlays = self.graphs.overlays() if report is self.graphs.shown else None
        return show(report[backend] if backend else report, directory, height, overlays=overlays)

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
        self.state.cancel()
        self.controls.stage.value = (
            "<b>cancelling</b>: running workers are stopped, no further backend starts "
            "(a backend lowering in this process finishes first)"
        )

    @property
    def report(self) -> LoweringReport | None:
        """The last run's report as the tabs show it: the preview if one came after the
        lowering, else the lowering (`state.lowered`, which save and sizes show)."""
        return self.state.report

    def show(self, report: LoweringReport) -> None:
        """Hand a report to the panels (through `state`): a preview's goes beside the lowering."""
        preview = any(r.preview for r in report.results)
        self.state.finish(report, "preview" if preview else "lower")

    def show_error(self, exc: BaseException) -> None:
        """An error outside any backend: a red box on top, the traceback in the failures tab;
        the results still on screen are marked stale."""
        self.state.fail(exc)
        self.controls.stage.value = "<b style='color:#c0392b'>stopped</b> (see the message above)"

    def _selected(self, selection) -> None:
        self.state.selection = selection

    def _error_changed(self, _change=None) -> None:
        exc, error = self.state.exception, self.state.error
        if not error:
            self.message.value = ""
            return
        kind, text = (type(exc).__name__, str(exc)) if exc is not None else ("error", error)
        self.message.value = (
            f"<div class='etwb-error' style='{_ERROR_STYLE}'><b>{html.escape(kind)}</b>: "
            f"{html.escape(text)}</div>"
        )

    def _retitle(self, _change=None) -> None:
        titles = ["graph", "coverage", "sizes", "failures", "save"]
        titles[3] = failures_title(self.state.report, self.state.exception is not None)
        self.panels.titles = titles

    def _run(self, kind: str) -> LoweringReport | None:
        self.state.begin(kind)  # clears the message and export notes; old results go stale
        try:
            report = self._engine(kind)
        except Exception as exc:  # shown in the app, not as a dead cell
            self.show_error(exc)
            return None
        if report is not None:
            self.state.finish(report, kind)
        return report

    def _engine(self, kind: str) -> LoweringReport | None:
        c = self.controls
        if not c.probed.is_set():  # a click in the first seconds: the probes are still running
            c.stage.value = "waiting for the backend checks to finish…"
            c.wait_for_probes()
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
        dynamic = c.dynamic_shapes()  # bad text: a UsageError, shown in the app
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
                dynamic_shapes=dynamic,
                options=c.backend_options.values(),
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
            dynamic_shapes=dynamic,
            options=c.backend_options.values(),
            float_modules=c.float_modules() or None,  # a bad name: a UsageError, shown in the app
            stop=self._cancel.is_set,
            jobs=0,
        )
        stopped = [r.backend for r in report.results if is_cancelled(r)]
        for result in report.results:
            if result.status == "unavailable":
                c.stage_reached(result.backend, "failed")
            elif result.backend in stopped:
                c.stage_reached(result.backend, "cancelled")
        if stopped or report.not_started:  # cancelled: said as such, not as failures
            for rest in report.not_started:
                c.stage_reached(rest, "cancelled")
            finished = len(report.results) - len(stopped)
            said = ["stopped " + ", ".join(stopped)] if stopped else []
            said += ["not started: " + ", ".join(report.not_started)] if report.not_started else []
            c.stage.value = (
                f"<b>cancelled</b> ({finished} of {len(groups)} finished): "
                + html.escape("; ".join(said))
            )
        else:
            c.progress.value = len(groups)
            c.stage.value = "lower: done"
        return report
