"""`etwb`: the workbench from a terminal, over the same API as the notebooks.

Exit codes: 0 everything asked for worked; 1 a backend failed or was unavailable (or a file
could not be inspected); 2 bad usage (unknown model/backend/scheme, bad path).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from ..errors import UsageError
from ._common import EXIT_FAILED, EXIT_OK, EXIT_USAGE, quiet_libraries
from ._parser import build_parser

__all__ = ["EXIT_FAILED", "EXIT_OK", "EXIT_USAGE", "build_parser", "main"]


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    quiet_libraries()
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
