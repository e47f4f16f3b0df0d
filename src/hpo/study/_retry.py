"""Failing a trial with its reason and, when the failure was not its configuration's fault,
queueing the same parameters again."""

from __future__ import annotations

import optuna
from optuna.trial import TrialState

from hpo import _constants


def fail_trial(
    study: optuna.Study,
    storage: optuna.storages.BaseStorage,
    number: int,
    reason: str,
    retryable: bool,
    max_retries: int,
) -> bool:
    """Tell FAIL with ``reason``; enqueue the same parameters again (linked by ``hpo:retry_of``)
    while the chain of attempts is shorter than ``max_retries``. Returns whether it re-queued."""
    study_id = storage.get_study_id_from_name(study.study_name)
    trial_id = storage.get_trial_id_from_study_id_trial_number(study_id, number)
    frozen = storage.get_trial(trial_id)
    storage.set_trial_user_attr(trial_id, _constants.ATTR_FAIL_REASON, reason)
    study.tell(number, state=TrialState.FAIL)
    attempt = int(frozen.user_attrs.get(_constants.ATTR_ATTEMPT, 0))
    if not retryable or attempt >= max_retries:
        return False
    study.enqueue_trial(
        dict(frozen.params),
        user_attrs={_constants.ATTR_RETRY_OF: number, _constants.ATTR_ATTEMPT: attempt + 1},
    )
    return True
