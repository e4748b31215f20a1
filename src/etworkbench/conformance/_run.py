"""Running the corpus: one JSON per (case, backend), written as each finishes, never redone.

Like `etwb sweep`, a rerun skips every (case, backend) already on disk, so an interrupted run
resumes. With `jobs` > 1 or a `timeout`, cases run in `jobs` kept forked workers (a case with
all its targets per request), so a case that crashes or hangs its worker fails alone, as an
`error` at stage `worker`, and the worker is replaced.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .._forked import forked_process_setup
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
    # True: each case is the dynamic-batch pair (`_dynamic_batch`), not the static comparison
    dynamic_batch: bool = False

    def cell(self, case: Case, backend: str) -> str:
        """The file name of the record of (case, backend) in this kind of run."""
        if self.dynamic_batch:
            from ._dynamic_batch import record_label

            return case.filename(record_label(backend))
        return case.filename(backend)


def expand_suites(suite: str | Sequence[str]) -> list[str]:
    names = [suite] if isinstance(suite, str) else list(suite)
    return list(SUITES) if "all" in names else names


def make_plan(
    suites: Sequence[str],
    backends: Sequence[str],
    limit: int | None = None,
    patterns: list[str] | None = None,
    per_group: int | None = None,
    dynamic_batch: bool = False,
) -> Plan:
    plan = Plan(list(suites), [], [], dynamic_batch=dynamic_batch)
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


def _run_dynamic_case(
    case: Case, backends: list[str], _determinism, cells: Path, index, total, notify
):
    from ._dynamic_batch import compare_dynamic, record_label

    for backend in backends:
        record = compare_dynamic(case, parse_target(backend))
        name = case.filename(record_label(backend))
        atomic_write_text(cells / name, json.dumps(record.to_dict(), indent=1))
        extra = f": {'; '.join(record.differences)[:200]}" if record.differences else ""
        notify(
            f"[{index}/{total}] {case.key} {backend} dynamic batch: {record.outcome} "
            f"({record.seconds:.1f} s){extra}"
        )


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


def load_every_workbench_module() -> list[str]:
    """Import all of etworkbench before the first case; the names imported.

    A run lasts an hour and its workers import lazily: a module imported after the source tree
    was edited would meet modules of the old version already loaded (ImportError, records that
    are errors of the run, not of the case). Loaded up front, the run and every worker forked
    from it hold one version of the code, whatever happens to the files.
    """
    import importlib
    import pkgutil

    root = Path(__file__).resolve().parents[1]  # the etworkbench package: walked, not depended on
    names = []
    for info in pkgutil.walk_packages([str(root)], root.name + "."):
        if info.name.rsplit(".", 1)[-1] == "__main__":  # running it is what importing does
            continue
        importlib.import_module(info.name)
        names.append(info.name)
    return names


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
    load_every_workbench_module()
    if plan.dynamic_batch:  # no .pte bytes are compared: no probe
        determinism: dict = {}
        run_case = _run_dynamic_case
    else:
        determinism = probe_determinism(out, plan.backends, say)
        run_case = _run_case
    todo = [
        (case, [b for b in plan.backends if not (cells / plan.cell(case, b)).exists()])
        for case in plan.cases
    ]
    todo = [(case, backends) for case, backends in todo if backends]
    pairs = len(plan.cases) * len(plan.backends)
    say(f"{pairs - sum(len(b) for _, b in todo)} of {pairs} (case, backend) pairs already done")
    if (jobs or 1) > 1 or timeout:
        _run_forked(todo, determinism, cells, jobs or 1, timeout or 600.0, say, plan, run_case)
    else:
        for index, (case, backends) in enumerate(todo, 1):
            run_case(case, backends, determinism, cells, index, len(todo), say)
    return [
        json.loads((cells / plan.cell(case, b)).read_text())
        for case in plan.cases
        for b in plan.backends
        if (cells / plan.cell(case, b)).exists()
    ]


# A worker is replaced after this many cases, so that what a long run leaves behind in one
# process (compiled kernels, loaded delegates, caches of the libraries) stays bounded.
CASES_PER_WORKER = 100
_NO_MEMORY_CAP = 1 << 40  # the deadline is the limit here, not RLIMIT_AS


def _run_forked(
    todo, determinism, cells: Path, jobs: int, timeout: float, say: Notify, plan: Plan, run_case
) -> None:
    """`jobs` kept forked workers take cases in turn; a case past `timeout` (or that kills its
    worker) fails alone, at stage `worker`, and the worker is replaced.

    A worker is kept from case to case: what a fresh process pays once (imports of the backend
    libraries, their first-call setup) is paid once per worker, not once per case.
    """
    import queue
    import threading

    from .._forked import ForkedWorker

    cases: queue.Queue = queue.Queue()
    for item in enumerate(todo, 1):
        cases.put(item)

    def in_child(index: int) -> tuple[str, None]:  # the child inherits `todo`: cases hold lambdas
        forked_process_setup()
        case, backends = todo[index - 1]
        run_case(case, backends, determinism, cells, index, len(todo), say)
        return "ok", None

    def drive() -> None:
        worker = ForkedWorker(in_child)
        done = 0
        try:
            while True:
                try:
                    index, (case, backends) = cases.get_nowait()
                except queue.Empty:
                    return
                status, payload = worker.run((index,), timeout, _NO_MEMORY_CAP)
                done += 1
                if status != "ok":
                    why = (
                        f"worker timed out after {timeout:.0f} s and was killed"
                        if status == "timeout"
                        else f"worker died: {payload}"
                    )
                    _record_worker_failure(
                        case, backends, cells, why, (index, len(todo)), say, plan
                    )
                if done % CASES_PER_WORKER == 0:
                    worker.stop(grace=5.0)
        finally:
            worker.stop(grace=5.0)

    threads = [threading.Thread(target=drive, name=f"etwb-conformance-{i}") for i in range(jobs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def _record_worker_failure(case, backends, cells: Path, why: str, at, say, plan: Plan) -> None:
    """An `error` at stage `worker` for each of the case's targets the worker did not finish."""
    index, total = at
    for backend in backends:
        if (cells / plan.cell(case, backend)).exists():
            continue
        if plan.dynamic_batch:
            from ._dynamic_batch import worker_failure

            record = worker_failure(case, backend, why)
            atomic_write_text(cells / plan.cell(case, backend), json.dumps(record, indent=1))
            say(f"[{index}/{total}] {case.key} {backend} dynamic batch: error: {why}")
            continue
        side = Side("error", stage="worker", message=why)
        result = CaseResult(
            case.suite, case.name, backend, "", "error", [why], plain=side, workbench=side
        )
        _write(cells, result, case)
        say(_line(index, total, result))


def stderr_notify(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


__all__ = ["Plan", "expand_suites", "make_plan", "run_conformance", "stderr_notify"]
