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


def interrupt_trial(
    study: optuna.Study,
    storage: optuna.storages.BaseStorage,
    number: int,
    reason: str,
    max_interruptions: int,
) -> str | None:
    """Tell FAIL for a trial cut short from outside (its driver, worker or node), marked
    ``hpo:interrupted``, and queue its configuration again linked by ``hpo:retry_of``: the budget
    counts the configuration once and ``max_retries`` is not used up. Past ``max_interruptions``
    interruptions in a row it fails for good (a trial whose own process dies every time looks
    like this). Returns None when it was queued again, else the failure reason it recorded."""
    own_id = trial_id(study, storage, number)
    frozen = storage.get_trial(own_id)
    count = int(frozen.user_attrs.get(_constants.ATTR_INTERRUPTIONS, 0)) + 1
    again = count <= max_interruptions
    if not again:
        reason += (
            f"; interrupted {count} times in a row, more than budget.max_interruptions={max_interruptions}: "
            "not queued again (a trial whose own process dies each time, e.g. killed for its memory, looks like this)"
        )
    storage.set_trial_user_attr(own_id, _constants.ATTR_FAIL_REASON, reason)
    storage.set_trial_user_attr(own_id, _constants.ATTR_INTERRUPTED, True)
    study.tell(number, state=TrialState.FAIL)
    if again:
        carried = (_constants.ATTR_ATTEMPT, _constants.ATTR_OOM_ATTEMPT, _constants.ATTR_WHOLE_GPU)
        study.enqueue_trial(
            dict(frozen.params),
            user_attrs={
                **{key: frozen.user_attrs[key] for key in carried if key in frozen.user_attrs},
                _constants.ATTR_RETRY_OF: number,
                _constants.ATTR_INTERRUPTIONS: count,
            },
        )
        return None
    return reason
