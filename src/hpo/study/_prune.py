"""Reporting an epoch's value and asking the study's pruner, for one metric of any study.

Optuna's ``Trial.report``/``should_prune`` refuse multi-objective studies. hpo keeps pruning them
on one named metric (``objective.prune_on``): that metric's per-epoch values are the trials'
intermediate values, and the configured pruner sees the study as a single-objective one in that
metric's direction. Its decision then rests only on learning curves, as it does in a
single-objective study, which goes through this same path.
"""

from __future__ import annotations

from typing import Any, cast

import optuna
from optuna.study import StudyDirection


class _OneMetricView:
    """The study as a pruner sees it: everything delegated, but one direction."""

    def __init__(self, study: optuna.Study, direction: str) -> None:
        self._study = study
        self._direction = StudyDirection.MAXIMIZE if direction == "maximize" else StudyDirection.MINIMIZE

    @property
    def direction(self) -> StudyDirection:
        return self._direction

    @property
    def directions(self) -> list[StudyDirection]:
        return [self._direction]

    def _is_multi_objective(self) -> bool:
        return False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._study, name)


class EpochPruning:
    """Records one metric's per-epoch values and asks the study's pruner about each trial."""

    def __init__(self, study: optuna.Study, storage: optuna.storages.BaseStorage, direction: str) -> None:
        self._study = study
        self._storage = storage
        # The pruner reads only what a Study offers (direction, trials): the view stands in for one.
        self._view = study if len(study.directions) == 1 else cast(optuna.Study, _OneMetricView(study, direction))
        self._study_id = storage.get_study_id_from_name(study.study_name)
        self._trial_ids: dict[int, int] = {}

    def _trial_id(self, number: int) -> int:
        if number not in self._trial_ids:
            self._trial_ids[number] = self._storage.get_trial_id_from_study_id_trial_number(self._study_id, number)
        return self._trial_ids[number]

    def report(self, number: int, epoch: int, value: float, decide: bool = True) -> bool:
        """Store ``value`` as trial ``number``'s intermediate value at ``epoch``; whether the pruner
        stops it (asked only when ``decide``)."""
        trial_id = self._trial_id(number)
        self._storage.set_trial_intermediate_value(trial_id, epoch, value)
        return decide and bool(self._study.pruner.prune(self._view, self._storage.get_trial(trial_id)))

    def forget(self, number: int) -> None:
        self._trial_ids.pop(number, None)
