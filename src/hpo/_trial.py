"""What one trial sees while it trains: its parameters, the data, the seed, and ``report``.

The built-in Keras trainer and a user's ``objective.function`` receive the same object. Nothing
here imports Keras or Ray: the executor builds it in the worker process.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NoReturn

from hpo import _constants
from hpo._errors import HpoError, TrialFailed
from hpo.data import Dataset


class TrialStopped(HpoError):
    """Raised by ``TrialContext.report`` once the sweep stopped this trial (pruned, or the sweep
    is ending). Let it propagate: the driver has already recorded the trial's end state."""


class TrialPaused(HpoError):
    """Raised by ``TrialContext.pause``: the trial stops here and continues later from ``state``
    (with a promotion scheduler, once it is among the best of its rung)."""

    def __init__(self, epoch: int, state: Any) -> None:
        super().__init__(f"paused after epoch {epoch}")
        self.epoch = epoch
        self.state = state


class ReadParams(dict):
    """A trial's parameters that remember which of them were read (a space parameter the trial
    never reads is most likely a typo in the sweep file)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.read: set[str] = set()

    def __getitem__(self, key: str) -> Any:
        self.read.add(key)
        return super().__getitem__(key)

    def get(self, key: str, default: Any = None) -> Any:
        self.read.add(key)
        return super().get(key, default)

    def __contains__(self, key: object) -> bool:
        if isinstance(key, str):
            self.read.add(key)
        return super().__contains__(key)

    def unread(self) -> list[str]:
        return sorted(set(self) - self.read)


@dataclass
class TrialResult:
    """What a trial function may return: its final metrics and, optionally, a model to score on
    the test split (the best trial's model is saved). Returning a plain dict of metrics is the same
    as ``TrialResult(metrics=that_dict)``."""

    metrics: dict[str, float] = field(default_factory=dict)
    model: Any = None


def _numbers(metrics: dict[str, Any], epoch: int) -> dict[str, float]:
    """Metrics as plain floats (numpy and tensor scalars included); TrialFailed for anything else."""
    out = {}
    for name, value in metrics.items():
        try:
            if isinstance(value, (bool, str)):
                raise TypeError
            out[str(name)] = float(value)
        except (TypeError, ValueError):
            raise TrialFailed(f"metric {name!r} at epoch {epoch} must be a number, but got {value!r}") from None
    return out


class Answers:
    """What the driver tells one running trial: stop (``stopped``, the trial's stop event), that
    it has heard the trial's report of an epoch and lets it go on (at a rung: perhaps on to the
    next rung, promoted without pausing), or that it keeps the trial's checkpoint after an epoch."""

    def __init__(self) -> None:
        self.stopped = threading.Event()
        self._changed = threading.Condition()
        self._heard = 0
        self._kept = 0  # the epoch of the last checkpoint the driver keeps
        self._go_on_to: dict[int, int] = {}  # rung epoch -> the epoch the trial goes on to instead of pausing

    def stop(self) -> None:
        self.stopped.set()
        with self._changed:
            self._changed.notify_all()

    def hear(self, epoch: int, go_on_to: int | None = None) -> None:
        with self._changed:
            self._heard = max(self._heard, epoch)
            if go_on_to is not None:
                self._go_on_to[epoch] = go_on_to
            self._changed.notify_all()

    def keep(self, epoch: int) -> None:
        with self._changed:
            self._kept = max(self._kept, epoch)
            self._changed.notify_all()

    def wait_kept(self, epoch: int, timeout: float) -> None:
        """Until the checkpoint after ``epoch`` is kept, the trial is stopped, or ``timeout`` seconds pass."""
        with self._changed:
            self._changed.wait_for(lambda: self._kept >= epoch or self.stopped.is_set(), timeout)

    def go_on_to(self, epoch: int) -> int | None:
        """Where the trial goes on to after its rung ``epoch`` instead of pausing; None: it pauses."""
        with self._changed:
            return self._go_on_to.get(epoch)

    def wait(self, epoch: int, timeout: float) -> None:
        """Until epoch ``epoch`` is heard, the trial is stopped, or ``timeout`` seconds pass."""
        with self._changed:
            self._changed.wait_for(lambda: self._heard >= epoch or self.stopped.is_set(), timeout)


@dataclass
class TrialContext:
    """One trial's view of the sweep. ``report(epoch, metrics)`` sends an epoch's metrics to the
    driver, whose pruner decides, and waits briefly for the answer (at a promotion rung, for
    whether the trial pauses or goes on: ``pause_after`` moves on then); it raises
    ``TrialStopped`` once the trial has been stopped. ``should_stop`` lets long epochs check in
    between reports."""

    number: int
    params: dict[str, Any]
    data: Dataset | None
    seed: int
    epochs: int
    gpu_share: float = 0.0  # the fraction of one GPU this trial has (0: none; 1 or more: whole GPUs)
    # With a promotion scheduler (pruner asha / async_hyperband): the epoch after which this run of
    # the trial pauses, and what the trial passed to pause() the last time (None on a fresh start).
    pause_after: int | None = None
    checkpoint: Any = None
    # Periodic checkpoints (the sweep's ``checkpoint`` section): ``checkpoint_due`` says when to
    # ``save(state)``; an interrupted trial's next run gets its last saved state as ``checkpoint``.
    checkpoint_every: int | None = None
    checkpoint_minutes: float | None = None
    _sink: Callable[[int, dict[str, float]], None] = lambda epoch, metrics: None
    _save_sink: Callable[[int, Any], None] = lambda epoch, state: None
    _last_epoch: int = 0  # a run continued from a checkpoint starts after the checkpoint's epoch
    # What the driver tells this trial: stop, or go on after a report. In a sweep's worker a report
    # waits for the answer (``_awaits_answers``, see _constants.ANSWER_WAIT_SHARE); elsewhere
    # (re-training the best, a plain process) nobody answers, so reports do not wait.
    _answers: Answers = field(default_factory=Answers)
    _awaits_answers: bool = False
    _awaits_kept: bool = False  # in a sweep's worker: after save, wait until the driver keeps it
    _reported_at: float = field(default_factory=time.monotonic)
    _clock: Callable[[], float] = time.monotonic  # what the wait's share is measured by (tests script it)
    _saved: tuple[int, float] = (0, 0.0)  # the last checkpoint's epoch and time (at first: where this run starts)

    def __post_init__(self) -> None:
        self._saved = (self._last_epoch, self._clock())

    @property
    def should_stop(self) -> bool:
        return self._answers.stopped.is_set()

    def report(self, epoch: int, metrics: dict[str, float]) -> None:
        """Report the metrics after ``epoch`` (1-based, increasing); raises TrialStopped when stopped."""
        if self.should_stop:
            raise TrialStopped(f"trial {self.number} was stopped by the sweep")
        if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch <= self._last_epoch:
            raise TrialFailed(
                f"report(epoch, metrics) needs 1-based epochs that increase, but got epoch={epoch!r} "
                f"after epoch {self._last_epoch}"
            )
        if self.pause_after is not None and epoch > self.pause_after:
            raise TrialFailed(
                "this sweep pauses trials at rungs (a promotion scheduler), so after reporting epoch "
                f"{self.pause_after} "
                f"the trial must call trial.pause(state), but it reported epoch {epoch}; see the README's promotion "
                "section"
            )
        self._last_epoch = epoch
        self._sink(epoch, _numbers(metrics, epoch))
        self._await_answer(epoch)

    def _await_answer(self, epoch: int) -> None:
        """Wait briefly for the driver's answer to this report, so that a pruned trial stops here
        instead of after the next epoch's first steps (or, for a trial function that checks only at
        reports, after its whole next epoch). See _constants.ANSWER_WAIT_SHARE for how long."""
        now = self._clock()
        budget = min(_constants.ANSWER_WAIT_MAX_S, _constants.ANSWER_WAIT_SHARE * (now - self._reported_at))
        self._reported_at = now
        if not self._awaits_answers or epoch >= self.epochs:  # the last epoch: nothing to save after it
            return
        if epoch == self.pause_after:
            # The rung: pausing costs a checkpoint now and a rebuilt model later, so wait for the
            # answer; when the scheduler would promote this trial at once, it goes on instead.
            self._answers.wait(epoch, _constants.RUNG_ANSWER_WAIT_S)
            go_on_to = self._answers.go_on_to(epoch)
            if go_on_to is not None and not self.should_stop:
                self.pause_after = go_on_to if go_on_to < self.epochs else None
        elif budget >= _constants.ANSWER_WAIT_MIN_S:
            self._answers.wait(epoch, budget)
        if self.should_stop:
            raise TrialStopped(f"trial {self.number} was stopped by the sweep")

    @property
    def checkpoint_due(self) -> bool:
        """Whether to ``save(state)`` now, after the last reported epoch: ``every_epochs`` epochs or
        ``every_minutes`` after the last checkpoint (or this run's start); never after the last
        epoch (the trial ends there) nor at a promotion rung (the pause saves it)."""
        epoch, (saved_epoch, saved_at) = self._last_epoch, self._saved
        if epoch == 0 or epoch >= self.epochs or epoch <= saved_epoch or epoch == self.pause_after:
            return False
        if self.checkpoint_every is not None and epoch - saved_epoch >= self.checkpoint_every:
            return True
        return self.checkpoint_minutes is not None and self._clock() - saved_at >= 60 * self.checkpoint_minutes

    def save(self, state: Any) -> None:
        """Keep ``state`` (picklable, as for ``pause``: weights, optimizer state, the epoch) as the
        trial's checkpoint after the last reported epoch, and go on training. If the trial is
        interrupted, its next run gets the last saved state as ``checkpoint``, reports from the
        epoch after it, and its curve before it is carried over."""
        if self._last_epoch == 0:
            raise TrialFailed("save(state) keeps the state after a reported epoch: call report(epoch, metrics) first")
        self._save_sink(self._last_epoch, state)
        self._saved = (self._last_epoch, self._clock())
        if self._awaits_kept:  # the checkpoint is the driver's before the trial trains on
            self._answers.wait_kept(self._last_epoch, _constants.CHECKPOINT_KEPT_WAIT_S)
            if self.should_stop:
                raise TrialStopped(f"trial {self.number} was stopped by the sweep")

    def pause(self, state: Any) -> NoReturn:
        """Stop after the last reported epoch; ``state`` (picklable: weights, optimizer state, the
        epoch) comes back as ``checkpoint`` when the trial continues. Raises TrialPaused."""
        if self.pause_after is None:
            raise TrialFailed(
                "the trial called trial.pause(), but this sweep has no promotion scheduler (pruner asha or "
                "async_hyperband); pause only when trial.pause_after is set (for checkpoints, use trial.save)"
            )
        raise TrialPaused(self._last_epoch, state)


def finite(value: Any) -> bool:
    """Whether ``value`` is a real, finite number (not a bool, not NaN or inf)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
