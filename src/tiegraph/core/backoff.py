"""Bounded exponential backoff, as a pure function of the number of failures in a row."""

from __future__ import annotations


def backoff_seconds(failures: int, *, base: float = 2.0, cap: float = 300.0) -> float:
    """2, 4, 8, ... seconds after the 1st, 2nd, 3rd failure in a row, never more than `cap`."""
    if failures <= 0:
        return 0.0
    return min(cap, base * 2.0 ** min(failures - 1, 30))
