"""The one door to torch / executorch / coremltools / openvino internals.

Every private name of those libraries the workbench uses (a module path with an `_` segment, an
imported `_name`, an `_attr` of a library object) and every patch of library code lives in this
package, one module per library, each use marked with the version it was written for:

- `torch`: pytree helpers, tensor version counters, operator overload names, BatchNorm's base;
- `executorch`: the step-by-step mirror of `to_edge_transform_and_lower`'s internals, and
  `EdgeCompileConfig`'s private fields;
- `pte`: the flatbuffer reader behind `analysis.pte_file`;
- `backends`: Vulkan / Core ML / OpenVINO support checks observed for reasons, their tables;
- `patches`: every patch of library code, thread-safe (see its docstring), and the lock that
  keeps workbench lowerings in threads one at a time (torch's tracing is process-global);
- `output`: the same for process-wide output state (`sys.stdout`, loggers).

This package imports nothing from the rest of etworkbench (no import cycles).

`tests/test_compat.py` fails when a private name of those libraries appears anywhere else.

Version guard: the internals were written for the versions in `WRITTEN_FOR`. On any other
version (or with `ETWB_COMPAT_PUBLIC_ONLY=1` in the environment) `internals_supported()` is
False and the engine takes the public path (`executorch.exir.to_edge_transform_and_lower`
itself, no shared functionalization, no shared provenance), after one warning per process.
"""

from __future__ import annotations

import functools
import os
import threading
import warnings
from importlib import metadata

# The library versions these internals were written for and tested with: executorch exactly,
# torch by major.minor (its patch releases keep the private modules used here).
WRITTEN_FOR = {"executorch": "1.5.1", "torch": "2.14"}
PUBLIC_ONLY_ENV = "ETWB_COMPAT_PUBLIC_ONLY"
# torch 2.14 logs Enum-registration deprecations under its private pytree module's name
PYTREE_LOGGER = "torch.utils._pytree"

_warned = threading.Event()


@functools.cache
def installed_versions() -> dict[str, str]:
    """The installed versions of the libraries in `WRITTEN_FOR` ("" when not installed)."""
    found: dict[str, str] = {}
    for name in WRITTEN_FOR:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = ""
    return found


def _matches(installed: str, written_for: str) -> bool:
    release = installed.split("+")[0]  # a local build tag (+cpu, +cu128) changes no code
    return release == written_for or release.startswith(written_for + ".")


def internals_supported() -> bool:
    """True when the installed torch and executorch are the ones the internals were written
    for and the public path is not forced; otherwise warns once (per process) and is False."""
    forced = os.environ.get(PUBLIC_ONLY_ENV, "").strip() not in ("", "0")
    installed = installed_versions()
    if not forced and all(_matches(installed[n], v) for n, v in WRITTEN_FOR.items()):
        return True
    if not _warned.is_set():
        _warned.set()
        wanted = ", ".join(f"{n} {v}" for n, v in WRITTEN_FOR.items())
        have = ", ".join(f"{n} {v or 'missing'}" for n, v in installed.items())
        why = f"{PUBLIC_ONLY_ENV} is set" if forced else f"installed: {have}"
        warnings.warn(
            f"etworkbench's shortcuts into torch/executorch internals were written for {wanted} "
            f"({why}); lowering takes executorch's public path "
            "(to_edge_transform_and_lower, no shared functionalization): same programs, slower",
            RuntimeWarning,
            stacklevel=2,
        )
    return False
