"""Save panel: one path field and Save .pte button per backend (atomic write, path and size shown).

"also save the ETRecord" writes `<name>.etrecord` beside the .pte (the program is lowered once
more to make it, `lowering._etrecord`; the .pte saved is the one shown, byte for byte).

It offers the last lowering's programs: a preview (no .pte) leaves them here. A row whose program
was written says where, and the app's summary follows (`on_saved`).
"""

from __future__ import annotations

import html
from collections.abc import Callable
from pathlib import Path

import ipywidgets as W

from .._io import human_bytes
from ..lowering._programs import pte_filename
from ._stale import FollowsLowered, StaleBanner


class SaveRow(W.HBox):
    def __init__(self, result, on_saved: Callable[[str, Path], None] | None = None) -> None:
        self.result = result
        self.on_saved = on_saved
        self.path = W.Text(
            value=result.pte_path or pte_filename(result.model, result.backend, result.scheme),
            description=result.backend,
            style={"description_width": "initial"},  # a priority group's "a+b" label, whole
            layout={"width": "auto", "flex": "1 1 28em", "max_width": "56em"},
        )
        self.button = W.Button(description="Save .pte", icon="save")
        self.etrecord = W.Checkbox(
            value=False, description="also save the ETRecord", indent=False,
            layout={"width": "auto"},
        )  # fmt: skip
        self.status = W.HTML()
        self.button.on_click(lambda _: self.save())
        super().__init__(
            [self.path, self.button, self.etrecord, self.status],
            layout={"flex_flow": "row wrap", "width": "100%", "align_items": "center"},
        )
        if result.pte_path:
            self._wrote(Path(result.pte_path))

    def save(self):
        try:
            written = self.result.save(self.path.value)
            record = self.result.save_etrecord(written) if self.etrecord.value else None
        except Exception as exc:  # shown in the row; the notebook keeps running
            self.status.value = (
                f"<span style='color:#c0392b'>not saved: {html.escape(str(exc))}</span>"
            )
            return None
        self._wrote(written, record)
        if self.on_saved is not None:
            self.on_saved(self.result.backend, written)
        return written

    def _wrote(self, written: Path, record: Path | None = None) -> None:
        size = f" ({human_bytes(written.stat().st_size)})" if written.is_file() else ""
        self.status.value = f"wrote <code>{html.escape(str(written))}</code>{size}" + (
            f" and <code>{html.escape(str(record))}</code>" if record else ""
        )


class SavePanel(FollowsLowered, W.VBox):
    def __init__(self, state=None) -> None:
        self.rows: dict[str, SaveRow] = {}
        self.banner = StaleBanner(self)
        self.shown = None  # the report whose programs are offered
        super().__init__([self.banner, W.HTML("<i>Lower first.</i>")])
        self.follow(state)

    def show(self, report) -> None:
        self.shown = report
        on_saved = self.state.saved_to if self.state is not None else None
        self.rows = {
            r.backend: SaveRow(r, on_saved) for r in report.results if r.ok and not r.preview
        }
        rows = list(self.rows.values()) or [W.HTML("<i>No .pte to save.</i>")]
        self.children = [self.banner, *rows]
