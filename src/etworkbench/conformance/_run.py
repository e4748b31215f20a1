"""Running the corpus: one JSON per (case, backend), written as each finishes, never redone.

Like `etwb sweep`, a rerun skips every (case, backend) already on disk, so an interrupted run
resumes. With `jobs` > 1 or a `timeout`, each case runs in a forked worker (all its backends),
so a case that crashes or hangs its worker fails alone, as an `error` at stage `worker`.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .._io import atomic_write_text
from ._cases import SUITES, Case, Collection
from ._collect import collect, select
from ._compare import compare_case
from ._plain import plain_lower
from ._sides import CaseResult, Side
from ._targets import parse_target, unavailable_reason

# The case the determinism probe lowers twice with the plain API.
PROBE_CASE = "python_attr_config"  # small and lowers on every float backend
Notify = Callable[[str], None]


@dataclass
class Plan:
    """What a run covers: the cases, the targets compared, and what was left out and why.

    `backends` holds target labels: `xnnpack`, `xnnpack:int8`, `coreml+xnnpack` (see _targets).
    """

    suites: list[str]
    backends: list[str]
    cases: list[Case]
    not_collected: dict[str, dict[str, str]] = field(default_factory=dict)  # suite -> {cat: why}
    collected: dict[str, int] = field(default_factory=dict)  # suite -> cases before --limit
    skipped_backends: dict[str, str] = field(default_factory=dict)  # backend -> why not compared


def expand_suites(suite: str | Sequence[str]) -> list[str]:
    names = [suite] if isinstance(suite, str) else list(suite)
    return list(SUITES) if "all" in names else names


def make_plan(
    suites: Sequence[str],
    backends: Sequence[str],
    limit: int | None = None,
    patterns: list[str] | None = None,
    per_group: int | None = None,
) -> Plan:
    plan = Plan(list(suites), [], [])
    for text in backends:
        target = parse_target(text)
        why = unavailable_reason(target)
        if why is not None:
            plan.skipped_backends[target.label] = why
        elif target.label not in plan.backends:
            plan.backends.append(target.label)
    for suite in suites:
        collection: Collection = collect(suite)
        plan.collected[suite] = len(collection.cases)
        if collection.not_collected:
            plan.not_collected[suite] = collection.not_collected
        plan.cases.extend(select(collection.cases, patterns, limit, per_group))
    return plan


def probe_determinism(out: Path, backends: list[str], notify: Notify) -> dict[str, dict]:
    """Lower one case twice with the plain API per backend: equal bytes means deterministic.

    Stored in determinism.json so a resumed run judges bytes the same way.
    """
    from ._tricky import build_tricky

    path = out / "determinism.json"
    known = json.loads(path.read_text()) if path.exists() else {}
    case = Case("tricky", PROBE_CASE, lambda: build_tricky(PROBE_CASE))
    for name in backends:
        if name in known:
            continue
        target = parse_target(name)
        first, a = plain_lower(case, target)
        second, b = plain_lower(case, target)
        entry = {"case": case.key, "deterministic": a is not None and a == b}
        if a is None or b is None:
            entry["note"] = f"probe failed: {first.message or second.message}; bytes not compared"
        else:
            entry["sizes"] = [len(a), len(b)]
        known[name] = entry
        notify(
            f"determinism {name}: {'same bytes twice' if entry['deterministic'] else 'bytes differ between two plain lowerings (or probe failed)'}"
        )
        atomic_write_text(path, json.dumps(known, indent=1))
    return known


def _write(cells: Path, result: CaseResult, case: Case) -> None:
    atomic_write_text(cells / case.filename(result.backend), json.dumps(result.to_dict(), indent=1))


def _line(index: int, total: int, result: CaseResult) -> str:
    extra = f": {'; '.join(result.differences)[:200]}" if result.differences else ""
    return (
        f"[{index}/{total}] {result.suite}/{result.case} {result.backend}: "
        f"{result.outcome} ({result.seconds:.1f} s){extra}"
    )


def _run_case(
    case: Case, backends: list[str], determinism: dict, cells: Path, index, total, notify
):
    for backend in backends:
        deterministic = bool(determinism.get(backend, {}).get("deterministic"))
        result = compare_case(case, parse_target(backend), deterministic)
        _write(cells, result, case)
        notify(_line(index, total, result))


def run_conformance(
    out_dir: str | Path,
    plan: Plan,
    *,
    jobs: int | None = None,
    timeout: float | None = None,
    notify: Notify | None = None,
) -> list[dict]:
    """Compare every (case, backend) of `plan` not already in out_dir/cases; return all records."""
    out = Path(out_dir)
    cells = out / "cases"
    cells.mkdir(parents=True, exist_ok=True)
    say = notify or (lambda line: None)
    determinism = probe_determinism(out, plan.backends, say)
    todo = [
        (case, [b for b in plan.backends if not (cells / case.filename(b)).exists()])
        for case in plan.cases
    ]
    todo = [(case, backends) for case, backends in todo if backends]
    pairs = len(plan.cases) * len(plan.backends)
    say(f"{pairs - sum(len(b) for _, b in todo)} of {pairs} (case, backend) pairs already done")
    if (jobs or 1) > 1 or timeout:
        _run_forked(todo, determinism, cells, jobs or 1, timeout or 600.0, say)
    else:
        for index, (case, backends) in enumerate(todo, 1):
            _run_case(case, backends, determinism, cells, index, len(todo), say)
    return [
        json.loads((cells / case.filename(b)).read_text())
        for case in plan.cases
        for b in plan.backends
        if (cells / case.filename(b)).exists()
    ]


def _run_forked(todo, determinism, cells: Path, jobs: int, timeout: float, say: Notify) -> None:
    """One forked worker per case, `jobs` at a time; a worker past `timeout` is killed."""
    import multiprocessing as mp

    from ..lowering._fork_workers import _forked_process_setup

    context = mp.get_context("fork")
    running: dict = {}  # process -> (case, backends, started, index)
    queue = list(enumerate(todo, 1))

    def child(case, backends, index):
        _forked_process_setup()
        _run_case(case, backends, determinism, cells, index, len(todo), say)

    while queue or running:
        while queue and len(running) < jobs:
            index, (case, backends) = queue.pop(0)
            process = context.Process(target=child, args=(case, backends, index), daemon=True)
            process.start()
            running[process] = (case, backends, time.monotonic(), index)
        time.sleep(0.1)
        for process, (case, backends, started, index) in list(running.items()):
            overdue = time.monotonic() - started > timeout
            if process.is_alive() and not overdue:
                continue
            if process.is_alive():
                process.kill()
            process.join()
            del running[process]
            why = (
                f"worker timed out after {timeout:.0f} s and was killed"
                if overdue
                else f"worker died with exit code {process.exitcode}"
            )
            for backend in backends:
                if (cells / case.filename(backend)).exists():
                    continue
                side = Side("error", stage="worker", message=why)
                result = CaseResult(
                    case.suite, case.name, backend, "", "error", [why], plain=side, workbench=side
                )
                _write(cells, result, case)
                say(_line(index, len(todo), result))


def stderr_notify(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


__all__ = ["Plan", "expand_suites", "make_plan", "run_conformance", "stderr_notify"]
