"""Recovery of trials that a dead driver left RUNNING, under the lock the launchers hold while they
ask a trial and name its driver: two drivers resuming at once neither interrupt nor re-queue a
trial twice, and a trial another driver is asking is never taken for a dead driver's."""

from __future__ import annotations

import time

import optuna
from optuna.trial import TrialState

from hpo import _constants
from hpo.storage import Store, driver_alive, driver_records
from hpo.study._promotion import paused_at
from hpo.study._retry import interrupt_trial


def recover_stale_trials(
    study: optuna.Study,
    storage: optuna.storages.BaseStorage,
    store: Store,
    stale_after_s: float = _constants.STALE_AFTER_S,
    max_interruptions: int = _constants.MAX_INTERRUPTIONS,
) -> list[int]:
    """RUNNING trials whose driver is dead were interrupted, not failed: each is told FAIL as
    interrupted and its configuration queued to run again (``interrupt_trial``); their numbers."""
    # The launchers' lock: a trial another driver is asking names its driver before this can read it.
    with store.lock(_constants.TRIALS_LOCK):
        now = time.time()
        drivers = driver_records(study)
        recovered = []
        for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            run = trial.user_attrs.get(_constants.ATTR_RUN)
            if paused_at(trial) is not None or driver_alive(drivers.get(str(run)), now, stale_after_s):
                continue  # a paused trial waits for promotion, whichever driver paused it
            interrupt_trial(
                study,
                storage,
                trial.number,
                f"its driver (run {run}) stopped before the trial ended; recovered by a later run",
                max_interruptions,
            )
            recovered.append(trial.number)
        return recovered
