"""Failed and unavailable backends as HTML: stage, node, op, source, message; traceback folded."""

from __future__ import annotations

import html


def result_problem_html(result) -> str:
    """'' for an ok result; otherwise a box saying what went wrong and where."""
    e = html.escape
    if result.status == "unavailable":
        hint = f"<div><b>how to get it:</b> {e(result.hint)}</div>" if result.hint else ""
        return (
            f"<div class='etwb-problem etwb-unavailable'><b>{e(result.backend)}: unavailable</b>"
            f"<div>{e(result.reason)}</div>{hint}</div>"
        )
    if result.status != "failed" or result.error is None:
        return ""
    f = result.error
    facts = [("stage", f.stage), ("node", f.node), ("op", f.op), ("source", f.source)]
    rows = "".join(f"<tr><th>{k}</th><td><code>{e(v)}</code></td></tr>" for k, v in facts if v)
    tb = (
        f"<details><summary>traceback</summary><pre class='etwb-tb' style='user-select:all'>"
        f"{e(f.traceback)}</pre></details>"
        if f.traceback
        else ""
    )
    return (
        f"<div class='etwb-problem etwb-failed'><b>{e(result.backend)}: failed in {e(f.stage)}</b>"
        f"<table>{rows}</table><div>{e(f.type)}: {e(f.message)}</div>{tb}</div>"
    )


def problems_html(report) -> str:
    parts = [result_problem_html(r) for r in report.results]
    parts = [p for p in parts if p]
    return "".join(parts) or "<p>No failures: every selected backend lowered.</p>"


def backend_rows_html(rows) -> str:
    """The backend table (list_backends() rows) with unavailable ones and their reason."""
    e = html.escape
    body = "".join(
        f"<tr style='color:{'inherit' if r.available else '#999'}'><td>{e(r.title)}</td>"
        f"<td>{'yes' if r.available else 'no'}</td><td>{e(r.reason or '')}</td><td>{e(r.hint or '')}</td></tr>"
        for r in rows
    )
    return (
        "<table class='etwb-table'><thead><tr><th>backend</th><th>available</th><th>reason</th>"
        f"<th>hint</th></tr></thead><tbody>{body}</tbody></table>"
    )


failure_html = result_problem_html  # the brief's name for one result's problem box
