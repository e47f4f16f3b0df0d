"""The sweep's Optuna study: samplers and pruners by name, opening and continuing studies, failing
and retrying trials, recovering the trials of dead drivers."""

from hpo.study._best import best_trial, is_feasible, pareto_front, watched_value
from hpo.study._factories import make_pruner, make_sampler, startup_trials
from hpo.study._grid import grid_exhausted, trial_cap
from hpo.study._handle import live_trial, trial_id
from hpo.study._open import (
    load_existing_study,
    open_existing_storage,
    open_study,
    study_names,
)
from hpo.study._patience import Noise, Patience, measured_noise
from hpo.study._promotion import PausedAwareSampler, Promotion, mark_repaused, paused_at
from hpo.study._prune import EpochPruning
from hpo.study._recovery import Recovery, recover_stale_trials
from hpo.study._retry import fail_trial, interrupt_trial
from hpo.study._suggest import Narrowed, suggest_narrower

__all__ = [
    "EpochPruning",
    "Narrowed",
    "Noise",
    "Patience",
    "PausedAwareSampler",
    "Promotion",
    "Recovery",
    "best_trial",
    "fail_trial",
    "grid_exhausted",
    "interrupt_trial",
    "is_feasible",
    "live_trial",
    "load_existing_study",
    "make_pruner",
    "make_sampler",
    "mark_repaused",
    "measured_noise",
    "open_existing_storage",
    "open_study",
    "pareto_front",
    "paused_at",
    "recover_stale_trials",
    "startup_trials",
    "study_names",
    "suggest_narrower",
    "trial_cap",
    "trial_id",
    "watched_value",
]
