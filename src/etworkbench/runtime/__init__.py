"""Host runs: run a lowered program with the installed ExecuTorch runtime, time it, compare it.

`run_program(result)` (also `BackendResult.run()`) loads the .pte, checks its outputs against
float eager on the example and seeded random inputs, measures latency and native memory, and
optionally profiles it from an ETDump. `runnability(result)` says whether it can run here.
"""

from ._compare import compare_outputs
from ._dynamic import DynamicCheck, check_dynamic
from ._host import registered_backends, registered_operators, runnability
from ._inputs import random_like
from ._profile import latency_overlay, profile_program, read_etdump
from ._report import NOT_RUNNABLE, Latency, OutputError, Profile, ProfileRow, RunReport
from ._run import run_program

__all__ = [
    "NOT_RUNNABLE",
    "DynamicCheck",
    "Latency",
    "OutputError",
    "Profile",
    "ProfileRow",
    "RunReport",
    "check_dynamic",
    "compare_outputs",
    "latency_overlay",
    "profile_program",
    "random_like",
    "read_etdump",
    "registered_backends",
    "registered_operators",
    "run_program",
    "runnability",
]
