"""Recognizing an out-of-memory error, whichever backend (or Python itself) raised it."""

from __future__ import annotations


def is_out_of_memory(exc: BaseException) -> bool:
    """Whether ``exc`` is the backend's (or Python's) out-of-memory error."""
    if isinstance(exc, MemoryError):
        return True
    text = f"{type(exc).__name__} {exc}"
    return "ResourceExhausted" in text or "RESOURCE_EXHAUSTED" in text or "out of memory" in text.lower()
