"""The `etwb` commands other than `lower`: backends, models, schemes, sweep, cache, inspect."""

from __future__ import annotations

import argparse
import json
import sys

from ..errors import PteFormatError
from ..progress import Progress
from ._common import EXIT_FAILED, EXIT_OK, check_paths, clean_stdout


def cmd_backends(args: argparse.Namespace) -> int:
    from ..backends import list_backends
    from ..views.tables import backends_table

    if getattr(args, "options", False):
        return _backend_options(args.json)

    rows = list_backends()
    if args.json:
        import dataclasses

        print(json.dumps([dataclasses.asdict(r) for r in rows], indent=2))
    else:
        print(backends_table(rows))
    return EXIT_OK


def _backend_options(as_json: bool) -> int:
    """`etwb backends --options`: declared data only, so nothing is probed or imported."""
    from ..backends import backend_names, get_backend
    from ..backends._options import option_rows

    rows = [row for name in backend_names() for row in option_rows(get_backend(name))]
    if as_json:
        print(json.dumps(rows, indent=2))
        return EXIT_OK
    for name in backend_names():
        own = [row for row in rows if row["backend"] == name]
        if not own:
            continue
        print(f"{name}:")
        for row in own:
            print(f"  --option {name}.{row['option']}=VALUE  default {row['default']}")
            print(f"      values: {row['values']}")
            print(f"      {row['doc']}")
    names = ", ".join(n for n in backend_names() if not get_backend(n).options)
    print(f"\nno options: {names}")
    return EXIT_OK


def cmd_models(args: argparse.Namespace) -> int:
    from ..models import list_models
    from ..models._refs import REFERENCES

    entries = list_models()
    if args.json:
        print(
            json.dumps(
                [{"name": e.name, "description": e.description, "size": e.size} for e in entries]
                + [{**ref, "size": "varies"} for ref in REFERENCES],  # timm:NAME, hf:MODEL_TYPE
                indent=2,
            )
        )
    else:
        width = max(len(e.name) for e in entries)
        for entry in entries:
            print(f"{entry.name:<{width}}  {entry.size:<5}  {entry.description}")
        print(
            "\nor your own: path/to/file.py:factory or package.module:factory, factory() -> (module, example_inputs)"
        )
        for ref in REFERENCES:  # models/_refs.py
            print(f"or {ref['name']}: {ref['description']}; e.g. {ref['example']}")
    return EXIT_OK


def cmd_schemes(args: argparse.Namespace) -> int:
    from ..backends import backend_names, get_backend

    rows = []
    for name in backend_names():
        backend = get_backend(name)
        avail = backend.availability
        for scheme in backend.schemes.values():
            rows.append(
                {
                    "backend": name,
                    "scheme": scheme.name,
                    "description": scheme.description,
                    "lowers_here": avail.available and scheme.lowers_here,
                    "note": (
                        f"cannot lower here: {avail.reason}"
                        if not avail.available
                        else ("" if scheme.lowers_here else f"cannot lower here: {scheme.note}")
                    ),
                }
            )
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        for row in rows:
            note = f"  [{row['note']}]" if row["note"] else ""
            print(f"{row['backend']:<10} {row['scheme']:<18} {row['description']}{note}")
    return EXIT_OK


def cmd_cache(args: argparse.Namespace) -> int:
    from ..lowering._cache import ProgramCache

    cache = ProgramCache()
    if args.action == "clear":
        print(f"removed {cache.clear()} cached programs from {cache.directory}")
    else:
        from .._io import human_bytes

        info = cache.info()
        print(
            f"{info.directory}: {info.entries} programs, {human_bytes(info.bytes)} "
            f"(limit {human_bytes(info.limit_bytes)}; set ETWB_CACHE_DIR / ETWB_CACHE_LIMIT_BYTES)"
        )
    return EXIT_OK


def cmd_sweep(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .._io import atomic_write_text
    from ..sweep import run_sweep, summarize
    from ..views.sweep_report import coverage_csv, sweep_html

    def progress(event: Progress) -> None:
        line = str(event)
        if event.stage == "resume" and event.done is not None and event.total is not None:
            left = event.total - event.done
            line = (
                f"[{event.backend}] {event.done} of {event.total} cells already done; {left} to run"
            )
        print(f"  {line}", file=sys.stderr, flush=True)

    check_paths(out=args.out, cache=True)
    # stdout carries only the summary line; what models print goes to stderr.
    with clean_stdout(True) as stdout:
        records = run_sweep(
            args.models,
            args.backends,
            args.out,
            schemes=args.quant or [None],
            jobs=args.jobs,
            timeout=args.timeout,
            executor=args.executor,
            progress=progress,
        )
        summary = summarize(records)
        out = Path(args.out)
        atomic_write_text(out / "report.html", sweep_html(summary))
        atomic_write_text(out / "coverage.csv", coverage_csv(summary))
        print(
            f"Sweep: {summary.ok}/{summary.cells} cells lowered; report: {out / 'report.html'}, {out / 'coverage.csv'}",
            file=stdout,
        )
    return EXIT_OK if summary.ok == summary.cells else EXIT_FAILED


def cmd_inspect(args: argparse.Namespace) -> int:
    from ..analysis.memory_plan import memory_plans
    from ..analysis.pte_file import inspect_pte

    with clean_stdout(args.json) as out:
        try:
            report = inspect_pte(args.file)
            plans = memory_plans(args.file) if getattr(args, "memory", False) else None
        except PteFormatError as exc:
            if args.json:
                print(json.dumps({"file": args.file, "error": str(exc)}), file=out)
            else:
                print(f"etwb inspect: {exc}", file=sys.stderr)
            return EXIT_FAILED
        if args.json:
            data = report.to_dict()
            if plans is not None:
                data["memory_plans"] = [plan.to_dict() for plan in plans]
            print(json.dumps(data, indent=2), file=out)
        else:
            print(report.summary(), file=out)
            if plans is not None:
                print("memory plan (planned tensors and their lifetimes):", file=out)
                print("\n".join(plan.summary() for plan in plans), file=out)
    return EXIT_OK
