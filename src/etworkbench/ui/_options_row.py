"""Backend compile options in the control strip: under each ticked backend, one compact row
of dropdowns (one per declared option, its default selected).

Drawn from the options declared as plain data on the backend classes (`BackendFacts.options`),
so nothing here imports torch or an SDK; a row is built the first time its backend is ticked.
What the rows say is `values()`: the normalized non-default `(backend, key, value)` triples that
`lower(..., options=...)` and the app state's `Selection` take.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import ipywidgets as W

from ..backends import BackendFacts, normalize_options

_ROW = {"flex_flow": "row wrap", "width": "100%", "align_items": "center"}
_LABEL = {"description_width": "initial"}


class BackendOptionRows(W.VBox):
    """One row of option dropdowns per ticked backend that declares options."""

    def __init__(self, facts: Mapping[str, BackendFacts]) -> None:
        self.facts = dict(facts)
        self.dropdowns: dict[str, dict[str, W.Dropdown]] = {}  # backend -> option -> dropdown
        self.rows: dict[str, W.HBox] = {}
        self._order: list[str] = []
        self._callbacks: list[Callable[[Any], None]] = []
        super().__init__([], layout={"width": "100%"})

    def show(self, order: Sequence[str]) -> None:
        """Rows for the ticked backends, in tick order; a row keeps its values while unticked."""
        self._order = [name for name in order if self.facts[name].options]
        self.children = [self._row(name) for name in self._order]

    def _row(self, name: str) -> W.HBox:
        if name not in self.rows:
            boxes = {}
            for option in self.facts[name].options:
                box = W.Dropdown(
                    options=option.widget_choices(),
                    value=option.widget_default,
                    description=option.name,
                    tooltip=option.doc,
                    style=_LABEL,
                    layout={"width": "auto", "margin": "0 1em 0 0"},
                )
                for callback in self._callbacks:
                    box.observe(callback, "value")
                boxes[option.name] = box
            self.dropdowns[name] = boxes
            title = W.HTML(f"<small>{self.facts[name].title} options:</small>")
            self.rows[name] = W.HBox([title, *boxes.values()], layout=_ROW)
        return self.rows[name]

    def values(self) -> tuple[tuple[str, str, str], ...]:
        """The ticked backends' options that differ from their defaults, normalized."""
        chosen = {
            name: {key: box.value for key, box in self.dropdowns.get(name, {}).items()}
            for name in self._order
        }
        return normalize_options({n: v for n, v in chosen.items() if v}, self._order)

    def set(self, options: Mapping[str, Any] | Sequence[Any] | None) -> None:
        """Set dropdowns as `lower(..., options=...)` would take them (the ticked backends'
        others go back to their defaults); a bad one raises `UsageError`."""
        wanted = normalize_options(options, self._order) if options else ()
        for name in self._order:
            self._row(name)
            for key, box in self.dropdowns[name].items():
                option = next(o for o in self.facts[name].options if o.name == key)
                text = next((v for b, k, v in wanted if b == name and k == key), None)
                value = option.widget_default if text is None else option.parse(text, name)
                box.value = option.widget_default if value is None else value

    def observe_values(self, callback: Callable[[Any], None]) -> None:
        """`callback(change)` on every dropdown's change, rows built later included."""
        self._callbacks.append(callback)
        for boxes in self.dropdowns.values():
            for box in boxes.values():
                box.observe(callback, "value")
