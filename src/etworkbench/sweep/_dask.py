"""Sweep cells as dask.distributed tasks: for users who outgrow one machine.

Connects to `$ETWB_DASK_SCHEDULER` (e.g. tcp://host:8786) when set, else starts a LocalCluster
of `jobs` single-threaded worker processes. Each task lowers one cell in its worker and returns
the JSON record; the client writes cells atomically as they finish, so a sweep interrupted here
resumes like a local one.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from .._compat import PYTREE_LOGGER
from ..errors import UsageError
from ..progress import Progress, ProgressCallback
from ._cells import SweepCell, cell_record, lower_cell


def _task(cell: SweepCell) -> str:
    import logging
    import warnings

    warnings.filterwarnings("ignore")
    logging.getLogger(PYTREE_LOGGER).setLevel(logging.ERROR)
    return json.dumps(cell_record(cell, lower_cell(cell)), indent=1)


def run_dask(
    todo: list[SweepCell], cells_dir: Path, jobs: int | None, notify: ProgressCallback
) -> None:
    try:
        from dask.distributed import Client, LocalCluster, as_completed
    except ImportError as exc:
        raise UsageError(
            f"--executor dask needs dask.distributed ({exc}); pip install 'dask[distributed]'"
        ) from exc
    from .._io import atomic_write_text

    if not todo:
        return
    address = os.environ.get("ETWB_DASK_SCHEDULER")
    cluster = None
    if address:
        client = Client(address)
    else:
        cluster = LocalCluster(
            n_workers=max(1, jobs or 1),
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
        )
        client = Client(cluster)
    try:
        futures = {client.submit(_task, cell, pure=False): cell for cell in todo}
        for future in as_completed(futures):
            cell = futures[future]
            try:
                text = future.result()
            except Exception as exc:  # a task that died: recorded, the sweep goes on
                text = json.dumps(
                    {
                        "model": cell.model,
                        "backend": cell.backend,
                        "scheme": cell.scheme,
                        "status": "failed",
                        "error": {
                            "stage": "worker",
                            "type": type(exc).__name__,
                            "message": str(exc),
                        },
                    }
                )
            atomic_write_text(cells_dir / cell.filename, text)
            notify(Progress(f"{cell.model}/{cell.backend}", "done"))
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
