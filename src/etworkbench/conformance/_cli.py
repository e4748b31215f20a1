"""`etwb conformance`: argument parsing and output files (the CLI module only registers it)."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path


def add_conformance_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "conformance",
        help="compare the workbench with the plain executorch API over a corpus of cases",
    )
    p.add_argument(
        "--backends",
        nargs="+",
        default=["xnnpack"],
        metavar="TARGET",
        help="what to compare: BACKEND, BACKEND:SCHEME (e.g. xnnpack:int8; both sides make the "
        "same quantizer calls) or A+B[:SCHEME] (a priority list: one program, partitioners in "
        "that order); default: xnnpack",
    )
    p.add_argument(
        "--suite",
        nargs="+",
        default=["all"],
        choices=["ops", "models", "tricky", "all"],
        help="ops: executorch's operator test suite; models: torchvision/timm/transformers; "
        "tricky: models that once broke the shared export (default: all)",
    )
    p.add_argument("--limit", type=int, default=None, metavar="N", help="first N cases per suite")
    p.add_argument(
        "--per-group",
        type=int,
        default=None,
        metavar="N",
        help="at most N cases per operator file / model family (1: every operator once)",
    )
    p.add_argument(
        "--case",
        dest="patterns",
        action="append",
        default=None,
        metavar="GLOB",
        help="only cases whose name matches, e.g. 'add/*' or 'tricky/batchnorm_cnn' (repeatable)",
    )
    p.add_argument("--out", required=True, metavar="DIR")
    p.add_argument(
        "--jobs", type=int, default=None, metavar="N", help="cases in N forked worker processes"
    )
    p.add_argument(
        "--timeout",
        type=float,
        default=None,
        metavar="SECONDS",
        help="per-case limit (implies a worker per case; default 600 with --jobs)",
    )
    p.add_argument(
        "--dynamic-batch",
        action="store_true",
        help="instead of the static comparison: each case with the batch dim (dim 0 of its "
        "tensor inputs of 2+ dims) dynamic 1..4, plain API vs workbench, run at batch 1, 2, 4",
    )
    p.add_argument(
        "--markdown",
        default=None,
        metavar="FILE",
        help="also write the markdown tables here (default: DIR/conformance.md)",
    )
    p.set_defaults(func=run_from_args)


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for name in ("torch", "executorch", "torchvision", "coremltools", "timm", "transformers"):
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            pass
    return found


def run_from_args(args: argparse.Namespace) -> int:
    from .._stdout import json_stdout
    from ._run import expand_suites, make_plan, run_conformance, stderr_notify

    started = time.perf_counter()
    suites = expand_suites(args.suite)
    dynamic = bool(getattr(args, "dynamic_batch", False))
    if dynamic:
        _check_dynamic_targets(args.backends)
    plan = make_plan(suites, args.backends, args.limit, args.patterns, args.per_group, dynamic)
    for suite, missing in plan.not_collected.items():
        for category, why in missing.items():
            stderr_notify(f"not collected: {suite}/{category}: {why}")
    for backend, why in plan.skipped_backends.items():
        stderr_notify(f"backend {backend} not compared: {why}")
    stderr_notify(
        f"{len(plan.cases)} cases ({', '.join(f'{s} {n} collected' for s, n in plan.collected.items())})"
        f" x {len(plan.backends)} backends"
    )
    out = Path(args.out)
    with json_stdout() as real_out:  # what the cases' code prints goes to stderr
        records = run_conformance(
            out, plan, jobs=args.jobs, timeout=args.timeout, notify=stderr_notify
        )
        if dynamic:
            return _write_dynamic_outputs(args, out, plan, suites, records, started, real_out)
        return _write_outputs(args, out, plan, suites, records, started, real_out)


def _check_dynamic_targets(texts: list[str]) -> None:
    """Dynamic batch compares float programs of one backend: other targets are usage errors."""
    from ..backends import get_backend
    from ..errors import UsageError
    from ._targets import parse_target

    for text in texts:
        target = parse_target(text)
        if (
            target.priority
            or not get_backend(target.backends[0]).schemes[target.scheme].float_export
        ):
            raise UsageError(
                f"--dynamic-batch compares float programs of one backend; {text!r} is not one"
            )


def _run_info(args, plan, suites, records, started: float) -> dict:
    return {
        "suites": suites,
        "backends": plan.backends,
        "limit": args.limit,
        "cases": [p for p in (args.patterns or [])],
        "case_count": len(plan.cases),
        "collected": plan.collected,
        "pairs": len(records),
        "seconds_this_run": round(time.perf_counter() - started, 1),
        "seconds_all_pairs": round(sum(r.get("seconds", 0) for r in records), 1),
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "versions": _versions(),
        "not_collected": plan.not_collected,
        "skipped_backends": plan.skipped_backends,
    }


def _write_dynamic_outputs(args, out: Path, plan, suites, records, started: float, real_out) -> int:
    from .._io import atomic_write_text
    from ._dynamic_batch import BATCH, MODE
    from ._dynamic_summary import markdown_dynamic, summarize_dynamic

    run = _run_info(args, plan, suites, records, started) | {"mode": MODE, "batch_range": BATCH}
    summary = summarize_dynamic(records, run)
    atomic_write_text(out / "summary.json", json.dumps(summary, indent=1))
    text = markdown_dynamic(summary)
    atomic_write_text(out / "conformance.md", text)
    if args.markdown:
        atomic_write_text(args.markdown, text)
    print(
        f"Conformance (dynamic batch {BATCH[0]}..{BATCH[1]}): {summary['agree']}/"
        f"{summary['applicable']} agree, {summary['mismatch']} mismatch, {summary['error']} "
        f"error, {summary['not_applicable']} not applicable; table: {out / 'conformance.md'}",
        file=real_out,
    )
    return 0 if not summary["mismatch"] + summary["error"] else 1


def _write_outputs(args, out: Path, plan, suites, records, started: float, real_out) -> int:
    from .._io import atomic_write_text
    from ._render import html_report, markdown
    from ._summary import summarize

    determinism_file = out / "determinism.json"
    run = _run_info(args, plan, suites, records, started) | {
        "determinism": json.loads(determinism_file.read_text())
        if determinism_file.exists()
        else {},
    }
    summary = summarize(records, run)
    atomic_write_text(out / "summary.json", json.dumps(summary.to_dict(), indent=1))
    atomic_write_text(out / "report.html", html_report(summary))
    text = markdown(summary)
    atomic_write_text(out / "conformance.md", text)
    if args.markdown:
        atomic_write_text(args.markdown, text)
    bad = sum(r.mismatch + r.error for r in summary.rows)
    agree = sum(r.agree for r in summary.rows)
    print(
        f"Conformance: {agree}/{len(records)} agree, {sum(r.mismatch for r in summary.rows)} "
        f"mismatch, {sum(r.error for r in summary.rows)} error; report: {out / 'report.html'}",
        file=real_out,
    )
    return 0 if not bad else 1
