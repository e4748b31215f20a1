"""The control strip: model, backends, priority, quantization scheme, Lower / Cancel and the
per-backend progress.

The strip paints from the backends' static facts (names, titles, declared schemes) at once;
probing availability imports every SDK (seconds), so it runs in a background thread and each
checkbox says "checking…" until its probe returns, then is enabled or greyed out with the
reason as its tooltip. Lowering waits for the probes (`wait_for_probes`).
"""

from __future__ import annotations

import html
import threading
from collections.abc import Callable

import ipywidgets as W

from .. import backends as B
from ..models import list_models
from ..progress import Progress
from ._options_row import BackendOptionRows
from ._state import Selection

CUSTOM = "other: type a reference"
PYTHON = "(module passed from Python)"
CHECKING = "checking…"
_WRAP = {"flex_flow": "row wrap", "width": "100%", "align_items": "center"}
_LABEL = {"description_width": "initial"}  # the whole description shows, never "quantizati…"


class Controls(W.VBox):
    """What to lower, and how far it got; `selection()` is what the app's state records."""

    def __init__(self, has_python_model: bool = False) -> None:
        self.facts = {f.name: f for f in B.backend_facts()}  # no SDK import: cheap
        self.rows: dict[str, B.BackendInfo] = {}  # probed rows, filled in as each probe returns
        self.probed = threading.Event()  # set when every probe has returned
        self._lock = threading.RLock()  # the probe thread and the user both refresh schemes
        self.bars: dict[str, tuple[W.IntProgress, W.HTML]] = {}
        options = [m.name for m in list_models()] + [CUSTOM]
        if has_python_model:
            options.insert(0, PYTHON)
        self.model = W.Dropdown(
            options=options, value=options[0], description="model", layout={"width": "auto"}
        )
        self.reference = W.Text(
            placeholder="my_model.py:build, pkg.mod:build, timm:resnet18, hf:bert?num_hidden_layers=2",
            tooltip="file.py:factory or module:factory returning (module, example_inputs); "
            "timm:NAME or hf:MODEL_TYPE[?key=value,...] build those libraries' models with "
            "random weights, offline (pip install 'etworkbench[models]')",
            layout={"width": "auto", "flex": "1 1 24em", "max_width": "48em"},
        )
        self.reference.layout.display = "none"
        self.model.observe(self._model_changed, "value")
        self.order: list[str] = []  # checked backends in the order they were checked
        self.checks: dict[str, W.Checkbox] = {}
        for name, fact in self.facts.items():
            box = W.Checkbox(
                value=False,
                description=fact.title,
                disabled=True,  # until its probe says whether it lowers here
                indent=False,
                tooltip=CHECKING,
                layout={"width": "auto", "margin": "0 1em 0 0"},
            )
            box.observe(lambda change, n=name: self._checked(n, change["new"]), "value")
            self.checks[name] = box
        self.backend_options = BackendOptionRows(self.facts)  # a row per ticked backend
        self.availability = W.HTML(f"<small>{CHECKING} which backends lower here</small>")
        self.priority = W.ToggleButtons(
            options=[("each backend separately", False), ("one priority list (check order)", True)],
            value=False,
            tooltips=["one .pte per backend", "one .pte; earlier backends get first pick of nodes"],
            style={"button_width": "auto"},
        )
        self.order_label = W.HTML()
        self.scheme = W.Dropdown(
            options=[], description="quantization", style=_LABEL, layout={"width": "auto"}
        )
        self.keep_float = W.Text(
            description="keep in float",
            placeholder="e.g. features.18",
            tooltip="modules (paths, or types such as torch.nn.Linear) the quantizer leaves in "
            "float; the rest is quantized (quantized schemes; applied by Lower)",
            style=_LABEL,
            layout={"width": "auto", "flex": "1 1 20em", "max_width": "36em"},
        )
        self.exclude = W.Text(
            description="keep on CPU",
            placeholder="e.g. aten.mean.dim",
            tooltip="ops to exclude, comma-separated (e.g. aten.mean.dim, aten.hardswish): they "
            "fall back to CPU in every backend; the rest still lowers",
            style=_LABEL,
            layout={"width": "auto", "flex": "1 1 24em", "max_width": "48em"},
        )
        self.dynamic = W.Text(
            description="dynamic dims",
            placeholder="e.g. x:0=1..8",
            tooltip="input:dim=min..max, comma-separated: input dims the program accepts at any "
            "size in the range; input is a forward() argument name or position",
            style=_LABEL,
            layout={"width": "auto", "flex": "1 1 20em", "max_width": "36em"},
        )
        self.lower_button = W.Button(description="Lower", button_style="primary", icon="play")
        self.preview_button = W.Button(
            description="Preview",
            icon="eye",
            tooltip="placement only (partition, no compile, no .pte): fast once exported",
        )
        self.cancel_button = W.Button(
            description="Cancel",
            disabled=True,
            tooltip="stops before the next backend starts; the backend being lowered finishes",
        )
        self.progress = W.IntProgress(value=0, min=0, max=1, description="progress")
        self.stage = W.HTML()
        self.per_backend = W.VBox()  # one progress bar + stage label per backend
        super().__init__(
            [
                W.HBox([self.model, self.reference], layout=_WRAP),
                W.HBox([W.Label("backends:"), *self.checks.values()], layout=_WRAP),
                self.backend_options,
                self.availability,
                W.HBox([self.priority, self.order_label], layout=_WRAP),
                W.HBox([self.scheme, self.keep_float, self.exclude, self.dynamic], layout=_WRAP),
                W.HBox(
                    [self.lower_button, self.preview_button, self.cancel_button, self.progress],
                    layout=_WRAP,
                ),
                self.stage,
                self.per_backend,
            ],
            layout={"width": "100%"},
        )
        self._refresh_schemes()
        self._probing: threading.Thread | None = None

    # -- availability, probed in the background --------------------------------------------------
    def start_probes(self) -> None:
        """Probe every backend in a background thread (once). The app calls this when it is
        built, so the probes' imports do not compete with building the other panels."""
        with self._lock:
            if self._probing is None:
                self._probing = threading.Thread(
                    target=self._probe_all, name="etwb-probe", daemon=True
                )
                self._probing.start()

    def _probe_all(self) -> None:
        try:
            for done, name in enumerate(self.facts, 1):
                self._probed(self._probe(name))
                self.availability.value = (
                    f"<small>{CHECKING} which backends lower here ({done} of {len(self.facts)})"
                    "</small>"
                )
        finally:
            self.probed.set()
            self._refresh_schemes()
            self.availability.value = self._unavailable_note()

    def _probe(self, name: str) -> B.BackendInfo:
        fact = self.facts[name]
        try:
            return B.backend_info(name)
        except Exception as exc:  # a probe that raises makes the backend unusable, said so
            reason = f"probe failed: {type(exc).__name__}: {exc}"
            return B.BackendInfo(
                name=fact.name,
                title=fact.title,
                available=False,
                reason=reason,
                hint="",
                hardware=fact.hardware,
                platforms=[],
                runs_on_host=False,
                lowers_here=False,
                delegate_ids=[],
                schemes=[],
            )

    def _probed(self, row: B.BackendInfo) -> None:
        with self._lock:
            self.rows[row.name] = row
            box = self.checks[row.name]
            box.disabled = not row.available
            box.tooltip = row.hardware if row.available else f"unavailable: {row.reason}"
            if row.name in self.order:
                self._refresh_schemes()

    def _unavailable_note(self) -> str:
        unavailable = [r for r in self.rows.values() if not r.available]
        note = "".join(
            f"<span style='color:#999' title='{html.escape(r.reason)}'>{html.escape(r.title)}"
            "</span> "
            for r in unavailable
        )
        return f"<small>unavailable (hover for why): {note}</small>" if note else ""

    def wait_for_probes(self, timeout: float | None = None) -> bool:
        """Block until every backend's availability is known (lowering needs it)."""
        self.start_probes()
        return self.probed.wait(timeout)

    def _model_changed(self, change) -> None:
        self.reference.layout.display = "" if change["new"] == CUSTOM else "none"

    def _checked(self, name: str, on: bool) -> None:
        with self._lock:  # the probe thread reads `order` when a probe returns
            if on and name not in self.order:
                self.order.append(name)
            if not on and name in self.order:
                self.order.remove(name)
            self.order_label.value = "order: " + " → ".join(self.order) if self.order else ""
            self.backend_options.show(self.order)
            self._refresh_schemes()

    def _schemes(self, name: str) -> list[str]:
        """The probed row's schemes (none when unavailable), the declared ones until then."""
        row = self.rows.get(name)
        return list(row.schemes) if row is not None else list(self.facts[name].schemes)

    def _refresh_schemes(self) -> None:
        """Offer only the schemes every chosen backend supports."""
        with self._lock:
            chosen = [self._schemes(n) for n in self.order]
            if not chosen:
                schemes = ["fp32"]
            else:
                schemes = [s for s in chosen[0] if all(s in rest for rest in chosen[1:])]
            current = self.scheme.value
            if list(self.scheme.options) != schemes:
                self.scheme.options = schemes
            self.scheme.value = current if current in schemes else (schemes[0] if schemes else None)

    def set_backends(self, names: list[str]) -> None:
        for n in names:
            if n not in self.facts:
                raise ValueError(f"unknown backend {n!r}; known: {', '.join(self.facts)}")
        for box in self.checks.values():
            box.value = False
        for n in names:
            self.checks[n].value = True  # unavailable ones are allowed: the engine says why

    def model_choice(self) -> str | None:
        """The zoo name / reference to lower, or None for the Python module."""
        if self.model.value == PYTHON:
            return None
        if self.model.value == CUSTOM:
            return self.reference.value.strip()
        return self.model.value

    def exclude_ops(self) -> list[str]:
        """The ops typed in "keep on CPU", comma or space separated (checked by the engine)."""
        return [op for op in self.exclude.value.replace(",", " ").split() if op]

    def float_modules(self) -> list[str]:
        """The modules typed in "keep in float", comma-separated (checked by the engine)."""
        return [m.strip() for m in self.keep_float.value.split(",") if m.strip()]

    def dynamic_shapes(self) -> dict:
        """The "dynamic dims" field as `lower(dynamic_shapes=...)` takes it ({} when empty);
        text that is not `input:dim=min..max, ...` raises a UsageError the app shows."""
        from ..models._dynamic import parse_dynamic

        return parse_dynamic(self.dynamic.value, "dynamic dims")

    def selection(self) -> Selection:
        """What the controls say now, as the app state's `selection`."""
        return Selection(
            model=self.model_choice(),
            backends=tuple(self.order),
            priority=bool(self.priority.value),
            scheme=self.scheme.value,
            exclude_ops=tuple(self.exclude_ops()),
            float_modules=tuple(self.float_modules()),
            dynamic=self.dynamic.value.strip(),
            options=self.backend_options.values(),
        )

    def on_selection(self, callback: Callable[[Selection], None]) -> None:
        """Call `callback(selection())` whenever a control that makes the selection changes."""
        widgets = [self.model, self.reference, self.priority, self.scheme, self.exclude]
        widgets += [self.dynamic, self.keep_float]
        for widget in [*widgets, *self.checks.values()]:
            widget.observe(lambda _: callback(self.selection()), "value")
        self.backend_options.observe_values(lambda _: callback(self.selection()))

    def add_exclude_op(self, op: str) -> None:
        if op not in self.exclude_ops():
            self.exclude.value = ", ".join([*self.exclude_ops(), op])

    def busy(self, running: bool) -> None:
        self.lower_button.disabled = running
        self.preview_button.disabled = running
        self.cancel_button.disabled = not running

    def start_progress(self, labels: list[str]) -> None:
        """One bar per backend (or priority list), filled stage by stage."""
        self.bars = {
            label: (W.IntProgress(value=0, min=0, max=max(STAGES.values())), W.HTML("waiting"))
            for label in labels
        }
        self.per_backend.children = [
            W.HBox([W.Label(label, layout={"min_width": "10em", "width": "auto"}), bar, text])
            for label, (bar, text) in self.bars.items()
        ]

    def stage_reached(self, label: str, stage: str, counts: str = "") -> None:
        bar, text = self.bars.get(label, (None, None))
        if bar is None:
            return
        bar.value = STAGES.get(stage, bar.value)
        bar.bar_style = {"failed": "danger", "done": "success", "cached": "success"}.get(stage, "")
        text.value = html.escape(stage + counts)

    def progress_reached(self, event: Progress) -> None:
        """An engine progress event: its program's bar and stage text (with i/N if counted)."""
        counts = f" {event.done}/{event.total}" if event.total is not None else ""
        self.stage_reached(event.backend, event.stage, counts)


# Engine stage (`Progress.stage`) -> how far along the bar it is.
STAGES = {
    "export": 1,
    "quantize": 2,
    "calibrate": 2,
    "to_edge": 3,
    "to_edge+partition": 3,
    "preview": 3,
    "to_executorch": 4,
    "save": 5,
    "cached": 6,
    "failed": 6,
    "done": 6,
    "cancelled": 0,
}
