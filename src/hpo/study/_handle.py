"""A live handle on a trial that this process did not ask for, through Optuna's public API only.

hpo continues trials across drivers (promotion, a paused trial another driver left) and tells them
by number; the storage's trial id is looked up by ``(study, number)``, never read from
``FrozenTrial._trial_id`` (an Optuna internal).
"""

from __future__ import annotations

import optuna


def trial_id(study: optuna.Study, storage: optuna.storages.BaseStorage, number: int) -> int:
    """The storage's id of trial ``number`` of ``study``."""
    return storage.get_trial_id_from_study_id_trial_number(storage.get_study_id_from_name(study.study_name), number)


def live_trial(study: optuna.Study, storage: optuna.storages.BaseStorage, number: int) -> optuna.Trial:
    """An ``optuna.Trial`` bound to an existing RUNNING trial: what it reports and sets lands on that
    trial (tests/test_optuna_contract.py pins the constructor)."""
    return optuna.Trial(study, trial_id(study, storage, number))
