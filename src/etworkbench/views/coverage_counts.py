"""Node counts per result and per backend: the counts table (DataFrame, text, HTML).

Every count is analysis.placement's (`NodePlacement.kind`, `NodeCounts`): delegated,
CPU fallback (runs a kernel) and structural (getitem outside the delegates, runs no kernel).
Also the helpers every coverage view shares: `iter_results` flattens reports into
BackendResults and `backend_columns` orders the backends. views.coverage re-exports them all.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..analysis.placement import (
    CPU_KERNEL,
    DELEGATED,
    DELEGATION_INFO_DEFINITION,
    KIND_LABELS,
    SHARE_DEFINITION,
    STRUCTURAL,
    NodeCounts,
)
from .tables import table_html, text_table

COUNT_COLUMNS = (
    KIND_LABELS[DELEGATED],
    KIND_LABELS[CPU_KERNEL],
    KIND_LABELS[STRUCTURAL],
    "delegated share",
    "get_delegation_info delegated",
    "get_delegation_info non-delegated",
)


def iter_results(results: Any) -> list[Any]:
    """Flatten a report / result / list of them into BackendResults, in order."""
    if hasattr(results, "results"):  # LoweringReport
        return list(results.results)
    if hasattr(results, "status") and hasattr(results, "backend"):  # BackendResult
        return [results]
    flat: list[Any] = []
    for item in results if isinstance(results, Iterable) else [results]:
        flat.extend(iter_results(item))
    return flat


def backend_columns(results: Any) -> list[str]:
    """Backend labels in first-seen order (one column each in every view)."""
    return list(dict.fromkeys(r.backend for r in iter_results(results)))


def result_counts(result: Any) -> NodeCounts | None:
    """The `NodeCounts` of one BackendResult (None without a placement)."""
    return result.placement.counts if result.placement is not None else None


def backend_counts(results: Any) -> dict[str, NodeCounts]:
    """backend -> NodeCounts summed over its placed results (models), in column order."""
    totals = dict.fromkeys(backend_columns(results), NodeCounts())
    for result in iter_results(results):
        counts = result_counts(result)
        if counts is not None:
            totals[result.backend] = totals[result.backend] + counts
    return totals


def counts_table(results: Any):
    """One row per placed result (model, backend, scheme): the three node counts, the share
    and get_delegation_info's totals, all from `Placement.counts`."""
    import pandas as pd

    rows = []
    for result in iter_results(results):
        counts = result_counts(result)
        if counts is None:
            continue
        values = (
            counts.delegated,
            counts.cpu_kernels,
            counts.structural,
            counts.share_text,
            counts.delegation_info_delegated,
            counts.delegation_info_non_delegated,
        )
        rows.append(
            {"model": result.model, "backend": result.backend, "scheme": result.scheme}
            | dict(zip(COUNT_COLUMNS, values, strict=True))
        )
    return pd.DataFrame(rows, columns=["model", "backend", "scheme", *COUNT_COLUMNS])


def counts_text(results: Any) -> str:
    """`counts_table` as plain text, with what each column counts."""
    frame = counts_table(results)
    body = frame.astype(str).to_numpy().tolist()
    return "\n".join(
        [
            text_table(list(frame.columns), body),
            f"{SHARE_DEFINITION}; {DELEGATION_INFO_DEFINITION}.",
        ]
    )


def counts_table_html(results: Any) -> str:
    """`counts_table` as HTML with the same note (what the coverage panel shows)."""
    import html as h

    frame = counts_table(results)
    if frame.empty:
        return "<p>No placement: nothing was lowered or previewed.</p>"
    note = h.escape(f"{SHARE_DEFINITION}; {DELEGATION_INFO_DEFINITION}.")
    keys = ["model", "backend", "scheme"]
    if frame["model"].nunique() == 1:  # the app's case: the model is named above, not per row
        note = h.escape(f"model: {frame['model'].iloc[0]}. ") + note
        keys = keys[1:]
        frame = frame.drop(columns="model")
    # a line may break after an underscore (get_delegation_info), not inside a word
    frame = frame.rename(columns=lambda name: name.replace("_", "_\u200b"))
    return table_html(frame.set_index(keys)) + f"<p>{note}</p>"
