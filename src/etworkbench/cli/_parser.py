"""The `etwb` argument parser: one subcommand per command module function."""

from __future__ import annotations

import argparse

from ._commands import cmd_backends, cmd_cache, cmd_inspect, cmd_models, cmd_schemes, cmd_sweep
from ._lower import cmd_lower
from ._profile import add_profile_parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="etwb",
        description="Lower PyTorch models to ExecuTorch and see what each backend takes, what falls back and why.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("backends", help="the backend table: available here or why not")
    p.add_argument("--json", action="store_true", help="print JSON objects")
    p.add_argument(
        "--options",
        action="store_true",
        help="list each backend's compile options (etwb lower --option) with defaults, "
        "values and docs",
    )
    p.set_defaults(func=cmd_backends)

    p = sub.add_parser("models", help="the built-in model zoo")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_models)

    p = sub.add_parser("schemes", help="quantization schemes per backend")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_schemes)

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
        "--model-explorer",
        default=None,
        metavar="DIR",
        help="also write each program's partitioned graph for Google's Model Explorer "
        "(<model>_<backend>.json + _nodedata.json; for graphs too big for graphviz)",
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
        "--keep-float",
        dest="float_modules",
        action="append",
        default=[],
        metavar="MODULE",
        help="leave this module of a quantized program in float: a module path (features.18), "
        "a module type (torch.nn.Linear) or an ATen op (aten.linear) (repeatable)",
    )
    p.add_argument(
        "--option",
        dest="backend_options",
        action="append",
        default=[],
        metavar="BACKEND.KEY=VALUE",
        help="a backend compile option, e.g. coreml.compute_unit=CPU_ONLY or "
        "xnnpack.per_op_mode=true (repeatable; etwb backends --options lists them)",
    )
    p.add_argument(
        "--dynamic",
        action="append",
        default=[],
        metavar="INPUT:DIM=MIN..MAX",
        help="make an input dim dynamic, e.g. x:0=1..8 (input: a forward() argument name or "
        "position; repeatable); with --run each program also runs at min, middle and max",
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
        "--numerics",
        action="store_true",
        help="per-node gap to float eager through the delegates (ETDump + ETRecord): the 10 "
        "worst nodes and the first diverging op (--json: every node)",
    )
    p.add_argument(
        "--threshold",
        type=float,
        default=1e-3,
        metavar="REL",
        help="with --numerics: relative error (max abs / max |float|) at which a node "
        "diverges (default 1e-3: above fp32 noise, below one int8 step)",
    )
    p.add_argument(
        "--etrecord",
        action="store_true",
        help="also write <program>.etrecord beside each .pte (lowered again once; same .pte)",
    )
    p.add_argument(
        "--run-precision",
        choices=("f32", "bf16", "f16"),
        default=None,
        help="with --run: compute precision of OpenVINO CPU runs (default f32; bf16/f16 only "
        "where the CPU plugin defaults to it, e.g. AVX512-BF16/AMX CPUs)",
    )
    p.set_defaults(func=cmd_lower)

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
    p.set_defaults(func=cmd_sweep)

    p = sub.add_parser("cache", help="the on-disk cache of lowered programs")
    p.add_argument("action", choices=["info", "clear"])
    p.set_defaults(func=cmd_cache)

    add_profile_parser(sub)

    p = sub.add_parser("inspect", help="report an existing .pte: delegates, CPU operators, sizes")
    p.add_argument("file")
    p.add_argument("--json", action="store_true")
    p.add_argument(
        "--memory",
        action="store_true",
        help="add the memory plan over time: each planned tensor's bytes and lifetime",
    )
    p.set_defaults(func=cmd_inspect)

    from ..conformance._cli import add_conformance_parser  # etwb conformance (its own package)

    add_conformance_parser(sub)
    return parser
