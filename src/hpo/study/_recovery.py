"""Recovery of trials that a dead driver left RUNNING, under the lock the launchers hold while they
ask a trial and name its driver: two drivers resuming at once neither interrupt nor re-queue a
trial twice, and a trial another driver is asking is never taken for a dead driver's."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import optuna
from optuna.trial import TrialState

from hpo import _constants
from hpo.storage import Store, driver_alive, driver_records
from hpo.study._handle import trial_id
from hpo.study._promotion import mark_repaused, paused_at
from hpo.study._retry import interrupt_trial


@dataclass(frozen=True)
class Recovery:
    """What a run's recovery did with the trials dead drivers left RUNNING: ``interrupted`` (FAIL,
    their configurations queued again) and ``repaused`` (promoted trials back at their rungs)."""

    interrupted: list[int] = field(default_factory=list)
    repaused: list[int] = field(default_factory=list)


def recover_stale_trials(
    study: optuna.Study,
    storage: optuna.storages.BaseStorage,
    store: Store,
    stale_after_s: float = _constants.STALE_AFTER_S,
    max_interruptions: int = _constants.MAX_INTERRUPTIONS,
    has_checkpoint: Callable[[int], bool] = lambda number: False,
) -> Recovery:
    """RUNNING trials whose driver is dead were interrupted, not failed: each is told FAIL as
    interrupted and its configuration queued to run again (``interrupt_trial``). A promoted trial
    that was continuing from its rung's checkpoint (``hpo:continues_from``) goes back to paused
    there instead, while the checkpoint is there (``has_checkpoint``) and it was cut short at most
    ``max_interruptions`` times (``repause``)."""
    # The launchers' lock: a trial another driver is asking names its driver before this can read it.
    with store.lock(_constants.TRIALS_LOCK):
        now = time.time()
        drivers = driver_records(study)
        recovered = Recovery()
        for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            run = trial.user_attrs.get(_constants.ATTR_RUN)
            if paused_at(trial) is not None or driver_alive(drivers.get(str(run)), now, stale_after_s):
                continue  # a paused trial waits for promotion, whichever driver paused it
            if repause(study, storage, trial, has_checkpoint, max_interruptions):
                recovered.repaused.append(trial.number)
                continue
            interrupt_trial(
                study,
                storage,
                trial.number,
                f"its driver (run {run}) stopped before the trial ended; recovered by a later run",
                max_interruptions,
            )
            recovered.interrupted.append(trial.number)
        return recovered


def repause(
    study: optuna.Study,
    storage: optuna.storages.BaseStorage,
    trial: optuna.trial.FrozenTrial,
    has_checkpoint: Callable[[int], bool],
    max_interruptions: int,
) -> bool:
    """A dead driver's promoted trial that was continuing from its rung's checkpoint goes back to
    paused at that rung (the epochs before it kept); False when it was not continuing, its
    checkpoint is gone, or it was cut short more than ``max_interruptions`` times."""
    rung = trial.user_attrs.get(_constants.ATTR_CONTINUES_FROM)
    count = int(trial.user_attrs.get(_constants.ATTR_INTERRUPTIONS, 0)) + 1
    if rung is None or count > max_interruptions or not has_checkpoint(trial.number):
        return False
    mark_repaused(storage, trial_id(study, storage, trial.number), int(rung), count)
    return True
