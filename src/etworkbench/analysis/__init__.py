"""Analysis of lowered programs: placement, coverage, sizes. Plain dataclasses only."""
