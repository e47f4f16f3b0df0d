"""Maximize or minimize: the one place hpo compares objective values."""

from __future__ import annotations


def better(a: float, b: float | None, direction: str) -> bool:
    """Whether ``a`` is strictly better than ``b`` (anything beats None)."""
    if b is None:
        return True
    return a > b if direction == "maximize" else a < b


def reaches(value: float, target: float, direction: str) -> bool:
    """Whether ``value`` is at least as good as ``target``."""
    return value >= target if direction == "maximize" else value <= target
