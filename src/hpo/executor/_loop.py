"""The driver's loop: start trials while the launcher allows, hand every worker event to the
lifecycle, stop the workers of trials the lifecycle has already told."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from hpo.executor._launch import FINISHED, HOLD, Launcher
from hpo.executor._lifecycle import Lifecycle
from hpo.executor._ray import Ended, Event, Failed, Placed, Reported

POLL_S = 0.5


class Pool(Protocol):
    """Where trials run: ``RayPool``, or an in-process stand-in in the tests."""

    def free_slots(self) -> int: ...

    def running(self) -> list[int]: ...

    def launch(self, number: int, params: dict[str, Any]) -> None: ...

    def stop(self, number: int) -> None: ...

    def poll(self, timeout: float) -> list[Event]: ...


def dispatch(lifecycle: Lifecycle, event: Event) -> None:
    """One worker event as a lifecycle transition."""
    if isinstance(event, Placed):
        lifecycle.placed(event.number, event.placement)
    elif isinstance(event, Reported):
        lifecycle.report(event.number, event.epoch, event.metrics)
    elif isinstance(event, Ended):
        lifecycle.end(event.number, event.metrics)
    elif isinstance(event, Failed):
        lifecycle.fail(event.number, event.reason, event.retryable)


def drive(
    launcher: Launcher,
    lifecycle: Lifecycle,
    pool: Pool,
    poll_s: float = POLL_S,
    interrupted: Callable[[], bool] = lambda: False,
) -> None:
    """Run until the launcher is finished and no worker is busy, or until ``interrupted()``."""
    finished = False
    while not interrupted():
        while not finished and pool.free_slots():
            step = launcher.next()
            if step is FINISHED:
                finished = True
            if step is FINISHED or step is HOLD:
                break
            pool.launch(step.number, step.params)
        if finished and not pool.running():
            return
        for event in pool.poll(poll_s):
            dispatch(lifecycle, event)
        live = set(lifecycle.live)
        for number in pool.running():
            if number not in live:
                pool.stop(number)  # pruned, failed or aborted: the study already holds its end
