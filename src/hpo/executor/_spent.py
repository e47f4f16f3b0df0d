"""A run with nothing to do: the study's trials have all finished and its budget is spent.

Such a run (``hpo run`` again after a finished sweep, ``hpo resume`` of one) needs no Ray, no
data and no training; ``hpo.execute`` asks this before it starts anything.
"""

from __future__ import annotations

import optuna

from hpo.config import Sweep
from hpo.executor._launch import budget_spent
from hpo.storage import Store
from hpo.study import open_study, study_names


def spent_study(sweep: Sweep, store: Store) -> optuna.Study | None:
    """The sweep's latest study when a run of it would start no trial: every trial finished (none
    running, paused or queued) and ``budget.trials`` or the grid used up. None otherwise, and when
    there is no study yet (nothing is created)."""
    if not store.exists():
        return None
    storage = store.open(append=True)
    if not study_names(storage, sweep.study_name):
        return None
    study = open_study(sweep, storage)  # refuses a study of another space, as a run would
    trials = study.get_trials(deepcopy=False)
    if not trials or not all(t.state.is_finished() for t in trials):
        return None
    return study if budget_spent(study, trials, sweep.config.budget.trials) else None
