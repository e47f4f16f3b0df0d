"""A safety net for Tune paths that end a trial without telling the searcher.

Ray 2.60 ends a trial whose reused actor fails to reset (``Could not re-use actor``) with neither
``scheduler.on_trial_error`` nor ``searcher.on_trial_complete``; the study would keep the trial
RUNNING and the sweep would wait for it forever. After every controller step, trials that Tune has
finished but the study still holds open are told here.
"""

from __future__ import annotations

from typing import Any

from ray.tune import Callback
from ray.tune.experiment import Trial

from hpo.executor._searcher import StudySearcher
from hpo.executor._state import SweepState


class Reconciler(Callback):
    def __init__(self, state: SweepState, searcher: StudySearcher) -> None:
        self._state = state
        self._searcher = searcher

    def on_step_end(self, iteration: int, trials: list[Trial], **info: Any) -> None:
        for trial in trials:
            if trial.trial_id not in self._state.live or trial.status not in (Trial.ERROR, Trial.TERMINATED):
                continue
            error = trial.get_error() if trial.status == Trial.ERROR else None
            self._state.failures.setdefault(
                trial.trial_id, f"Ray Tune ended the trial without a result ({error or 'no error message'})"
            )
            self._searcher.on_trial_complete(trial.trial_id, result=trial.last_result or None, error=True)
