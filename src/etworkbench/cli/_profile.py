"""`etwb profile`: per-node latency from an ETDump recorded elsewhere (a device), read with
the program's ETRecord into the same overlay the app colours the graph by."""

from __future__ import annotations

import argparse
import json
import sys

from ._common import EXIT_FAILED, EXIT_OK, EXIT_USAGE, clean_stdout


def add_profile_parser(sub) -> None:
    p = sub.add_parser(
        "profile",
        help="per-node latency from an ETDump (.etdp) and its ETRecord: the slowest nodes",
    )
    p.add_argument("etdump", metavar="FILE.etdp")
    p.add_argument(
        "--etrecord",
        required=True,
        metavar="FILE",
        help="the program's ETRecord (etwb lower --etrecord, or executorch's "
        "generate_etrecord=True): its debug handles name each event's nodes",
    )
    p.add_argument("--pte", metavar="FILE", help="the .pte: names the delegate backend")
    p.add_argument("--top", type=int, default=10, metavar="N", help="slowest N (default 10)")
    p.add_argument("--json", action="store_true", help="the whole overlay as JSON")
    p.set_defaults(func=cmd_profile)


def cmd_profile(args: argparse.Namespace) -> int:
    from .._io import check_readable_file
    from ..errors import UsageError

    try:
        for path in (args.etdump, args.etrecord, args.pte):
            if path:
                check_readable_file(path, "file")
    except UsageError as exc:
        print(f"etwb profile: {exc}", file=sys.stderr)
        return EXIT_USAGE
    with clean_stdout(args.json) as out:
        try:
            from ..runtime import read_etdump

            pte = open(args.pte, "rb").read() if args.pte else None  # noqa: SIM115
            profile = read_etdump(args.etdump, etrecord=args.etrecord, pte=pte)
            overlay = profile.overlay()
        except Exception as exc:
            print(f"etwb profile: {type(exc).__name__}: {exc}", file=sys.stderr)
            return EXIT_FAILED
        method = next((r for r in profile.rows if r.kind == "method"), None)
        if args.json:
            data = overlay.to_dict() | {
                "executions": profile.executions,
                "method_execute_median_ms": method.median_ms if method else None,
                "slowest": [{"node": k, "ms": v} for k, v in overlay.worst(args.top)],
            }
            print(json.dumps(data, indent=2), file=out)
            return EXIT_OK
        print(f"{args.etdump}: {overlay.note}", file=out)
        print(f"slowest {args.top} (median ms):", file=out)
        for key, value in overlay.worst(args.top):
            event = overlay.details.get(key, {}).get("event", "")
            print(f"  {value:10.4f}  {key}  {event}", file=out)
    return EXIT_OK
