"""The life of this run's trials between ``ask`` and ``tell``: one state machine, every count.

    asked -> running -> reported epochs -> pruned | complete | failed(reason, retryable) -> told
                                 or -> interrupted (its driver stopped, its worker or node lost: FAIL
                                       in the study, marked so, its configuration queued again; the
                                       re-run continues from its last periodic checkpoint, if any)
                                 or -> paused (promotion: RUNNING in the study, its checkpoint
                                       kept) -> continued -> running ... | pruned when the sweep ends

The executor translates what the workers do into the events below; the lifecycle alone decides
and writes each trial's end state. Once a trial is told it is no longer live, so whatever a worker
sends afterwards (a result that crossed a stop, an error after a prune decision, a late end) is
ignored: the study keeps the first, truthful end. Nothing here imports Ray.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import optuna
from optuna.trial import TrialState

from hpo import _constants
from hpo._direction import reaches
from hpo._trial import finite
from hpo.config import Constraint
from hpo.executor._checkpoints import CheckpointStore
from hpo.executor._notices import (
    EpochReported,
    Listener,
    Notice,
    ParamsUnread,
    Recovered,
    StoppedEarly,
    SweepAborting,
    TrialComplete,
    TrialContinued,
    TrialFailedEnd,
    TrialInterrupted,
    TrialPaused,
    TrialPruned,
    TrialResumed,
    TrialStarted,
)
from hpo.storage import Store
from hpo.study import (
    EpochPruning,
    Recovery,
    fail_trial,
    interrupt_trial,
    mark_repaused,
    paused_at,
    recover_stale_trials,
    trial_id,
)


@dataclass(frozen=True)
class Rules:
    """The sweep's settings that decide a trial's end. ``metric``/``direction``: what the pruner
    watches (the objective in a single-objective sweep); ``goals``: every (metric, direction) the
    study optimizes, when there are several; ``constraints``: feasibility, from the final metrics."""

    metric: str
    direction: str
    max_epochs: int
    goals: tuple[tuple[str, str], ...] = ()
    constraints: tuple[Constraint, ...] = ()
    max_retries: int = 0
    max_consecutive_failures: int = 5
    target: float | None = None
    gpus_per_trial: float = 0.0
    max_oom_retries: int = 1
    max_interruptions: int = _constants.MAX_INTERRUPTIONS

    @property
    def packed(self) -> bool:
        """Whether trials share GPUs (then one that runs out of memory may get a whole GPU)."""
        return 0 < self.gpus_per_trial < 1


@dataclass
class _Live:
    trial: optuna.Trial
    epochs: int = 0
    metrics: dict[str, float] = field(default_factory=dict)
    paused_after: int | None = None  # promoted: the epoch of the checkpoint it continues from
    params: tuple[str, ...] = ()  # the names in its configuration
    continues: int | None = None  # the interrupted trial whose periodic checkpoint this run continues


class Lifecycle:
    """Every transition and count of the trials this run asked for."""

    def __init__(
        self,
        study: optuna.Study,
        storage: optuna.storages.BaseStorage,
        rules: Rules,
        listener: Listener | None = None,
        checkpoints: CheckpointStore | None = None,
    ) -> None:
        self.study = study
        self.checkpoints = checkpoints
        self.rules = rules
        self._storage = storage
        self._listener = listener
        self._live: dict[int, _Live] = {}
        self.counts = {"complete": 0, "pruned": 0, "failed": 0, "interrupted": 0}
        self.consecutive_failures = 0
        self.abort_reason: str | None = None
        self.target_reached = False
        self.stopped_early: str | None = None  # budget.stop_when's reason, once it ended the search
        self.interrupted = False
        self._read: set[str] = set()  # parameters some finished trial's code read
        self._unread: dict[str, int] = {}  # parameter -> finished trials that had it and did not read it
        self._warned_unread: set[str] = set()
        self._pruning = EpochPruning(study, storage, rules.direction)
        self._goals = rules.goals or ((rules.metric, rules.direction),)

    # -- what the sweep asks ------------------------------------------------------------------

    @property
    def storage(self) -> optuna.storages.BaseStorage:
        return self._storage

    @property
    def live(self) -> list[int]:
        """Numbers of the trials asked by this run and not yet told."""
        return sorted(self._live)

    @property
    def stopping(self) -> bool:
        """No new trials: the sweep was aborted, interrupted, reached its target or stopped improving."""
        return (
            self.abort_reason is not None or self.interrupted or self.target_reached or self.stopped_early is not None
        )

    def emit(self, notice: Notice) -> None:
        """Tell the listener (the progress, the trackers) what happened."""
        if self._listener is not None:
            self._listener(notice)

    # -- events -------------------------------------------------------------------------------

    def start(self, trial: optuna.Trial, params: dict[str, Any], continues: int | None = None) -> None:
        """A trial was asked and handed to a worker; ``continues``: it is the re-run of that
        interrupted trial and starts from its periodic checkpoint (see ``placed``)."""
        self._live[trial.number] = _Live(trial, params=tuple(params), continues=continues)
        self.emit(TrialStarted(trial.number, params))

    def resume(self, trial: optuna.Trial, params: dict[str, Any], frozen: optuna.trial.FrozenTrial) -> None:
        """A paused trial was promoted and handed to a worker: it continues from its checkpoint.
        Call with the storage's budget lock held (the claim keeps another driver off it)."""
        paused = paused_at(frozen)  # before the claim below: ``frozen`` may be the storage's own copy
        epochs = int(frozen.user_attrs.get(_constants.ATTR_EPOCHS, 0))
        metrics = dict(frozen.user_attrs.get(_constants.ATTR_METRICS) or {})
        trial.set_user_attr(_constants.ATTR_PAUSED, None)
        trial.set_user_attr(_constants.ATTR_CONTINUES_FROM, paused)  # for recovery, should this driver die
        self._live[trial.number] = _Live(trial, epochs, metrics, paused, tuple(params))
        self.emit(TrialContinued(trial.number, params, epochs))

    def pause(self, number: int, epoch: int, checkpoint: bytes) -> None:
        """The trial trained to its rung and saved its state: it frees its worker and waits,
        RUNNING in the study, until it is promoted or the sweep ends."""
        live = self._live.get(number)
        if live is None:
            return
        if self.checkpoints is None:
            self._fail(
                number,
                "the trial called trial.pause(), but this sweep has no promotion scheduler (pruner asha or "
                "async_hyperband); pause only when trial.pause_after is set",
                retryable=False,
            )
            return
        del self._live[number]
        self._pruning.forget(number)
        self.checkpoints.save(number, checkpoint)
        live.trial.set_user_attr(_constants.ATTR_EPOCHS, live.epochs)
        live.trial.set_user_attr(_constants.ATTR_METRICS, live.metrics)
        live.trial.set_user_attr(_constants.ATTR_PAUSED, epoch)
        self.consecutive_failures = 0
        self.emit(TrialPaused(number, epoch, live.metrics))

    def end_paused(self) -> list[int]:
        """The sweep is over: every trial still paused was never promoted and ends PRUNED with its curve."""
        ended = []
        for frozen in self.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            if paused_at(frozen) is None:
                continue
            self._storage.set_trial_user_attr(
                trial_id(self.study, self._storage, frozen.number), _constants.ATTR_PAUSED, None
            )
            self.study.tell(frozen.number, state=TrialState.PRUNED)
            if self.checkpoints is not None:
                self.checkpoints.drop(frozen.number)
            self.counts["pruned"] += 1
            ended.append(frozen.number)
            attrs = frozen.user_attrs
            metrics = attrs.get(_constants.ATTR_METRICS)
            self.emit(TrialPruned(frozen.number, attrs.get(_constants.ATTR_EPOCHS), metrics, was_paused=True))
        return ended

    def drop_orphaned_checkpoints(self) -> list[int]:
        """The sweep is over: a checkpoint whose trial has ended and that no re-run, queued or
        running (on this driver or another), takes over is deleted, unless kept (a driver killed
        between a trial's end and its file's deletion leaves one). Their trial numbers."""
        if self.checkpoints is None or self.checkpoints.keep:
            return []
        trials = self.study.get_trials(deepcopy=False)
        alive = (TrialState.RUNNING, TrialState.WAITING)
        needed: set[object] = {t.number for t in trials if t.state == TrialState.RUNNING}
        needed |= {t.user_attrs.get(_constants.ATTR_RETRY_OF) for t in trials if t.state in alive}
        orphans = [number for number in self.checkpoints.numbers() if number not in needed]
        for number in orphans:
            self.checkpoints.drop(number)
        return orphans

    def recover(self, store: Store, stale_after_s: float) -> Recovery:
        """Before this run asks anything: the trials a dead driver left RUNNING were interrupted,
        not failed; each ends as interrupted and its configuration is queued again, or, promoted
        and continuing from its rung's checkpoint, goes back to paused there, under the launchers'
        lock (``recover_stale_trials``)."""
        checkpoints = self.checkpoints
        recovered = recover_stale_trials(
            self.study,
            self._storage,
            store,
            stale_after_s,
            self.rules.max_interruptions,
            has_checkpoint=(lambda number: False) if checkpoints is None else checkpoints.has,
        )
        if recovered.interrupted or recovered.repaused:
            self.emit(Recovered(tuple(recovered.interrupted), tuple(recovered.repaused)))
        return recovered

    def placed(self, number: int, placement: dict[str, Any], from_epoch: int = 0) -> None:
        """Where the trial runs (node, host, pid, GPU ids), kept as a trial attribute.

        ``from_epoch``: the epoch of the checkpoint its worker restored (the file says, so a
        checkpoint saved just before a crash is never mistaken for an older one). A re-run of an
        interrupted trial then carries that trial's curve up to it, so the pruner and the study
        see one curve with each epoch once, and records where it resumed (``hpo:resumed_from``)."""
        live = self._live.get(number)
        if live is None:
            return
        live.trial.set_user_attr(_constants.ATTR_PLACEMENT, placement)
        if live.continues is None or from_epoch <= 0:
            return
        values, metrics = self._carried(live.continues, from_epoch)
        for epoch in sorted(values):
            self._pruning.report(number, epoch, values[epoch], decide=False)
        live.epochs = from_epoch
        live.metrics = metrics
        live.trial.set_user_attr(_constants.ATTR_RESUMED_FROM, [live.continues, from_epoch])
        live.trial.set_user_attr(_constants.ATTR_CHECKPOINT_EPOCH, from_epoch)
        self.emit(TrialResumed(number, live.continues, from_epoch))

    def _carried(self, continues: int, from_epoch: int) -> tuple[dict[int, float], dict[str, float]]:
        """The curve up to ``from_epoch`` (and the last metrics) that a re-run of ``continues``
        carries. A checkpoint passes down a chain of re-runs, and a re-run cut short before its
        worker started never carried the curve itself, so each epoch comes from the latest trial of
        the chain (back through ``hpo:retry_of``) that reported it."""
        values: dict[int, float] = {}
        metrics: dict[str, float] = {}
        number: Any = continues  # an int, or None past the chain's start
        while number is not None and len(values) < from_epoch:
            earlier = self._storage.get_trial(trial_id(self.study, self._storage, int(number)))
            for epoch, value in earlier.intermediate_values.items():
                if epoch <= from_epoch:
                    values.setdefault(epoch, value)
            metrics = metrics or dict(earlier.user_attrs.get(_constants.ATTR_METRICS) or {})
            interrupted = earlier.user_attrs.get(_constants.ATTR_INTERRUPTED)
            number = earlier.user_attrs.get(_constants.ATTR_RETRY_OF) if interrupted else None
        return values, metrics

    def checkpointed(self, number: int, epoch: int, checkpoint: bytes) -> None:
        """A periodic checkpoint of a running trial, after ``epoch``: written atomically over the
        last one, so an interruption loses at most the epochs since."""
        live = self._live.get(number)
        if live is None or self.checkpoints is None:
            return
        self.checkpoints.save(number, checkpoint)
        live.trial.set_user_attr(_constants.ATTR_CHECKPOINT_EPOCH, epoch)

    def report(self, number: int, epoch: int, metrics: dict[str, float]) -> bool:
        """An epoch's metrics; False when the trial must stop (pruned, failed, or already told)."""
        live = self._live.get(number)
        if live is None:
            return False
        live.epochs, live.metrics = epoch, dict(metrics)
        metric = self.rules.metric
        if metric not in metrics:
            reason = (
                f"objective metric {metric!r} is not reported by the trial; it reports {', '.join(sorted(metrics))}. "
                "Set objective.metric in the sweep file to one of them"
            )
            self._fail(number, reason, retryable=False)
            self.abort(reason)
            return False
        value = metrics[metric]
        if not finite(value):
            self._fail(
                number,
                f"objective metric {metric!r} is {value} at epoch {epoch}; a non-finite objective fails the trial",
                retryable=False,
            )
            return False
        trained = epoch >= self.rules.max_epochs  # then it completes, whatever the pruner thinks
        prune = self._pruning.report(number, epoch, float(value), decide=not trained)
        self.emit(EpochReported(number, epoch, float(value), live.metrics))
        if trained:
            return True
        if prune:
            self._tell(number, TrialState.PRUNED)
            self.counts["pruned"] += 1
            self.consecutive_failures = 0
            self.emit(TrialPruned(number, epoch, live.metrics))
            return False
        return True

    def end(self, number: int, metrics: dict[str, float] | None = None) -> None:
        """The trial's code returned; ``metrics`` (its final metrics, if any) override the last epoch's."""
        live = self._live.get(number)
        if live is None:
            return
        final = {**live.metrics, **(metrics or {})}
        if not final:
            self._fail(
                number,
                "the trial ended without reporting any metric (call report(epoch, metrics) or return the metrics)",
                retryable=False,
            )
            return
        for metric, _ in self._goals:
            if metric not in final:
                reason = (
                    f"objective metric {metric!r} is not among the trial's final metrics ({', '.join(sorted(final))})"
                )
                self._fail(number, reason, retryable=False)
                self.abort(reason)
                return
            if not finite(final[metric]):
                self._fail(
                    number, f"objective metric {metric!r} is {final[metric]!r} at the end of training", retryable=False
                )
                return
        live.metrics = final
        feasible = self._constrain(live)
        value = float(final[self.rules.metric])
        self._tell(number, TrialState.COMPLETE, [float(final[metric]) for metric, _ in self._goals])
        self.counts["complete"] += 1
        self.consecutive_failures = 0
        if feasible and self.rules.target is not None and reaches(value, self.rules.target, self.rules.direction):
            self.target_reached = True
        self.emit(TrialComplete(number, value, live.epochs, feasible, final))

    def _constrain(self, live: _Live) -> bool:
        """Record each constraint's violation (Optuna's convention: <= 0 is satisfied) from the
        trial's metrics; whether it is feasible. A constraint whose metric is missing is violated."""
        feasible = True
        for constraint in self.rules.constraints:
            violation = constraint.violation(live.metrics)
            live.trial.set_constraint(constraint.text, 1.0 if violation is None else violation)
            feasible = feasible and violation is not None and violation <= 0
        return feasible

    def unread(self, number: int, names: tuple[str, ...]) -> None:
        """Trial ``number`` finished without reading the parameters ``names`` of its configuration.
        A parameter no finished trial read is most likely a typo in the space; code that reads it
        only in some configurations reads it in some trial. Said once per name: as soon as
        ``UNREAD_WARN_AFTER_TRIALS`` trials had it unread and none read it, else by ``warn_unread``."""
        live = self._live.get(number)
        if live is None:
            return
        self._read.update(name for name in live.params if name not in names)
        for name in names:
            self._unread[name] = self._unread.get(name, 0) + 1
        self._warn_unread(_constants.UNREAD_WARN_AFTER_TRIALS)

    def warn_unread(self) -> None:
        """The run is over: say which parameters no finished trial read (once per name)."""
        self._warn_unread(1)

    def _warn_unread(self, after: int) -> None:
        new = sorted(
            name
            for name, count in self._unread.items()
            if count >= after and name not in self._read and name not in self._warned_unread
        )
        if new:
            self._warned_unread.update(new)
            self.emit(ParamsUnread(tuple(new), max(self._unread[name] for name in new)))

    def fail(self, number: int, reason: str, retryable: bool, oom: bool = False, interrupted: bool = False) -> None:
        """The trial's code raised, or its worker died; ignored once the trial is told.

        ``oom``: it ran out of memory. On a GPU share it is queued again with a whole GPU (at most
        ``max_oom_retries`` times), before it counts as failed for good. ``interrupted``: its worker
        or node was lost; it runs again (``_interrupt``) rather than failing."""
        live = self._live.get(number)
        if live is None:
            return
        if interrupted and self.abort_reason is None:
            if not self._pause_again(number, reason):
                self._interrupt(number, reason)
            return
        if oom and self.rules.packed and self.abort_reason is None and not self.interrupted:
            attrs = live.trial.user_attrs
            tries = int(attrs.get(_constants.ATTR_OOM_ATTEMPT, 0))
            if not attrs.get(_constants.ATTR_WHOLE_GPU) and tries < self.rules.max_oom_retries:
                self._fail(
                    number,
                    f"{reason}; it ran out of memory on a share of a GPU "
                    f"(gpus_per_trial={self.rules.gpus_per_trial:g}): "
                    f"queued again with a whole GPU (budget.max_oom_retries={self.rules.max_oom_retries})",
                    retryable=True,
                    counted=False,  # it runs again on a whole GPU: no failure in a row
                    whole_gpu=True,
                )
                return
        self._fail(number, reason, retryable)

    def stop_early(self, reason: str, saved_trials: int | None) -> None:
        """``budget.stop_when`` ended the search: no new trial starts, running ones finish. The
        study keeps why and what it saved, for the report."""
        if self.stopped_early is not None:
            return
        self.stopped_early = reason
        self.study.set_user_attr(_constants.ATTR_STOPPED_EARLY, {"reason": reason, "saved_trials": saved_trials})
        self.emit(StoppedEarly(reason, saved_trials))

    def abort(self, reason: str) -> None:
        """Stop the sweep: no new trials; live trials fail (not retried) with the reason."""
        if self.abort_reason is not None:
            return
        self.abort_reason = reason
        self.emit(SweepAborting(reason))
        for number in self.live:
            self._fail(number, f"stopped because the sweep was aborted: {reason}", retryable=False, counted=False)

    def interrupt(self) -> None:
        """Ctrl+C or SIGTERM: every live trial is interrupted (``_interrupt``: its configuration runs
        again in a later run); nothing stays RUNNING but a promoted trial, which goes back to paused
        at its checkpoint (a later run continues it)."""
        self.interrupted = True
        for number in self.live:
            if not self._pause_again(number, "the sweep was interrupted", counted=False):
                self._interrupt(number, "the sweep was interrupted before this trial ended")

    def _pause_again(self, number: int, reason: str, counted: bool = True) -> bool:
        """A promoted trial cut short from outside goes back to paused at the checkpoint it was
        continuing from (its rung), keeping the epochs before it; the scheduler may promote it
        again. False where it cannot: not continuing from a checkpoint, or (``counted``: its worker
        or node lost) cut short more than ``max_interruptions`` times; it is then interrupted."""
        live = self._live[number]
        if live.paused_after is None or self.checkpoints is None or not self.checkpoints.has(number):
            return False
        count = int(live.trial.user_attrs.get(_constants.ATTR_INTERRUPTIONS, 0)) + counted
        if count > self.rules.max_interruptions:
            return False
        del self._live[number]
        self._pruning.forget(number)
        own_id = trial_id(self.study, self._storage, number)
        mark_repaused(self._storage, own_id, live.paused_after, count if counted else None)
        self.emit(TrialPaused(number, live.paused_after, live.metrics, cut_short=reason))
        return True

    # -- telling the study --------------------------------------------------------------------

    def _tell(
        self, number: int, state: TrialState, values: list[float] | None = None, keep_checkpoint: bool = False
    ) -> _Live:
        live = self._live.pop(number)
        self._pruning.forget(number)
        if self.checkpoints is not None and not keep_checkpoint:
            self.checkpoints.drop(number)
        live.trial.set_user_attr(_constants.ATTR_EPOCHS, live.epochs)
        if live.metrics:
            live.trial.set_user_attr(_constants.ATTR_METRICS, live.metrics)
        if state == TrialState.PRUNED and self.rules.constraints and live.metrics:
            self._constrain(live)  # samplers learn feasibility from pruned trials too
        if state != TrialState.FAIL:
            self.study.tell(live.trial, values, state=state)
        return live

    def _interrupt(self, number: int, reason: str) -> None:
        """Cut short from outside: FAIL marked interrupted and queued again, which is no failure in
        a row and uses up no retry; past ``max_interruptions`` in a row it is a failure."""
        live = self._tell(number, TrialState.FAIL, keep_checkpoint=True)  # its re-run continues from it
        failure = interrupt_trial(self.study, self._storage, number, reason, self.rules.max_interruptions)
        if failure is not None and self.checkpoints is not None:
            self.checkpoints.drop(number)  # it does not run again
        if failure is None:
            self.counts["interrupted"] += 1
            self.emit(TrialInterrupted(number, reason, live.epochs))
        else:
            self._failed(number, failure, live.epochs, counted=True)

    def _fail(self, number: int, reason: str, retryable: bool, counted: bool = True, whole_gpu: bool = False) -> None:
        live = self._tell(number, TrialState.FAIL)
        fail_trial(
            self.study,
            self._storage,
            number,
            reason,
            retryable=retryable and self.abort_reason is None,
            max_retries=self.rules.max_retries,
            whole_gpu=whole_gpu,
        )
        self._failed(number, reason, live.epochs, counted)

    def _failed(self, number: int, reason: str, epochs: int, counted: bool) -> None:
        """Count a failure told to the study; ``counted``: towards the consecutive-failure limit."""
        self.counts["failed"] += 1
        self.emit(TrialFailedEnd(number, reason, epochs))
        if not counted:
            return
        self.consecutive_failures += 1
        limit = self.rules.max_consecutive_failures
        if self.consecutive_failures >= limit:
            self.abort(
                f"{self.consecutive_failures} trials failed in a row (budget.max_consecutive_failures={limit}); "
                f"last reason: {reason}. Fix the cause, then resume the sweep"
            )
