"""Maximize or minimize: the one place hpo compares objective values."""

from __future__ import annotations

from collections.abc import Iterable


def better(a: float, b: float | None, direction: str) -> bool:
    """Whether ``a`` is strictly better than ``b`` (anything beats None)."""
    if b is None:
        return True
    return a > b if direction == "maximize" else a < b


def reaches(value: float, target: float, direction: str) -> bool:
    """Whether ``value`` is at least as good as ``target``."""
    return value >= target if direction == "maximize" else value <= target


def best_of(values: Iterable[float], direction: str) -> float | None:
    """The best of ``values``, or None when there are none."""
    best: float | None = None
    for value in values:
        if better(value, best, direction):
            best = value
    return best
