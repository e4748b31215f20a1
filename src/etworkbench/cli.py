"""`etwb`: the workbench from a terminal, over the same API as the notebooks.

Exit codes: 0 everything asked for worked; 1 a backend failed or was unavailable (or a file
could not be inspected); 2 bad usage (unknown model/backend/scheme, bad path).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence

from ._stdout import json_stdout
from .errors import PteFormatError, UsageError

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def _clean_stdout(machine: bool):
    """While user code runs, its prints go to stderr when stdout carries machine output
    (see `_stdout.json_stdout`); yields the stream to write that output to."""
    import contextlib

    return json_stdout() if machine else contextlib.nullcontext(sys.stdout)


def _check_paths(
    out: str | None = None, cache: bool = False, calibration: str | None = None
) -> None:
    """Fail in a second, before anything is built or exported: an unwritable --out or cache
    directory, or an unreadable calibration file, is a usage error naming the path."""
    from ._io import check_cache_dir, check_readable_file, check_writable_dir

    if out is not None:
        check_writable_dir(out, "--out")
    if cache:
        from .lowering._cache import cache_dir

        check_cache_dir(cache_dir())
    if calibration is not None:
        check_readable_file(calibration, "calibration file")


def _quiet_libraries() -> None:
    """Keep executorch/torch warnings and C++ logs out of the summary the user reads."""
    import warnings

    warnings.filterwarnings("ignore")
    logging.getLogger().setLevel(logging.ERROR)
    logging.getLogger("torch.utils._pytree").setLevel(
        logging.ERROR
    )  # import-time deprecation noise
    os.environ.setdefault("TORCH_CPP_LOG_LEVEL", "ERROR")
    os.environ.setdefault("TORCH_LOGS", "-dynamic")  # symbolic-shape warnings of failed exports


def _cmd_backends(args: argparse.Namespace) -> int:
    from .backends import list_backends
    from .views.tables import backends_table

    rows = list_backends()
    if args.json:
        import dataclasses

        print(json.dumps([dataclasses.asdict(r) for r in rows], indent=2))
    else:
        print(backends_table(rows))
    return EXIT_OK


def _cmd_models(args: argparse.Namespace) -> int:
    from .models import list_models
    from .models._refs import REFERENCES

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


def _cmd_schemes(args: argparse.Namespace) -> int:
    from .backends import backend_names, get_backend

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


class _CalibrationBars:
    """One tqdm bar per program while a static scheme observes its calibration batches
    (a plain `calibrate i/N` line per batch where tqdm is not installed)."""

    def __init__(self) -> None:
        self.bars: dict[str, object] = {}

    def update(self, label: str, stage: str) -> None:
        try:
            from tqdm import tqdm
        except ImportError:
            print(f"  [{label}] {stage}", file=sys.stderr, flush=True)
            return
        done, total = (int(n) for n in stage.split()[1].split("/"))
        bar = self.bars.get(label)
        if bar is None:
            bar = self.bars[label] = tqdm(
                total=total, desc=f"  [{label}] calibrate", unit="batch", file=sys.stderr
            )
        bar.update(done - bar.n)
        if done >= total:
            bar.close()


def _cmd_lower(args: argparse.Namespace) -> int:
    if args.config:  # --config k=v: overrides of a timm:/hf: reference (models/_refs.py)
        from .models._refs import with_overrides

        args.model = with_overrides(args.model, args.config)
    if args.calibration and args.preview:
        raise UsageError("--calibration is for quantized lowering; drop --preview")
    if args.run and args.preview:
        raise UsageError("--run needs a compiled program; drop --preview")
    if args.run and args.repeats < 1:
        raise UsageError(f"--repeats must be >= 1, got {args.repeats}")
    if args.run_precision:  # OpenVINO fixes it when its CPU plugin first loads: before lowering
        from .backends.openvino import set_host_precision

        set_host_precision("f32" if args.run_precision == "f32" else "cpu-default")
    _check_paths(
        out=None if args.preview else args.out,  # a preview writes nothing
        cache=not (args.no_cache or args.preview),
        calibration=args.calibration,
    )
    with _clean_stdout(args.json) as out:
        return _lower_and_report(args, out)


def _lower_and_report(args: argparse.Namespace, out) -> int:
    from .lowering import lower

    bars = _CalibrationBars()

    def progress(label: str, stage: str) -> None:
        if stage.startswith("calibrate "):
            bars.update(label, stage)  # a progress bar on stderr, with --json too
        elif not args.json:
            print(f"  [{label}] {stage}", file=sys.stderr, flush=True)

    common = dict(priority=args.priority, out_dir=args.out, progress=progress)
    if args.calibration:
        common["calibration"] = args.calibration
    if args.exclude_ops:
        common["exclude_ops"] = args.exclude_ops
    if args.no_cache:
        common["cache"] = False
    if args.preview:
        from .lowering import preview

        report = preview(
            args.model, args.backends, priority=args.priority, exclude_ops=args.exclude_ops
        )
    elif args.jobs or args.timeout or args.memory_limit:
        from .lowering._workers import lower_in_workers

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
            progress(result.backend, "run")
            run = result.run(
                repeats=args.repeats, profile=args.profile, precision=args.run_precision
            )
            run_failed |= run.status == "failed"
    if args.json:
        print(report.to_json(), file=out, flush=True)
    else:
        print(report.summary(), file=out)
        if args.run and args.profile:
            from .views.tradeoff import profile_table

            for result in report.results:
                if result.run_report is not None and result.run_report.ok:
                    print(
                        f"\n{result.backend} ETDump profile:\n{profile_table(result.run_report)}",
                        file=out,
                    )
    return EXIT_OK if all(r.ok for r in report.results) and not run_failed else EXIT_FAILED


def _cmd_cache(args: argparse.Namespace) -> int:
    from .lowering._cache import ProgramCache

    cache = ProgramCache()
    if args.action == "clear":
        print(f"removed {cache.clear()} cached programs from {cache.directory}")
    else:
        info = cache.info()
        print(
            f"{info.directory}: {info.entries} programs, {info.bytes / 1e6:.1f} MB "
            f"(limit {info.limit_bytes / 1e6:.0f} MB; set ETWB_CACHE_DIR / ETWB_CACHE_LIMIT_BYTES)"
        )
    return EXIT_OK


def _cmd_sweep(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ._io import atomic_write_text
    from .sweep import run_sweep, summarize
    from .views.sweep_report import coverage_csv, sweep_html

    def progress(label: str, stage: str) -> None:
        print(f"  [{label}] {stage}", file=sys.stderr, flush=True)

    _check_paths(out=args.out, cache=True)
    # stdout carries only the summary line; what models print goes to stderr.
    with _clean_stdout(True) as stdout:
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


def _cmd_inspect(args: argparse.Namespace) -> int:
    from .analysis.pte_file import inspect_pte

    with _clean_stdout(args.json) as out:
        try:
            report = inspect_pte(args.file)
        except PteFormatError as exc:
            if args.json:
                print(json.dumps({"file": args.file, "error": str(exc)}), file=out)
            else:
                print(f"etwb inspect: {exc}", file=sys.stderr)
            return EXIT_FAILED
        print(json.dumps(report.to_dict(), indent=2) if args.json else report.summary(), file=out)
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="etwb",
        description="Lower PyTorch models to ExecuTorch and see what each backend takes, what falls back and why.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("backends", help="the backend table: available here or why not")
    p.add_argument("--json", action="store_true", help="print JSON objects")
    p.set_defaults(func=_cmd_backends)

    p = sub.add_parser("models", help="the built-in model zoo")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_models)

    p = sub.add_parser("schemes", help="quantization schemes per backend")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_schemes)

    p = sub.add_parser("lower", help="lower a model for one or more backends and write .pte files")
    p.add_argument(
        "model",
        help="zoo name (etwb models), path/to/file.py:factory, package.module:factory, "
        "timm:NAME or hf:MODEL_TYPE",
    )
    p.add_argument(
        "--config",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override of a timm:/hf: model's config, e.g. num_hidden_layers=2 (repeatable; "
        "same as hf:bert?num_hidden_layers=2)",
    )
    p.add_argument(
        "--backends",
        nargs="+",
        default=["xnnpack"],
        metavar="BACKEND",
        help="backends (etwb backends); default xnnpack",
    )
    p.add_argument(
        "--quant",
        default=None,
        metavar="SCHEME",
        help="quantization scheme (etwb schemes); default fp32",
    )
    p.add_argument(
        "--calibration",
        default=None,
        metavar="FILE.pt",
        help="calibration batches for static schemes (e.g. int8), saved with torch.save and "
        "read with weights_only=True: a tensor shaped like the single input (one batch), "
        "[N, *input shape] (N batches), [N*B, ...] (N batches of the example's batch size B), "
        "or a list of tensors / of tuples of tensors, one per batch (default: the example "
        "inputs); an error with a scheme that does not calibrate",
    )
    p.add_argument(
        "--priority",
        action="store_true",
        help="use the backends as one ordered partitioner list in one program",
    )
    p.add_argument(
        "--out",
        default=".",
        metavar="DIR",
        help="directory for <model>_<backend>[_<scheme>].pte (default: .)",
    )
    p.add_argument(
        "--json", action="store_true", help="print one JSON object instead of the summary"
    )
    p.add_argument(
        "--preview",
        action="store_true",
        help="placement and reasons only: partition without compiling, write nothing",
    )
    p.add_argument(
        "--memory-limit",
        type=int,
        default=None,
        metavar="MB",
        help="cap each worker's data memory (implies workers); a worker over it is reported, not the CLI",
    )
    p.add_argument(
        "--no-cache", action="store_true", help="lower again even if the cache has this program"
    )
    p.add_argument(
        "--jobs",
        type=int,
        default=None,
        metavar="N",
        help="lower programs in N parallel worker processes (isolated); several backends "
        "use workers by default, as many as cores and memory allow",
    )
    p.add_argument(
        "--timeout",
        type=float,
        default=None,
        metavar="SECONDS",
        help="stop a program's worker after this long (implies workers)",
    )
    p.add_argument(
        "--exclude-op",
        dest="exclude_ops",
        action="append",
        default=[],
        metavar="OP",
        help="keep this op on CPU in every backend, e.g. aten.mean.dim (repeatable)",
    )
    p.add_argument(
        "--run",
        action="store_true",
        help="run each program here: latency, error against float eager, peak memory "
        "(programs that cannot run on this host say why)",
    )
    p.add_argument(
        "--repeats", type=int, default=20, metavar="N", help="timed runs after warm-up (--run)"
    )
    p.add_argument(
        "--profile", action="store_true", help="with --run: per-operator/delegate ETDump times"
    )
    p.add_argument(
        "--run-precision",
        choices=("f32", "bf16", "f16"),
        default=None,
        help="with --run: compute precision of OpenVINO CPU runs (default f32; bf16/f16 only "
        "where the CPU plugin defaults to it, e.g. AVX512-BF16/AMX CPUs)",
    )
    p.set_defaults(func=_cmd_lower)

    p = sub.add_parser("sweep", help="models x backends x schemes, resumable, with an HTML report")
    p.add_argument(
        "--models", required=True, help="comma-separated zoo names / references, or 'all'"
    )
    p.add_argument("--backends", nargs="+", required=True, metavar="BACKEND")
    p.add_argument(
        "--quant",
        nargs="+",
        default=None,
        metavar="SCHEME",
        help="schemes (default: each backend's default)",
    )
    p.add_argument("--out", required=True, metavar="DIR")
    p.add_argument("--jobs", type=int, default=None, metavar="N", help="parallel worker processes")
    p.add_argument(
        "--timeout", type=float, default=None, metavar="SECONDS", help="per-program limit"
    )
    p.add_argument("--executor", choices=["local", "dask"], default="local")
    p.set_defaults(func=_cmd_sweep)

    p = sub.add_parser("cache", help="the on-disk cache of lowered programs")
    p.add_argument("action", choices=["info", "clear"])
    p.set_defaults(func=_cmd_cache)

    p = sub.add_parser("inspect", help="report an existing .pte: delegates, CPU operators, sizes")
    p.add_argument("file")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_inspect)

    from .conformance._cli import add_conformance_parser  # etwb conformance (its own package)

    add_conformance_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    _quiet_libraries()
    try:
        return args.func(args)
    except UsageError as exc:
        print(f"etwb {args.command}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(
            f"etwb {args.command}: interrupted; nothing half-written was left behind",
            file=sys.stderr,
        )
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
