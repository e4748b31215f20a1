"""Save panel: one path field and Save .pte button per backend (atomic write, path and size shown)."""

from __future__ import annotations

import html

import ipywidgets as W

from ..lowering._programs import pte_filename


class SaveRow(W.HBox):
    def __init__(self, result) -> None:
        self.result = result
        self.path = W.Text(
            value=pte_filename(result.model, result.backend, result.scheme),
            description=result.backend,
            layout={"width": "420px"},
        )
        self.button = W.Button(description="Save .pte", icon="save")
        self.status = W.HTML()
        self.button.on_click(lambda _: self.save())
        super().__init__([self.path, self.button, self.status])

    def save(self):
        try:
            written = self.result.save(self.path.value)
        except Exception as exc:  # shown in the row; the notebook keeps running
            self.status.value = (
                f"<span style='color:#c0392b'>not saved: {html.escape(str(exc))}</span>"
            )
            return None
        self.status.value = f"wrote <code>{html.escape(str(written))}</code> ({written.stat().st_size / 1e6:.3f} MB)"
        return written


class SavePanel(W.VBox):
    def __init__(self) -> None:
        self.rows: dict[str, SaveRow] = {}
        super().__init__([W.HTML("<i>Lower first.</i>")])

    def show(self, report) -> None:
        self.rows = {r.backend: SaveRow(r) for r in report.results if r.ok and not r.preview}
        self.children = list(self.rows.values()) or [W.HTML("<i>No .pte to save.</i>")]
