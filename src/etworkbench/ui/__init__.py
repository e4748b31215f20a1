"""The notebook app: `Workbench()` (ipywidgets; the graph view is an anywidget)."""

from ._app import Workbench

__all__ = ["Workbench"]
