"""Signals in the driver: Ctrl+C and SIGTERM become a flag the loop reads between events, and a
further Ctrl+C is held while the bookkeeping that ends the run's trials is written."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator


@contextlib.contextmanager
def sigint_deferred() -> Iterator[None]:
    """Hold SIGINT while the block runs (main thread only), then deliver it as KeyboardInterrupt."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: received.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        if received:
            raise KeyboardInterrupt


@contextlib.contextmanager
def signals_as_flag(*signals: signal.Signals) -> Iterator[Callable[[], bool]]:
    """The given signals set a flag the driver's loop checks between events, so no storage write
    is cut in half; off the main thread (e.g. a notebook's worker thread) nothing is installed."""
    received: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield lambda: bool(received)
        return
    previous = {sig: signal.signal(sig, lambda signum, frame: received.append(signum)) for sig in signals}
    try:
        yield lambda: bool(received)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
