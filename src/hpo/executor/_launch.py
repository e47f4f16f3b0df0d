"""Whether to start another trial now: the budget, the sampler's start-up phase, the clock.

``budget.trials`` counts every trial of the study, across runs and drivers: a failed trial that
was re-queued is replaced by its retry and counts once. The count and the ``ask`` happen under
the storage-wide ``budget`` lock, so several drivers on one study never overshoot it.
"""

from __future__ import annotations

import contextlib
import copy
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import optuna
from optuna.trial import TrialState

from hpo import _constants
from hpo.executor._events import Measured
from hpo.executor._lifecycle import Lifecycle
from hpo.executor._notices import NoiseMeasured, TrialPromoted
from hpo.space import SearchSpace
from hpo.storage import Heartbeat, driver_alive, driver_records
from hpo.study import Patience, Promotion, grid_exhausted, live_trial, measured_noise, trial_cap, trial_id


@dataclass(frozen=True)
class Launch:
    number: int
    params: dict[str, Any]
    whole_gpu: bool = False  # a retry after running out of memory on a GPU share
    start: bytes | None = field(default=None, repr=False)  # a promoted trial's checkpoint
    pause_after: int | None = None  # promotion: the rung this run of the trial stops at


@dataclass(frozen=True)
class Measure:
    """Re-train trial ``number``'s configuration with ``seed`` for the seed noise (not a trial)."""

    number: int
    params: dict[str, Any]
    seed: int


class _Signal:
    def __init__(self, name: str) -> None:
        self._name = name

    def __repr__(self) -> str:
        return self._name


HOLD = _Signal("HOLD")  # nothing to start now; ask again after the next event
FINISHED = _Signal("FINISHED")  # never start another trial in this run


@dataclass(frozen=True)
class BudgetCount:
    """What the budget rules read from a study's trials, in one pass (a launch reads it once, so
    that its cost per trial grows no faster than reading the study does)."""

    trials: int
    spent: int  # the trials ``budget.trials`` counts (``spent_trials``)
    waiting: bool  # a queued trial (a warm start or a retry) waits: it runs whatever the budget says

    @classmethod
    def of(cls, trials: list[optuna.trial.FrozenTrial]) -> BudgetCount:
        retried: set[object] = set()
        failed: list[int] = []
        counted, waiting = 0, False
        for trial in trials:
            state, attrs = trial.state, trial.user_attrs
            waiting = waiting or state == TrialState.WAITING
            retried.add(attrs.get(_constants.ATTR_RETRY_OF))
            if _constants.ATTR_CARRIED_FROM in attrs:
                continue
            counted += 1
            if state == TrialState.FAIL:
                failed.append(trial.number)
        return cls(len(trials), counted - sum(number in retried for number in failed), waiting)


class BudgetTally:
    """``BudgetCount`` kept across a driver's launches: a finished trial never changes, nor does a
    trial's retry link or carried mark (both written when it is created), so each read goes over the
    trials not finished at the last read and the new ones only, not over the whole study at each
    launch (reading the study itself, and Optuna's ask, still grow with it)."""

    def __init__(self) -> None:
        self._seen = 0  # trials read so far: numbers below it
        self._open: list[int] = []  # of those, the ones not finished at the last read
        self._retried: set[int] = set()  # trials a retry replaced (the retries' hpo:retry_of)
        self._failed: set[int] = set()  # finished FAIL trials, not carried
        self._finished = 0  # finished trials, not carried

    def count(self, trials: list[optuna.trial.FrozenTrial]) -> BudgetCount:
        """The count of ``trials``, the study's trials in number order (a fresh read)."""
        still_open: list[int] = []
        counted_open, waiting = 0, False
        for number in [*self._open, *range(self._seen, len(trials))]:
            trial = trials[number]
            attrs = trial.user_attrs
            if number >= self._seen and (retry_of := attrs.get(_constants.ATTR_RETRY_OF)) is not None:
                self._retried.add(retry_of)
            carried = _constants.ATTR_CARRIED_FROM in attrs
            if not trial.state.is_finished():
                still_open.append(number)
                waiting = waiting or trial.state == TrialState.WAITING
                counted_open += not carried
            elif not carried:
                self._finished += 1
                if trial.state == TrialState.FAIL:
                    self._failed.add(number)
        self._open, self._seen = still_open, len(trials)
        spent = self._finished + counted_open - len(self._failed & self._retried)
        return BudgetCount(len(trials), spent, waiting)


def spent_trials(trials: list[optuna.trial.FrozenTrial]) -> int:
    """Trials that count against ``budget.trials``: all but the failed ones a retry replaced and
    those carried over from an earlier study (``--carry-over``)."""
    return BudgetCount.of(trials).spent


def budget_spent(
    study: optuna.Study, trials: list[optuna.trial.FrozenTrial], budget: int | None, count: BudgetCount | None = None
) -> bool:
    """Whether no further trial may start: nothing queued, and the study's trials fill
    ``budget.trials`` (capped at a grid's size) or take every point of its grid. ``count``:
    ``trials``' count when the caller has it."""
    count = count or BudgetCount.of(trials)
    if count.waiting:
        return False
    if grid_exhausted(study):
        return True
    cap = trial_cap(study, budget)
    return cap is not None and count.trials >= cap and count.spent >= cap


class Launcher:
    """Asks the study for the next trial when the sweep may start one."""

    def __init__(
        self,
        lifecycle: Lifecycle,
        space: SearchSpace,
        *,
        budget: int | None,
        startup_trials: int = 0,
        timeout: float | None = None,
        run_id: str = "",
        lock: Callable[[], contextlib.AbstractContextManager[Any]] = contextlib.nullcontext,
        clock: Callable[[], float] = time.monotonic,
        promotion: Promotion | None = None,
        stop_rule: Patience | None = None,
        train_seed: int = 0,
    ) -> None:
        self._lifecycle = lifecycle
        self._space = space
        self._budget = budget
        self._startup_trials = startup_trials
        self._timeout = timeout
        self._deadline: float | None = None  # set at the first launch: Ray's start-up is not the sweep's time
        self._run_id = run_id
        self._lock = lock
        self._clock = clock
        self._past_startup = startup_trials == 0  # once enough trials finished, for good
        self._promotion = promotion
        self._stop_rule = stop_rule
        self._train_seed = train_seed  # the search's seed: noise re-trainings use the ones after it
        self._measuring: set[tuple[int, int]] = set()  # (trial, seed offset) being re-trained for the noise
        self.holding_for_startup = False  # the last HOLD waits for the sampler's start-up trials (not the budget's end)
        self._tally = BudgetTally()

    def over(self) -> bool:
        """Whether no trial can start again in this run (stopping, out of time, the budget spent and
        nothing to promote), found without asking the sampler: the loop asks this while no worker
        is free and none runs (a cluster whose capacity fell to zero)."""
        if self._lifecycle.stopping or self.out_of_time():
            return True
        study = self._lifecycle.study
        trials = study.get_trials(deepcopy=False)
        promotable = self._promotion is not None and self._promotion.promotion(trials) is not None
        return budget_spent(study, trials, self._budget, self._tally.count(trials)) and not promotable

    def end_sweep(self, heartbeat: Heartbeat, stale_after_s: float) -> list[int]:
        """This driver's sweep is over (its budget spent, nothing left to promote for it). Under the
        launchers' lock, it says so in its heartbeat record, then ends the study's paused trials
        PRUNED only if no other driver of the study is alive: one that is may still promote them,
        and the last driver to end prunes what is left. The trials it ended."""
        with self._lock():
            heartbeat.end()
            now = time.time()
            others = [
                run
                for run, record in driver_records(self._lifecycle.study).items()
                if run != self._run_id and driver_alive(record, now, stale_after_s)
            ]
            return [] if others else self._lifecycle.end_paused()

    def out_of_time(self) -> bool:
        return self._deadline is not None and self._clock() >= self._deadline

    def _holds_for_startup(self, trials: list[optuna.trial.FrozenTrial], count: BudgetCount) -> bool:
        """Whether the sampler's start-up trials are all out but not yet finished (then the next
        trial would be sampled at random, blind to them)."""
        if self._past_startup or self._promotion is not None:  # promotion: trials pause rather than finish
            return False
        finished = sum(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in trials)
        self._past_startup = finished >= self._startup_trials
        return not self._past_startup and self._startup_trials <= count.spent

    def next(self) -> Launch | Measure | _Signal:
        lifecycle = self._lifecycle
        self.holding_for_startup = False
        if self._deadline is None and self._timeout is not None:
            self._deadline = self._clock() + self._timeout
        if lifecycle.stopping or self.out_of_time():
            return FINISHED
        study = lifecycle.study
        running = bool(lifecycle.live)
        with self._lock():
            trials = study.get_trials(deepcopy=False)  # one read; the exact counts only where they decide
            if self._promotion is not None and (promoted := self._promotion.promotion(trials)) is not None:
                return self._continue(*promoted)
            count = self._tally.count(trials)
            noise = measured_noise(study.user_attrs) if self._stop_rule is not None else {}
            if self._stop_rule is not None and (why := self._stop_rule.reason(trials, noise)) is not None:
                saved = None if self._budget is None else max(self._budget - count.spent, 0)
                lifecycle.stop_early(why, saved)
                return FINISHED  # no new trial; the loop waits for the running ones
            if budget_spent(study, trials, self._budget, count):
                # A running trial may still fail and be re-queued; finish once none runs.
                return HOLD if running else FINISHED
            if self._stop_rule is not None and (due := self._stop_rule.measurement(trials, noise, self._measuring)):
                self._measuring.add(due)
                number, offset = due
                return Measure(number, self._space.configuration(trials[number].params), self._train_seed + offset)
            if running and self._holds_for_startup(trials, count) and not count.waiting:
                self.holding_for_startup = True
                return HOLD  # past the sampler's random start-up phase, wait for its results
            queued = count.waiting
            trial = study.ask()
            trial.set_user_attr(_constants.ATTR_RUN, self._run_id)  # before another driver's recovery can look
        params = self._space.sample(trial)
        whole_gpu = queued and bool(trial.user_attrs.get(_constants.ATTR_WHOLE_GPU))
        start, continues = self._checkpoint_to_continue(trial) if queued else (None, None)
        lifecycle.start(trial, params, continues)
        pause_after = None if self._promotion is None else self._promotion.first_pause(trial.number)
        return Launch(trial.number, params, whole_gpu, start=start, pause_after=pause_after)

    def measured(self, event: Measured) -> None:
        """Record a noise re-training on the study (``hpo:noise``); a failed one ends the noise
        measurement of that incumbent (the rule keeps ``min_delta``). The record is read and
        written under the launchers' lock: another driver's re-training of the same incumbent,
        recorded meanwhile, is kept."""
        offset = event.seed - self._train_seed
        self._measuring.discard((event.number, offset))
        if self._stop_rule is None:
            return
        study = self._lifecycle.study
        value = None if event.metrics is None else event.metrics.get(self._stop_rule.metric)
        with self._lock():
            noise = measured_noise(study.user_attrs)
            trial = study.get_trials(deepcopy=False)[event.number]
            record = noise.setdefault(event.number, {"seeds": [], "values": [trial.value]})
            if value is None or not math.isfinite(value):
                record["failed"] = event.reason or f"the re-training reported no finite {self._stop_rule.metric}"
            elif offset not in record["seeds"]:
                record["seeds"].append(offset)
                record["values"].append(float(value))
            study.set_user_attr(_constants.ATTR_NOISE, {str(number): kept for number, kept in noise.items()})
        self._lifecycle.emit(
            NoiseMeasured(
                event.number, event.seed, None if value is None else float(value), self._stop_rule.threshold(noise)
            )
        )

    def _checkpoint_to_continue(self, trial: optuna.Trial) -> tuple[bytes | None, int | None]:
        """The re-run of an interrupted trial takes over its periodic checkpoint (renamed to the
        new trial, so a later interruption finds it there too) and the interrupted trial's number.
        A re-run after the trial's own error starts afresh: its checkpoint may hold the fault."""
        earlier = trial.user_attrs.get(_constants.ATTR_RETRY_OF)
        lifecycle = self._lifecycle
        if earlier is None or lifecycle.checkpoints is None or self._promotion is not None:
            return None, None
        frozen = lifecycle.storage.get_trial(trial_id(lifecycle.study, lifecycle.storage, int(earlier)))
        if not frozen.user_attrs.get(_constants.ATTR_INTERRUPTED):
            return None, None
        data = lifecycle.checkpoints.move(int(earlier), trial.number)
        return (data, int(earlier)) if data is not None else (None, None)

    def promote_in_place(self, number: int, epoch: int) -> int | None:
        """Promotion: the epoch that trial ``number``, which has just reported ``epoch`` (its rung),
        goes on to without pausing, when the scheduler would promote it the moment it paused (the
        best qualifying paused trial, the highest rung first); None: it pauses. It keeps its model,
        so it saves the checkpoint and the rebuild a pause and a continuation cost."""
        promotion = self._promotion
        if (
            promotion is None
            or epoch not in promotion.rungs(number)[:-1]
            or self._lifecycle.stopping
            or self.out_of_time()
        ):
            return None
        with self._lock():
            trials = []
            for trial in self._lifecycle.study.get_trials(deepcopy=False):
                if trial.number == number:  # as if paused at its rung now
                    trial = copy.copy(trial)
                    trial.user_attrs = {**trial.user_attrs, _constants.ATTR_PAUSED: epoch}
                trials.append(trial)
            promoted = promotion.promotion(trials)
        if promoted is None or promoted[0].number != number:
            return None
        self._lifecycle.emit(TrialPromoted(number, epoch, promoted[1]))
        return promoted[1]

    def _continue(self, frozen: optuna.trial.FrozenTrial, to_epoch: int) -> Launch | _Signal:
        """Promote a paused trial: it continues from its checkpoint to ``to_epoch`` (the lock is held)."""
        lifecycle = self._lifecycle
        paused = frozen.user_attrs.get(_constants.ATTR_PAUSED)  # read before the claim clears it
        trial = live_trial(lifecycle.study, lifecycle.storage, frozen.number)
        trial.set_user_attr(_constants.ATTR_RUN, self._run_id)
        params = self._space.configuration(frozen.params)
        lifecycle.resume(trial, params, frozen)
        checkpoint = lifecycle.checkpoints.load(frozen.number) if lifecycle.checkpoints is not None else None
        if checkpoint is None:
            lifecycle.fail(
                frozen.number, f"its checkpoint is missing, so it cannot continue after epoch {paused}", retryable=False
            )
            return HOLD
        last = to_epoch >= lifecycle.rules.max_epochs
        return Launch(frozen.number, params, start=checkpoint, pause_after=None if last else to_epoch)
