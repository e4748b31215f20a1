"""Sweeps for operator-support investigation: models x backends x schemes, resumable."""

from ._cells import SweepCell
from ._run import run_sweep
from ._summary import SweepSummary, summarize

__all__ = ["SweepCell", "SweepSummary", "run_sweep", "summarize"]
