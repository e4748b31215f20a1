"""Sweeps for operator-support investigation: models x backends x schemes, resumable."""

from ._run import SweepCell, run_sweep
from ._summary import SweepSummary, summarize

__all__ = ["SweepCell", "SweepSummary", "run_sweep", "summarize"]
