"""Dynamic-batch records -> totals and a per-model table (summary JSON and markdown).

Apart from `_summary`: these records have other fields (runs at batch 1, 2 and 4 on each side,
no .pte bytes or previews), and a run makes either kind, never both.
"""

from __future__ import annotations

from collections import Counter

from ._dynamic_batch import SIZES

_HEAD = (
    "model",
    "lowers (plain / workbench)",
    "counts agree (delegated/not)",
    "runs at 1/2/4 (plain / workbench)",
    "max abs error (plain / workbench)",
    "agree",
)


def _lowers(side: dict) -> str:
    return "yes" if side.get("status") == "ok" else f"no ({side.get('stage')})"


def _ran(side: dict) -> str:
    if side.get("status") != "ok":
        return "-"
    ran = {r["batch"] for r in side.get("runs", []) if r["ran"]}
    return "".join("y" if b in ran else "n" for b in SIZES)


def _max_error(side: dict) -> float | None:
    errors = [r["max_abs_error"] for r in side.get("runs", []) if r["ran"]]
    return max(errors) if errors else None


def _counts(plain: dict, work: dict) -> str:
    if plain.get("status") != "ok" or work.get("status") != "ok":
        return "-"
    a = f"{plain['delegated']}/{plain['non_delegated']}"
    b = f"{work['delegated']}/{work['non_delegated']}"
    return f"yes ({a})" if a == b else f"no ({a} vs {b})"


def _error_text(value: float | None) -> str:
    return "-" if value is None else f"{value:.2g}"


def row_cells(record: dict) -> list[str]:
    plain, work = record.get("plain") or {}, record.get("workbench") or {}
    if record["outcome"] == "not_applicable":
        return [record["case"], "-", "-", "-", "-", "n/a (no batched input)"]
    return [
        record["case"],
        f"{_lowers(plain)} / {_lowers(work)}",
        _counts(plain, work),
        f"{_ran(plain)} / {_ran(work)}",
        f"{_error_text(_max_error(plain))} / {_error_text(_max_error(work))}",
        record["outcome"],
    ]


def summarize_dynamic(records: list[dict], run: dict | None = None) -> dict:
    """Totals (agree, lowers, counts, runs per batch size) and the failures with their reasons."""
    outcomes = Counter(r["outcome"] for r in records)
    applicable = [r for r in records if r["outcome"] != "not_applicable"]
    sides = {"plain": Counter(), "workbench": Counter()}
    failures, max_error = [], {"plain": None, "workbench": None}
    counts_agree = both_lower = 0
    for record in applicable:
        plain, work = record.get("plain") or {}, record.get("workbench") or {}
        for name, side in (("plain", plain), ("workbench", work)):
            tally = sides[name]
            tally["lowers"] += side.get("status") == "ok"
            for point in side.get("runs", []):
                tally[f"runs at {point['batch']}"] += bool(point["ran"])
            error = _max_error(side)
            if error is not None:
                max_error[name] = max(max_error[name] or 0.0, error)
            if side.get("status") != "ok":
                failures.append(
                    {"case": record["case"], "side": name, "stage": side.get("stage")}
                    | {"message": (side.get("message") or "")[:400]}
                )
            failures += [
                {"case": record["case"], "side": name, "stage": f"run at batch {r['batch']}"}
                | {"message": r["message"][:400]}
                for r in side.get("runs", [])
                if not r["ran"]
            ]
        if plain.get("status") == work.get("status") == "ok":
            both_lower += 1
            counts_agree += (plain["delegated"], plain["non_delegated"]) == (
                work["delegated"],
                work["non_delegated"],
            )
    return {
        "run": dict(run or {}),
        "cases": len(records),
        "applicable": len(applicable),
        "not_applicable": outcomes["not_applicable"],
        "agree": outcomes["agree"],
        "mismatch": outcomes["mismatch"],
        "error": outcomes["error"],
        "both_lower": both_lower,
        "counts_agree": counts_agree,
        "sides": {name: dict(tally) for name, tally in sides.items()},
        "max_abs_error": max_error,
        "failures": failures,
        "disagreements": [
            {"case": r["case"], "outcome": r["outcome"], "differences": r["differences"]}
            for r in applicable
            if r["outcome"] != "agree"
        ],
        "table": [row_cells(r) for r in records],
    }


def markdown_dynamic(summary: dict) -> str:
    s, p, w = summary, summary["sides"]["plain"], summary["sides"]["workbench"]
    lo, hi = s["run"].get("batch_range", (SIZES[0], SIZES[-1]))
    runs = ", ".join(f"{b}: {p.get(f'runs at {b}', 0)} / {w.get(f'runs at {b}', 0)}" for b in SIZES)
    out = [
        f"## Dynamic batch ({lo}..{hi}), {', '.join(s['run'].get('backends', []))}",
        "",
        f"- agree: **{s['agree']}/{s['applicable']}** ({s['mismatch']} mismatch, {s['error']} "
        f"error; {s['not_applicable']} of {s['cases']} cases have no batched tensor input)",
        f"- lowers: plain {p.get('lowers', 0)}, workbench {w.get('lowers', 0)}; counts equal "
        f"on {s['counts_agree']} of the {s['both_lower']} both lowered",
        f"- runs at batch (plain / workbench): {runs}",
        f"- max abs error vs eager: plain {_error_text(s['max_abs_error']['plain'])}, "
        f"workbench {_error_text(s['max_abs_error']['workbench'])}",
        "",
        "| " + " | ".join(_HEAD) + " |",
        "|" + "---|" * len(_HEAD),
    ]
    out += ["| " + " | ".join(cells) + " |" for cells in s["table"]]
    out += ["", "### Disagreements", ""]
    out += [
        f"- {d['case']} ({d['outcome']}): {'; '.join(d['differences'])}" for d in s["disagreements"]
    ] or ["None."]
    out += ["", "### Failures (either side)", ""]
    out += [
        f"- {f['case']} {f['side']} at {f['stage']}: {f['message'][:200]}" for f in s["failures"]
    ] or ["None."]
    return "\n".join(out) + "\n"
