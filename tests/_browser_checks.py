"""What the browser test asserts, collected: each check is recorded (with what the page showed)
and all of them are asserted together at the end, so one run reports every failing check at
both window sizes instead of stopping at the first. Plus the parsers of what each view prints.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field


@dataclass
class Check:
    name: str
    ok: bool
    detail: str = ""


@dataclass
class Checks:
    checks: list[Check] = field(default_factory=list)
    layout: dict[tuple[str, str], list[str]] = field(default_factory=dict)  # offender -> steps
    notes: list[str] = field(default_factory=list)

    def check(self, name: str, ok: bool, detail: object = "") -> bool:
        self.checks.append(Check(name, bool(ok), str(detail)))
        print(("PASS " if ok else "FAIL ") + name + ("" if ok else f"\n     page: {detail}"))
        return bool(ok)

    def note(self, text: str) -> None:
        self.notes.append(text)
        print("NOTE " + text)

    def layout_step(self, size: str, step: str, found: dict) -> None:
        """Record the offenders of one layout scan (see `_browser_app._LAYOUT_JS`)."""
        for bad in found["bad"]:
            key = (
                size,
                f"{bad['what']}: {bad['el']} '{bad['text']}' (scrollWidth {bad['scroll']}, "
                f"clientWidth {bad['client']}, x {bad['left']}..{bad['right']}"
                + (f", room {bad['room'][0]}..{bad['room'][1]}" if bad.get("room") else "")
                + f" of {found['width']} px)",
            )
            self.layout.setdefault(key, []).append(step)
        print(f"LAYOUT {size} {step}: area {found['width']} px, {len(found['bad'])} offender(s)")

    def close_layout(self, sizes: list[str]) -> None:
        """One check per window size: no control or label cut or outside the output area."""
        for size in sizes:
            rows = [(what, steps) for (s, what), steps in self.layout.items() if s == size]
            detail = "\n       ".join(
                f"{what} [at: {', '.join(dict.fromkeys(steps))}]" for what, steps in rows
            )
            self.check(
                f"[{size}] no overflow or truncated label (controls, labels, tables, tabs)",
                not rows,
                f"{len(rows)} element(s):\n       {detail}",
            )

    def failed(self) -> list[Check]:
        return [c for c in self.checks if not c.ok]

    def report(self) -> str:
        lines = [f"{sum(c.ok for c in self.checks)}/{len(self.checks)} checks passed"]
        lines += [f"FAIL {c.name}\n     page: {c.detail}" for c in self.failed()]
        return "\n".join(lines)


# -- what the views print ---------------------------------------------------------------------
@dataclass(frozen=True)
class Counts:
    delegated: int | None = None
    cpu: int | None = None
    structural: int | None = None
    share: str | None = None  # as printed, e.g. "60%"

    def numbers(self) -> tuple:
        return (self.delegated, self.cpu, self.structural)


def share_matches(text: str | None, share: float | None) -> bool:
    """A printed share ("60%", "99.5%", ">99.9%", "n/a") against the JSON's fraction."""
    if share is None or text is None:
        return text in (None, "n/a") and share is None
    number = re.search(r"[\d.]+", text)
    if number is None:
        return False
    if text.startswith(">"):  # ">99.9%": above it, below 100%
        return float(number.group()) / 100 < share < 1
    if text.startswith("<"):  # "<0.1%": above 0, below it
        return 0 < share < float(number.group()) / 100
    places = len(number.group().partition(".")[2])
    return abs(float(number.group()) / 100 - share) <= 0.5 * 10 ** -(places + 2) + 1e-9


def json_counts(result: dict) -> Counts:
    return Counts(result["delegated_nodes"], result["cpu_kernel_nodes"], result["structural_nodes"])


_SUMMARY_LINE = re.compile(
    r"^\s+(?P<backend>[\w.+-]+): ok\s+(?P<size>[\d.]+ [KMG]?B)\s+delegated (?P<d>\d+) / "
    r"CPU fallback (?P<c>\d+) / structural (?P<s>\d+) nodes, (?P<share>\S+) delegated"
    r"(?P<rest>.*)$",
    re.M,
)


def summary_counts(text: str) -> dict[str, tuple[Counts, str, str]]:
    """backend -> (counts, size as printed, the rest of the line) from `report.summary()`."""
    return {
        m["backend"]: (
            Counts(int(m["d"]), int(m["c"]), int(m["s"]), m["share"]),
            m["size"],
            m["rest"],
        )
        for m in _SUMMARY_LINE.finditer(text)
    }


def size_matches(printed: str | None, pte_bytes: int) -> bool:
    """'12.3 KB' (decimal units, one decimal) against the byte count."""
    if not printed or not re.fullmatch(r"[\d.]+ [KMG]?B", printed.strip()):
        return False
    number, unit = printed.split()
    scale = {"B": 1, "KB": 1e3, "MB": 1e6, "GB": 1e9}[unit]
    return abs(float(number) * scale - pte_bytes) <= (0.5 if unit == "B" else 0.05) * scale


def legend_counts(text: str, backend: str) -> Counts:
    """The graph legend: 'delegated to xnnpack: 3 nodes', 'CPU fallback (runs a kernel): 2
    nodes', 'structural (getitem, no kernel): 0 nodes', '60% delegated share = ...'."""

    def number(pattern: str) -> int | None:
        m = re.search(pattern, text)
        return int(m.group(1)) if m else None

    share = re.search(r"^(\S+) delegated share", text, re.M)
    return Counts(
        number(rf"delegated to {re.escape(backend)}: (\d+) nodes?"),
        number(r"CPU fallback \(runs a kernel\): (\d+) nodes?"),
        number(r"structural \(getitem, no kernel\): (\d+) nodes?"),
        share.group(1) if share else None,
    )


def table_rows(table: dict, level: int = -1, key: str = "backend") -> dict[str, dict[str, str]]:
    """One of our HTML tables (see `_browser_app._TABLE_JS`): row key -> {column: cell text},
    plus {column + " title": hover title} where a cell has one. A pandas table keys rows by
    index level `level` (<th>; rows under a rowspan have fewer, so levels count from the end),
    a plain one by its `key` column."""
    rows = {}
    for row in table["rows"]:
        cols = table["cols"][len(table["cols"]) - len(row["cells"]) :]
        cells = dict(zip(cols, row["cells"], strict=True))
        titles = row.get("titles") or [""] * len(cols)
        cells |= {f"{c} title": t for c, t in zip(cols, titles, strict=True) if t}
        name = row["index"][level] if row["index"] else cells.get(key)
        if name:
            rows[name] = cells
    return rows


def coverage_table_counts(table: dict) -> dict[str, tuple[Counts, tuple]]:
    """The coverage tab's counts table: backend -> (counts, get_delegation_info's pair)."""
    out = {}
    for backend, cells in table_rows(table, level=-2).items():

        def cell(name: str, cells=cells) -> int | None:
            value = cells.get(name)
            return int(value) if value not in (None, "") else None

        counts = Counts(
            cell("delegated"),
            cell("CPU fallback (runs a kernel)"),
            cell("structural (getitem, no kernel)"),
            cells.get("delegated share"),
        )
        info = (cell("get_delegation_info delegated"), cell("get_delegation_info non-delegated"))
        out[backend] = (counts, info)
    return out


def pte_size_matches(cells: dict[str, str], pte_bytes: int) -> bool:
    """A sizes-table row's .pte size: exact bytes from the hover title ("5,264 bytes") when
    there is one, else the printed size ("5.3 KB", or the older pte_MB column's "0.005")."""
    title = cells.get(".pte size title", "")
    exact = re.fullmatch(r"([\d,]+) bytes", title.strip())
    if exact:
        return int(exact.group(1).replace(",", "")) == pte_bytes
    if cells.get(".pte size"):
        return size_matches(cells[".pte size"], pte_bytes)
    if cells.get("pte_MB"):
        return cells["pte_MB"] == f"{pte_bytes / 1e6:.3f}"
    return False


def heatmap_sums(plots: list[dict]) -> dict[str, tuple[int, int]]:
    """The coverage heatmap's cell texts ('delegated/CPU fallback' per op) summed per backend."""
    for plot in plots:
        for trace in plot["traces"]:
            if trace["type"] != "heatmap":
                continue
            sums: dict[str, list[int]] = {}
            for row in trace["text"]:
                for label, cell in zip(trace["x"], row, strict=False):
                    backend = label.split("<br>")[0]
                    total = sums.setdefault(backend, [0, 0])
                    if "/" in cell:
                        d, f = cell.split("/")
                        total[0] += int(d)
                        total[1] += int(f)
            return {b: (d, f) for b, (d, f) in sums.items()}
    return {}


def share_bars(plots: list[dict]) -> dict[str, str]:
    """The delegated-share bars' labels ("60%") per backend: the bar trace labelled in %."""
    for plot in plots:
        for trace in plot["traces"]:
            labels = [t for t in trace["text"] if isinstance(t, str)]
            if (
                trace["type"] == "bar"
                and labels
                and all(t.endswith("%") or t == "n/a" for t in labels)
            ):
                return dict(zip(trace["x"], labels, strict=False))
    return {}


def size_bar_labels(plots: list[dict]) -> dict[str, str]:
    """The size chart's total labels ('5.3 KB') per 'backend (scheme)' column."""
    for plot in plots:
        if ".pte size" in plot["title"]:
            for trace in plot["traces"]:
                if trace["type"] == "scatter" and trace["text"]:
                    return {
                        x.split(" (")[0]: t for x, t in zip(trace["x"], trace["text"], strict=False)
                    }
    return {}


def fallback_note(text: str) -> dict[str, tuple[int, int]]:
    """'xnnpack: 2 CPU fallback nodes (run a kernel) listed, 0 structural nodes ...'."""
    pattern = r"([\w.+-]+): (\d+) CPU fallback nodes \(run a kernel\) listed, (\d+) structural"
    return {m[1]: (int(m[2]), int(m[3])) for m in re.finditer(pattern, text)}
