"""Driver-side bookkeeping shared by the Tune searcher and scheduler: one study, one truth.

Ray Tune runs the searcher and the scheduler in the driver. The scheduler sees every epoch's
result first (reports it to Optuna, asks the pruner); the searcher asks the study for new trials
and tells it each trial's end. A STOP flag in a result dict does not reach the searcher, so the
decisions made on results are remembered here.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import optuna
from optuna.trial import TrialState

from hpo import _constants
from hpo.config import Sweep

# (event, trial number, detail) -> None; events: started, complete, pruned, failed, aborted
Listener = Callable[[str, int, dict[str, Any]], None]


@dataclass(frozen=True)
class StudyCounts:
    """``spent`` counts trials against budget.trials: a failed trial that was retried is replaced
    by its retry, so only the retry counts. ``finished`` is COMPLETE plus PRUNED."""

    waiting: int
    spent: int
    finished: int


@dataclass
class SweepState:
    """What the driver knows about the trials of this run, keyed by Ray's trial id."""

    sweep: Sweep
    study: optuna.Study
    storage: optuna.storages.BaseStorage
    startup_trials: int = 0
    deadline: float | None = None
    listener: Listener | None = None
    run_id: str = ""
    live: dict[str, optuna.Trial] = field(default_factory=dict)
    epochs: dict[str, int] = field(default_factory=dict)
    pruned: set[str] = field(default_factory=set)
    failures: dict[str, str] = field(default_factory=dict)
    consecutive_failures: int = 0
    abort_reason: str | None = None
    interrupted: bool = False
    target_reached: bool = False
    counts: dict[str, int] = field(default_factory=lambda: {"complete": 0, "pruned": 0, "failed": 0})

    @property
    def metric(self) -> str:
        return self.sweep.config.objective.metric

    def emit(self, event: str, number: int, **detail: Any) -> None:
        if self.listener is not None:
            self.listener(event, number, detail)

    def abort(self, reason: str) -> None:
        """Stop the sweep: no new trials; the caller raises SweepAborted with ``reason``."""
        if self.abort_reason is None:
            self.abort_reason = reason
            self.emit("aborted", -1, reason=reason)

    def finished(self) -> bool:
        """No new trials: aborted, out of time, or the target value was reached."""
        out_of_time = self.deadline is not None and time.monotonic() >= self.deadline
        return self.abort_reason is not None or out_of_time or self.target_reached

    def study_counts(self) -> StudyCounts:
        """One read of the study (every run and driver of it), for the searcher's decisions."""
        trials = self.study.get_trials(deepcopy=False)
        retried = {t.user_attrs.get(_constants.ATTR_RETRY_OF) for t in trials}
        return StudyCounts(
            waiting=sum(t.state == TrialState.WAITING for t in trials),
            spent=sum(t.state != TrialState.FAIL or t.number not in retried for t in trials),
            finished=sum(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in trials),
        )

    def note_complete(self, value: float) -> None:
        target = self.sweep.config.budget.target
        if target is None:
            return
        maximize = self.sweep.config.objective.direction == "maximize"
        if (maximize and value >= target) or (not maximize and value <= target):
            self.target_reached = True


def finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
