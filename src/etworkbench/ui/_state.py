"""`WorkbenchState`: the app's state as one traitlets model that the panels observe.

The app changes it and nothing else: `begin` a run, `finish` it with its report, `fail` it,
`cancel` it; the controls write `selection`. Each panel (graph, coverage, sizes, failures, save,
summary) subscribes with `state.observe(...)` and redraws itself, so no panel can be left showing
results that no longer match what the user chose without saying so:

- `lowered` is the last lowering's report; a preview never replaces it (save and sizes keep the
  lowered programs), it goes to `previewed`, shown beside it. A new lowering drops the preview.
- `stale` (`preview_stale`): the selection changed since `lowered` (`previewed`) was made, a new
  run is under way, or the last run stopped with an error. `note()` is the grey banner's text.
- a cancelled backend (`error.stage == "cancel"`, or in `report.not_started`) is not a failure:
  `problems()` leaves it out, `cancelled()` lists it.

Trait changes from the app's background thread are fine: ipywidgets sends them to the front end.
"""

from __future__ import annotations

from dataclasses import dataclass

import traitlets as T

from ..lowering import LoweringReport

PHASES = ("idle", "lowering", "previewing", "cancelling", "done", "cancelled", "error")
RUNNING = frozenset({"lowering", "previewing", "cancelling"})
VIEWS = ("lowered", "previewed")  # the reports the graph, coverage and failures tabs can show


@dataclass(frozen=True)
class Selection:
    """What the controls say to lower: compared by value, so re-choosing it is not a change."""

    model: str | None = ""  # zoo name or reference; None: the module passed from Python
    backends: tuple[str, ...] = ()
    priority: bool = False
    scheme: str | None = None
    exclude_ops: tuple[str, ...] = ()
    float_modules: tuple[str, ...] = ()  # "keep in float": modules left float when quantized
    dynamic: str = ""  # the "dynamic dims" text, e.g. "x:0=1..8"
    options: tuple[tuple[str, str, str], ...] = ()  # non-default backend options, normalized

    def describe(self) -> str:
        model = "the Python module" if self.model is None else (self.model or "no model")
        if self.priority and len(self.backends) > 1:
            backends = " → ".join(self.backends) + " (priority list)"
        else:
            backends = ", ".join(self.backends) or "no backend"
        parts = [model, backends, self.scheme or "fp32"]
        if self.exclude_ops:
            parts.append("keep on CPU: " + ", ".join(self.exclude_ops))
        if self.float_modules:
            parts.append("keep in float: " + ", ".join(self.float_modules))
        if self.dynamic:
            parts.append("dynamic: " + self.dynamic)
        if self.options:
            parts.append("options: " + " ".join(f"{b}.{k}={v}" for b, k, v in self.options))
        return " · ".join(parts)


def is_cancelled(result) -> bool:
    """A result the user's Cancel stopped (the engine files it as failed in stage "cancel")."""
    return result.error is not None and result.error.stage == "cancel"


def problems(report) -> list:
    """Failed and unavailable results, without the cancelled ones."""
    return [r for r in report.results if r.status != "ok" and not is_cancelled(r)]


def cancelled(report) -> list[str]:
    """Backends a cancel stopped while running or kept from starting."""
    return [r.backend for r in report.results if is_cancelled(r)] + list(report.not_started)


class WorkbenchState(T.HasTraits):
    selection = T.Instance(Selection, args=())
    phase = T.Unicode("idle")  # one of PHASES
    # Reports compare by identity (`LoweringReport` has eq=False), so a second run that gives an
    # equal report (a cache hit) still notifies: a new run is always news.
    lowered = T.Instance(LoweringReport, allow_none=True)  # the last lowering (never a preview)
    previewed = T.Instance(LoweringReport, allow_none=True)  # the last preview since then
    lowered_for = T.Instance(Selection, allow_none=True)  # the selection `lowered` was made for
    previewed_for = T.Instance(Selection, allow_none=True)
    showing = T.Unicode("lowered")  # which of VIEWS the graph / coverage / failures tabs draw
    error = T.Unicode("")  # "Kind: message" of the last error outside any backend, or ""
    exception = T.Instance(BaseException, allow_none=True)  # that error, for its traceback
    stale = T.Bool(False)  # `lowered` is not the current selection's (or a run / error since)
    preview_stale = T.Bool(False)  # the same for `previewed`
    saved = T.Dict()  # backend -> path written since `lowered` arrived

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self._pending: Selection | None = None  # the selection the running run was started for

    @T.validate("phase")
    def _known_phase(self, proposal):
        if proposal["value"] not in PHASES:
            raise T.TraitError(f"phase {proposal['value']!r} is not one of {PHASES}")
        return proposal["value"]

    @T.validate("showing")
    def _known_view(self, proposal):
        if proposal["value"] not in VIEWS:
            raise T.TraitError(f"showing {proposal['value']!r} is not one of {VIEWS}")
        return proposal["value"]

    # -- reading ------------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self.phase in RUNNING

    @property
    def focus(self) -> str:
        """ "previewed" when the tabs show the preview (and there is one), else "lowered"."""
        return "previewed" if self.showing == "previewed" and self.previewed else "lowered"

    @property
    def report(self) -> LoweringReport | None:
        """The report the graph, coverage and failures tabs draw."""
        return getattr(self, self.focus)

    def note(self, which: str = "lowered") -> str:
        """The stale banner's text over `lowered` or `previewed` results; '' when they are current."""
        if which == "previewed":
            report, stale, made_for, button = (
                self.previewed,
                self.preview_stale,
                self.previewed_for,
                "Preview",
            )
        else:
            report, stale, made_for, button = self.lowered, self.stale, self.lowered_for, "Lower"
        if report is None or not stale:
            return ""
        old = made_for.describe() if made_for is not None else "an earlier selection"
        if self.running:
            return f"a new run is under way; the results below are for {old}"
        if self.phase == "error":
            return (
                f"the last run stopped with an error; the results below are for {old}; "
                f"press {button} to refresh"
            )
        return f"results below are for {old}; press {button} to refresh"

    # -- what the app does --------------------------------------------------------------------
    def begin(self, kind: str) -> None:
        """A run starts: what is on screen becomes stale, the last error goes."""
        self._pending = self.selection
        with self.hold_trait_notifications():
            self.exception = None
            self.error = ""
            self.phase = "previewing" if kind == "preview" else "lowering"

    def cancel(self) -> None:
        if self.running:
            self.phase = "cancelling"

    def finish(self, report: LoweringReport, kind: str = "lower") -> None:
        """A run's report arrives: a preview goes beside the lowering, a lowering replaces both."""
        made_for = self._pending if self._pending is not None else self.selection
        self._pending = None
        with self.hold_trait_notifications():
            if kind == "preview":
                self.previewed_for = made_for
                self.previewed = report
                self.showing = "previewed"
            else:
                self.lowered_for = made_for
                self.lowered = report
                self.saved = {}
                self.previewed = None
                self.previewed_for = None
                self.showing = "lowered"
            self.exception = None
            self.error = ""
            self.phase = "cancelled" if kind != "preview" and cancelled(report) else "done"

    def fail(self, exc: BaseException) -> None:
        """An error outside any backend: the old results stay, marked stale."""
        self._pending = None
        with self.hold_trait_notifications():
            self.exception = exc
            self.error = f"{type(exc).__name__}: {exc}"
            self.phase = "error"

    def saved_to(self, backend: str, path) -> None:
        self.saved = {**self.saved, backend: str(path)}

    @T.observe("selection", "phase", "lowered", "previewed", "lowered_for", "previewed_for")
    def _refresh_stale(self, _change=None) -> None:
        behind = self.running or self.phase == "error"
        self.stale = self.lowered is not None and (behind or self.selection != self.lowered_for)
        self.preview_stale = self.previewed is not None and (
            behind or self.selection != self.previewed_for
        )
