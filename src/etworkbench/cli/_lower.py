"""`etwb lower`: lower (or preview) a model, optionally run each program here, report."""

from __future__ import annotations

import argparse
import json
import sys

from ..errors import UsageError
from ..progress import Progress
from ._common import EXIT_FAILED, EXIT_OK, ProgressPrinter, check_paths, clean_stdout


def cmd_lower(args: argparse.Namespace) -> int:
    if args.config:  # --config k=v: overrides of a timm:/hf: reference (models/_refs.py)
        from ..models._refs import with_overrides

        args.model = with_overrides(args.model, args.config)
    if args.calibration and args.preview:
        raise UsageError("--calibration is for quantized lowering; drop --preview")
    if args.run and args.preview:
        raise UsageError("--run needs a compiled program; drop --preview")
    if (getattr(args, "numerics", False) or getattr(args, "etrecord", False)) and args.preview:
        raise UsageError("--numerics and --etrecord need a compiled program; drop --preview")
    if getattr(args, "numerics", False) and not args.threshold > 0:
        raise UsageError(f"--threshold must be > 0, got {args.threshold}")
    if args.preview and getattr(args, "float_modules", None):
        raise UsageError("--keep-float is for quantized lowering (a preview is float); drop one")
    if getattr(args, "dynamic", None):  # --dynamic x:0=1..8: bad syntax is exit 2, before work
        from ..models._dynamic import parse_dynamic

        args.dynamic_shapes = parse_dynamic(args.dynamic, "--dynamic")
    if getattr(args, "backend_options", None):  # --option B.K=V: checked before any work
        from ..backends import normalize_options
        from ..backends._options import parse_assignments

        args.options = normalize_options(parse_assignments(args.backend_options), args.backends)
    if args.run and args.repeats < 1:
        raise UsageError(f"--repeats must be >= 1, got {args.repeats}")
    if args.run_precision:  # OpenVINO fixes it when its CPU plugin first loads: before lowering
        from ..backends.openvino import set_host_precision

        set_host_precision("f32" if args.run_precision == "f32" else "cpu-default")
    if getattr(args, "model_explorer", None):  # before any work, like --out
        from .._io import check_writable_dir

        check_writable_dir(args.model_explorer, "--model-explorer")
    check_paths(
        out=None if args.preview else args.out,  # a preview writes nothing
        cache=not (args.no_cache or args.preview),
        calibration=args.calibration,
    )
    with clean_stdout(args.json) as out:
        return _lower_and_report(args, out)


def _lower_and_report(args: argparse.Namespace, out) -> int:
    from ..lowering import lower

    # Stage lines on stderr (not with --json); counted stages (calibration) as bars, always.
    progress = ProgressPrinter(quiet=args.json)

    common = dict(priority=args.priority, out_dir=args.out, progress=progress)
    if args.calibration:
        common["calibration"] = args.calibration
    if args.exclude_ops:
        common["exclude_ops"] = args.exclude_ops
    if getattr(args, "float_modules", None):
        common["float_modules"] = args.float_modules
    dynamic = getattr(args, "dynamic_shapes", None)
    if dynamic:
        common["dynamic_shapes"] = dynamic
    if getattr(args, "options", None):
        common["options"] = args.options
    if args.no_cache:
        common["cache"] = False
    if args.preview:
        from ..lowering import preview

        report = preview(
            args.model,
            args.backends,
            priority=args.priority,
            exclude_ops=args.exclude_ops,
            dynamic_shapes=dynamic,
            options=getattr(args, "options", None),
        )
    elif args.jobs or args.timeout or args.memory_limit:
        from ..lowering._workers import lower_in_workers

        report = lower_in_workers(
            args.model,
            args.backends,
            args.quant,
            jobs=args.jobs,
            timeout=args.timeout,
            memory_limit=args.memory_limit * 2**20 if args.memory_limit else None,
            **common,
        )
    else:
        # Several backends lower in parallel forked workers (one shared export), one in-process.
        report = lower(args.model, args.backends, args.quant, jobs=0, **common)
    run_failed = False
    if args.run:
        for result in report.results:
            progress(Progress(result.backend, "run"))
            run = result.run(
                repeats=args.repeats, profile=args.profile, precision=args.run_precision
            )
            run_failed |= run.status == "failed"
            if dynamic:  # min / middle / max of the dynamic dims, each against eager
                rows = result.check_dynamic()
                # a program that runs here but not at some size of its range: a failure
                run_failed |= run.ok and not all(row.ran for row in rows)
    numerics = _numerics_and_etrecords(args, report, progress)
    explorer = []
    if getattr(args, "model_explorer", None):
        from ..views.model_explorer import write

        explorer = write([r for r in report.results if r.ok], args.model_explorer)
    if args.json:
        data = report.to_dict()
        for entry in data["results"]:  # numerics: every node, under each program
            if entry["backend"] in numerics:
                entry["numerics"] = numerics[entry["backend"]].to_dict()
        print(json.dumps(data, indent=2), file=out, flush=True)
    else:
        print(report.summary(), file=out)
        for gaps in numerics.values():
            print(gaps.summary(10), file=out)
        if args.run and args.profile:
            from ..views.tradeoff import profile_table

            for result in report.results:
                if result.run_report is not None and result.run_report.ok:
                    print(
                        f"\n{result.backend} ETDump profile:\n{profile_table(result.run_report)}",
                        file=out,
                    )
    for path in explorer:  # with --json, stdout carries only the JSON
        print(f"Model Explorer: {path}", file=sys.stderr if args.json else out, flush=True)
    return EXIT_OK if all(r.ok for r in report.results) and not run_failed else EXIT_FAILED


def _numerics_and_etrecords(args: argparse.Namespace, report, progress) -> dict:
    """--numerics (per-node gap, by backend) and --etrecord (beside each written .pte)."""
    lowering = {"exclude_ops": args.exclude_ops, "calibration": args.calibration}
    found = {}
    for result in report.results:
        if getattr(args, "numerics", False) and result.ok:
            progress(Progress(result.backend, "numerics"))
            found[result.backend] = result.numerics(threshold=args.threshold, **lowering)
        if getattr(args, "etrecord", False) and result.ok and result.pte_path:
            progress(Progress(result.backend, "etrecord"))
            result.save_etrecord(result.pte_path, **lowering)
    return found
