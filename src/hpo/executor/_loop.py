"""The driver's loop: start trials while the launcher allows, hand every worker event to the
lifecycle, stop the workers of trials the lifecycle has already told."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from hpo._constants import INTERRUPT_DRAIN_S
from hpo.executor._events import Checkpointed, Ended, Event, Failed, Measured, Paused, Placed, Reported
from hpo.executor._launch import FINISHED, HOLD, Launch, Launcher, Measure
from hpo.executor._lifecycle import Lifecycle

POLL_S = 0.5


@dataclass
class LoopTimings:
    """Where the driver's time went, in seconds (benchmarks/compare.py prints it)."""

    asking_s: float = 0.0  # the launcher: budget checks, the sampler's ask, sampling the space
    handling_s: float = 0.0  # the lifecycle (reports, pruner decisions, tells) and the answers to the workers
    waiting_s: float = 0.0  # idle, waiting for the workers' next event
    first_start_s: float | None = None  # from the loop's start until the first trial's worker began it
    held_slot_s: float = 0.0  # slot-seconds idle while the sampler's start-up phase held new trials back
    drained_slot_s: float = 0.0  # slot-seconds idle with nothing left to start, while the last trials ran
    stopping_slot_s: float = 0.0  # slot-seconds from a trial's stop (pruned, failed) until its worker was free
    now: Callable[[], float] = time.perf_counter  # the clock it reads (a test's scripted pool passes its own)
    started: float = -1.0  # when the loop started, on ``now``'s clock (set on creation)
    _idle: tuple[float, int, str] = (0.0, 0, "")  # since when, how many slots, why ("held", "drained")
    _stopping: dict[int, float] = field(default_factory=dict)  # trial -> when its worker was told to stop

    def __post_init__(self) -> None:
        if self.started < 0:
            self.started = self.now()

    def stop_sent(self, number: int, now: float) -> None:
        self._stopping.setdefault(number, now)

    def ended(self, number: int, now: float) -> None:
        if number in self._stopping:
            self.stopping_slot_s += now - self._stopping.pop(number)

    def idle(self, now: float, slots: int, why: str) -> None:
        """Account the slots left idle since the last call; ``slots`` stay idle from ``now`` for ``why``."""
        since, count, reason = self._idle
        if reason == "held":
            self.held_slot_s += count * (now - since)
        elif reason == "drained":
            self.drained_slot_s += count * (now - since)
        self._idle = (now, slots, why)


def _idle_reason(step: object, finished: bool, launcher: Launcher) -> str:
    """Why free slots stay idle after the launches of one turn of the loop."""
    if finished or (step is HOLD and not launcher.holding_for_startup):
        return "drained"  # the budget is spent (a running trial may still fail and be retried) or the grid is done
    return "held" if step is HOLD else ""


class Pool(Protocol):
    """Where trials run: ``RayPool``, or an in-process stand-in in the tests."""

    def free_slots(self) -> int: ...

    def running(self) -> list[int]: ...

    def launch(
        self,
        number: int,
        params: dict[str, Any],
        whole_gpu: bool = False,
        start: bytes | None = None,
        pause_after: int | None = None,
    ) -> None: ...

    def measure(self, number: int, params: dict[str, Any], seed: int) -> None: ...

    def stop(self, number: int) -> None: ...

    def hear(self, number: int, epoch: int, go_on_to: int | None = None) -> None: ...

    def kept(self, number: int, epoch: int) -> None: ...

    def poll(self, timeout: float) -> list[Event]: ...


def dispatch(lifecycle: Lifecycle, event: Event) -> None:
    """One worker event as a lifecycle transition."""
    if isinstance(event, Placed):
        lifecycle.placed(event.number, event.placement, event.from_epoch)
    elif isinstance(event, Reported):
        lifecycle.report(event.number, event.epoch, event.metrics)
    elif isinstance(event, Ended):
        lifecycle.unread(event.number, event.unread)
        lifecycle.end(event.number, event.metrics)
    elif isinstance(event, Paused):
        lifecycle.pause(event.number, event.epoch, event.checkpoint)
    elif isinstance(event, Checkpointed):
        lifecycle.checkpointed(event.number, event.epoch, event.checkpoint)
    elif isinstance(event, Failed):
        lifecycle.fail(event.number, event.reason, event.retryable, event.oom, event.interrupted)


def drive(
    launcher: Launcher,
    lifecycle: Lifecycle,
    pool: Pool,
    poll_s: float = POLL_S,
    interrupted: Callable[[], bool] = lambda: False,
    timings: LoopTimings | None = None,
    sync: Callable[[], None] = lambda: None,
) -> None:
    """Run until the launcher is finished and no worker is busy, or until ``interrupted()``.
    ``sync``: makes what the turn wrote to the study durable (the journal's group commit), once
    per turn, before the workers are told anything that rests on it."""
    clock = timings or LoopTimings()
    finished = False
    while not interrupted():
        mark = clock.now()
        step: object = None
        while not finished and pool.free_slots():
            step = launcher.next()
            if step is FINISHED:
                finished = True
            if isinstance(step, Measure):  # the noise-aware stop rule's re-training, in a slot of its own
                pool.measure(step.number, step.params, step.seed)
                continue
            if not isinstance(step, Launch):  # FINISHED or HOLD
                break
            pool.launch(step.number, step.params, step.whole_gpu, step.start, step.pause_after)
        if not pool.running() and (finished or (not pool.free_slots() and launcher.over())):
            clock.idle(clock.now(), 0, "")  # (no worker free or busy: the cluster lost them all)
            return
        polled = clock.now()
        clock.idle(polled, pool.free_slots(), _idle_reason(step, finished, launcher))
        events = pool.poll(poll_s)
        handled = clock.now()
        _handle(events, launcher, lifecycle, clock, handled)
        sync()  # the launches' and the events' records: durable before the stops and answers below
        live = set(lifecycle.live)
        for number in pool.running():
            if number not in live:
                pool.stop(number)  # pruned, failed or aborted: the study already holds its end
                clock.stop_sent(number, clock.now())
        for event in events:
            if isinstance(event, Reported) and event.number in live:
                # The trial waits briefly for this (or for a stop); at its rung, for whether it goes on.
                pool.hear(event.number, event.epoch, launcher.promote_in_place(event.number, event.epoch))
            elif isinstance(event, Checkpointed) and event.number in live:
                pool.kept(event.number, event.epoch)  # the trial waits for this (or a stop) to train on
        clock.asking_s += polled - mark
        clock.waiting_s += handled - polled
        clock.handling_s += clock.now() - handled
    _drain(launcher, lifecycle, pool, clock)
    sync()


def _handle(events: list[Event], launcher: Launcher, lifecycle: Lifecycle, clock: LoopTimings, now: float) -> None:
    """The workers' events, in the order they came: to the launcher (noise re-trainings) or the lifecycle."""
    for event in events:
        if isinstance(event, Measured):
            launcher.measured(event)
            continue
        dispatch(lifecycle, event)
        if clock.first_start_s is None and isinstance(event, Placed):
            clock.first_start_s = now - clock.started
        if isinstance(event, (Ended, Paused, Failed)):
            clock.ended(event.number, now)


def _drain(launcher: Launcher, lifecycle: Lifecycle, pool: Pool, clock: LoopTimings) -> None:
    """Interrupted (Ctrl+C, SIGTERM): before the live trials are interrupted, keep what their workers
    have already sent and the loop has not read yet (a driver can lag behind its workers): reports,
    checkpoints, ends. A checkpoint a worker saved is then never lost to the interruption, and the
    re-run continues from it. For at most INTERRUPT_DRAIN_S, until a poll finds nothing waiting."""
    deadline = clock.now() + INTERRUPT_DRAIN_S
    while clock.now() < deadline and (events := pool.poll(0)):
        _handle(events, launcher, lifecycle, clock, clock.now())
