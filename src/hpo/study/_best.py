"""Which trials are best: the feasible optimum of a single-objective study, the feasible Pareto
front of a multi-objective one, and the trial hpo re-trains and saves as "the best" in either."""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING

import optuna
from optuna.trial import FrozenTrial, TrialState

if TYPE_CHECKING:  # the study package never imports config at run time (config imports it)
    from hpo.config import ObjectiveConfig


def is_feasible(trial: FrozenTrial) -> bool:
    """Whether every constraint recorded on the trial holds (Optuna: a violation <= 0)."""
    return all(value <= 0 for value in trial.constraints.values())


def pareto_front(study: optuna.Study) -> list[FrozenTrial]:
    """The feasible COMPLETE trials no other feasible trial dominates, by number (the optimum's
    ties in a single-objective study)."""
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if not complete:
        return []
    if len(study.directions) > 1:
        return sorted(study.best_trials, key=lambda t: t.number)
    # One goal: read the trials once, uncopied (Study.best_trials copies every trial of the study,
    # seconds on a study of thousands).
    feasible = [t for t in complete if is_feasible(t)]
    if not feasible:
        return []
    values = [t.value for t in feasible if t.value is not None]  # a COMPLETE single-objective trial has one
    best = (max if study.direction == optuna.study.StudyDirection.MAXIMIZE else min)(values)
    return [copy.deepcopy(t) for t in sorted(feasible, key=lambda t: t.number) if t.value == best]


def best_trial(study: optuna.Study, objective: ObjectiveConfig) -> FrozenTrial | None:
    """The single best feasible trial; with several goals, the front trial best at the goal
    pruning watches (``objective.metric``). None while no feasible trial completed."""
    front = pareto_front(study)
    if not front:
        return None
    if len(study.directions) == 1:
        return front[0]
    maximize = objective.direction == "maximize"
    return (max if maximize else min)(front, key=lambda t: watched_value(t, objective))


def watched_value(trial: FrozenTrial, objective: ObjectiveConfig) -> float:
    """The trial's value of the goal pruning watches (its only value in a single-objective study)."""
    return trial.values[[g.metric for g in objective.targets].index(objective.metric)]
