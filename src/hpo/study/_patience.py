"""Stopping a study that has stopped improving (``budget.stop_when``): the patience rule.

Counted over the study's finished trials (COMPLETE and PRUNED, in the order they finished, across
runs): once ``patience`` of them have finished since a feasible COMPLETE trial last improved the
best value by more than ``min_delta``, the sweep starts no new trial (running ones finish).
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

import optuna
from optuna.trial import TrialState

from hpo._direction import better
from hpo.study._best import is_feasible

_FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)


@dataclass(frozen=True)
class Patience:
    """No improvement beyond ``min_delta`` in ``patience`` finished trials ends the search."""

    patience: int
    min_delta: float
    direction: str
    metric: str

    def reason(self, trials: list[optuna.trial.FrozenTrial]) -> str | None:
        """Why the search is over, or None while the rule lets it go on."""
        far_past = datetime.datetime.min
        finished = sorted(
            (t for t in trials if t.state in _FINISHED), key=lambda t: (t.datetime_complete or far_past, t.number)
        )
        best: float | None = None
        since = 0
        for trial in finished:
            value = trial.value if trial.state == TrialState.COMPLETE and is_feasible(trial) else None
            if value is not None and (best is None or self._improves(value, best)):
                best, since = value, 0
            else:
                since += 1
        if best is None or since < self.patience:
            return None
        return (
            f"no trial improved {self.metric} by more than {self.min_delta:g} in the last {since} finished trials "
            f"(budget.stop_when.patience={self.patience}); the best stays {best:.6g}"
        )

    def _improves(self, value: float, best: float) -> bool:
        shifted = best + self.min_delta if self.direction == "maximize" else best - self.min_delta
        return better(value, shifted, self.direction)
