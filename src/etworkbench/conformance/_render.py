"""Renderers for a `ConformanceSummary`: markdown (docs/CONFORMANCE.md) and a static HTML page."""

from __future__ import annotations

import html

from ._summary import ConformanceSummary, Row

_HEAD = (
    "suite",
    "backend",
    "cases",
    "agree",
    "(both fail, same stage)",
    "mismatch",
    "error",
    "plain export fails",
    ".pte equal / compared",
    "fallback reasons: specific / generic / none",
    "preview equal / compared",
    "runs here (max abs error vs eager)",
)


def _cells(row: Row) -> list[str]:
    failed = ", ".join(f"{k} {v}" for k, v in sorted(row.both_failed_by_stage.items()))
    errors = ", ".join(f"{k} {v}" for k, v in sorted(row.errors_by_stage.items()))
    return [
        row.suite,
        row.backend,
        str(row.cases),
        str(row.agree),
        f"{row.agree_both_failed}" + (f" ({failed})" if failed else ""),
        str(row.mismatch),
        f"{row.error}" + (f" ({errors})" if errors else ""),
        str(row.plain_export_fails),
        f"{row.pte_equal} / {row.pte_compared}",
        f"{row.fallback_with_reason} / {row.fallback_generic_reason} / {row.fallback_without_reason}",
        f"{row.previews_equal} / {row.previews}",
        f"{row.runs}" + (f" ({row.run_max_error:.2g})" if row.run_max_error is not None else ""),
    ]


def _diff_text(entry: dict) -> str:
    return ", ".join(
        f"{d['op']} plain {d['plain']} vs workbench {d['workbench']}" for d in entry["op_diff"]
    )


def _side_text(side: dict) -> str:
    if side.get("status") == "ok":
        return f"ok {side['delegated']} delegated / {side['non_delegated']} not, {side['subgraphs']} subgraphs"
    return f"{side.get('status')} at {side.get('stage')}: {(side.get('message') or '')[:160]}"


def markdown(summary: ConformanceSummary) -> str:
    run = summary.run
    out = ["## Agreement per suite and backend", ""]
    out += ["| " + " | ".join(_HEAD) + " |", "|" + "---|" * len(_HEAD)]
    out += ["| " + " | ".join(_cells(r)) + " |" for r in summary.rows]
    for title, mapping in (
        ("Not collected", run.get("not_collected", {})),
        ("Backends not compared", run.get("skipped_backends", {})),
    ):
        if mapping:
            out += ["", f"### {title}", ""]
            for key, value in mapping.items():
                if isinstance(value, dict):
                    out += [f"- {key}/{cat}: {why}" for cat, why in value.items()]
                else:
                    out.append(f"- {key}: {value}")
    if run.get("determinism"):
        out += ["", "### .pte determinism (plain API twice on the same case)", ""]
        for backend, entry in run["determinism"].items():
            same = (
                "same bytes: compared"
                if entry.get("deterministic")
                else "bytes differ: not compared"
            )
            out.append(
                f"- {backend}: {same} ({entry.get('case')}; {entry.get('note', entry.get('sizes', ''))})"
            )
    out += ["", "## Mismatches", ""]
    if not summary.mismatches:
        out.append("None.")
    for entry in summary.mismatches:
        out.append(
            f"- **{entry['suite']}/{entry['case']}** on {entry['backend']}: {'; '.join(entry['differences'])}"
        )
        out.append(
            f"  - plain: {_side_text(entry['plain'])}; workbench: {_side_text(entry['workbench'])}"
        )
        if entry["op_diff"]:
            out.append(f"  - op diff ([delegated, non-delegated]): {_diff_text(entry)}")
    out += ["", "## Errors", ""]
    if not summary.errors:
        out.append("None.")
    for entry in summary.errors:
        out.append(
            f"- {entry['suite']}/{entry['case']} on {entry['backend']}: {'; '.join(entry['differences'])[:300]}"
        )
    out += ["", "## Which ops each backend takes", ""]
    out.append(
        "From the plain API's `get_delegation_info` on every case that lowered (counts are nodes)."
    )
    for backend, ops in summary.ops.items():
        out += [
            "",
            f"### {backend}",
            "",
            "| op | verdict | delegated | not delegated | cases |",
            "|---|---|---|---|---|",
        ]
        out += [
            f"| `{o.op}` | {o.verdict} | {o.delegated} | {o.fallback} | {o.cases} |" for o in ops
        ]
    return "\n".join(out) + "\n"


def _table(head: list[str] | tuple, rows: list[list[str]]) -> str:
    th = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>"


def html_report(summary: ConformanceSummary) -> str:
    run = summary.run
    parts = [
        "<!doctype html><meta charset='utf-8'><title>etworkbench conformance</title>",
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;margin:1em 0}"
        "td,th{border:1px solid #ccc;padding:3px 8px;font-size:13px}th{background:#eee}"
        ".bad{color:#b00}</style>",
        "<h1>Workbench vs plain executorch API</h1>",
        f"<p>{html.escape(str({k: v for k, v in run.items() if not isinstance(v, dict)}))}</p>",
        "<h2>Agreement per suite and backend</h2>",
        _table(_HEAD, [_cells(r) for r in summary.rows]),
    ]
    for title, key in (
        ("Not collected", "not_collected"),
        ("Backends not compared", "skipped_backends"),
        ("Determinism", "determinism"),
    ):
        if run.get(key):
            parts.append(f"<h3>{title}</h3><pre>{html.escape(str(run[key]))}</pre>")
    parts.append(f"<h2 class='bad'>Mismatches ({len(summary.mismatches)})</h2>")
    parts.append(
        _table(
            (
                "case",
                "backend",
                "differences",
                "op diff [delegated, non-delegated]",
                "plain",
                "workbench",
            ),
            [
                [
                    f"{e['suite']}/{e['case']}",
                    e["backend"],
                    "; ".join(e["differences"]),
                    _diff_text(e),
                    _side_text(e["plain"]),
                    _side_text(e["workbench"]),
                ]
                for e in summary.mismatches
            ],
        )
    )
    parts.append(f"<h2>Errors ({len(summary.errors)})</h2>")
    parts.append(
        _table(
            ("case", "backend", "what"),
            [
                [f"{e['suite']}/{e['case']}", e["backend"], "; ".join(e["differences"])]
                for e in summary.errors
            ],
        )
    )
    parts.append("<h2>Which ops each backend takes</h2>")
    for backend, ops in summary.ops.items():
        parts.append(f"<h3>{html.escape(backend)}</h3>")
        parts.append(
            _table(
                ("op", "verdict", "delegated", "not delegated", "cases"),
                [[o.op, o.verdict, str(o.delegated), str(o.fallback), str(o.cases)] for o in ops],
            )
        )
    return "\n".join(parts)
