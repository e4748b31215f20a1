"""One sweep cell: what it names, how it is lowered alone, and its record on disk."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .._io import atomic_write_text
from ..backends import get_backend


@dataclass
class SweepCell:
    model: str
    backend: str
    scheme: str

    @property
    def filename(self) -> str:
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in self.model)
        return f"{safe}__{self.backend}__{self.scheme}.json"


def cell_record(cell: SweepCell, result: Any) -> dict:
    record = result.to_dict()
    record.update(model=cell.model, backend=cell.backend, scheme=cell.scheme)
    return record


def lower_cell(cell: SweepCell) -> Any:
    """One cell in the current process (what a distributed task runs)."""
    from ..lowering import lower

    backend = get_backend(cell.backend)
    scheme = None if cell.scheme == backend.default_scheme else cell.scheme
    return lower(cell.model, [cell.backend], scheme).results[0]


def write_cell(cells_dir: Path, cell: SweepCell, result: Any) -> None:
    atomic_write_text(cells_dir / cell.filename, json.dumps(cell_record(cell, result), indent=1))
