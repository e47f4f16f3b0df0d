"""Failing a trial with its reason and, when the failure was not its configuration's fault,
queueing the same parameters again."""

from __future__ import annotations

import optuna
from optuna.trial import TrialState

from hpo import _constants
from hpo.study._handle import trial_id


def fail_trial(
    study: optuna.Study,
    storage: optuna.storages.BaseStorage,
    number: int,
    reason: str,
    retryable: bool,
    max_retries: int,
    whole_gpu: bool = False,
) -> bool:
    """Tell FAIL with ``reason``; enqueue the same parameters again (linked by ``hpo:retry_of``)
    while the chain of attempts is shorter than ``max_retries``. Returns whether it re-queued.

    ``whole_gpu``: the trial ran out of memory on a GPU share; its retry asks for a whole GPU and
    does not count against ``max_retries`` (the caller bounds these by ``budget.max_oom_retries``)."""
    own_id = trial_id(study, storage, number)
    frozen = storage.get_trial(own_id)
    storage.set_trial_user_attr(own_id, _constants.ATTR_FAIL_REASON, reason)
    study.tell(number, state=TrialState.FAIL)
    attempt = int(frozen.user_attrs.get(_constants.ATTR_ATTEMPT, 0))
    if whole_gpu:
        oom_attempt = int(frozen.user_attrs.get(_constants.ATTR_OOM_ATTEMPT, 0)) + 1
        study.enqueue_trial(
            dict(frozen.params),
            user_attrs={
                _constants.ATTR_RETRY_OF: number,
                _constants.ATTR_ATTEMPT: attempt,
                _constants.ATTR_OOM_ATTEMPT: oom_attempt,
                _constants.ATTR_WHOLE_GPU: True,
            },
        )
        return True
    if not retryable or attempt >= max_retries:
        return False
    study.enqueue_trial(
        dict(frozen.params),
        user_attrs={_constants.ATTR_RETRY_OF: number, _constants.ATTR_ATTEMPT: attempt + 1},
    )
    return True
