"""A Ray Tune searcher whose suggestions come from the Optuna study the driver owns."""

from __future__ import annotations

from typing import Any

import optuna
from optuna.trial import TrialState
from ray.tune.search import Searcher

from hpo import _constants
from hpo._optuna import grid_exhausted, trial_cap
from hpo.executor._retry import fail_trial
from hpo.executor._state import SweepState, finite


class StudySearcher(Searcher):
    """``suggest`` asks the study (sampler) for a trial; ``on_trial_complete`` tells it the end.

    End states: PRUNED when the pruner stopped the trial (with its intermediate values),
    COMPLETE with the last epoch's objective, FAIL with the reason in a trial attribute.
    """

    def __init__(self, state: SweepState) -> None:
        super().__init__(metric=None, mode=None)
        self._state = state

    def set_search_properties(self, metric: str | None, mode: str | None, config: dict[str, Any], **spec: Any) -> bool:
        return True  # metric and direction come from the sweep file, not from Tune

    def suggest(self, trial_id: str) -> dict[str, Any] | str | None:
        state = self._state
        if state.finished():
            return Searcher.FINISHED
        counts = state.study_counts()
        if not counts.waiting:
            if grid_exhausted(state.study):
                return None if state.live else Searcher.FINISHED
            budget = trial_cap(state.study, state.sweep.config.budget.trials)
            if budget is not None and counts.spent >= budget:
                # A running trial may still fail and need a retry; finish once none runs.
                return None if state.live else Searcher.FINISHED
            if state.live and counts.finished < state.startup_trials <= counts.spent:
                return None  # don't let several trials start at random past the sampler's start-up phase
        trial = state.study.ask()
        trial.set_user_attr(_constants.ATTR_RUN, state.run_id)
        params = state.sweep.space.sample(trial)
        state.live[trial_id] = trial
        state.emit("started", trial.number, params=params)
        return {"number": trial.number, "params": params}

    def on_trial_complete(self, trial_id: str, result: dict[str, Any] | None = None, error: bool = False) -> None:
        state = self._state
        trial = state.live.pop(trial_id, None)
        if trial is None:
            return
        epochs = state.epochs.pop(trial_id, 0)
        trial.set_user_attr(_constants.ATTR_EPOCHS, epochs)
        metrics = {k: v for k, v in (result or {}).items() if k == "loss" or k.startswith("val_")}
        if metrics:
            trial.set_user_attr(_constants.ATTR_METRICS, metrics)
        if trial_id in state.pruned:
            state.pruned.discard(trial_id)
            state.study.tell(trial, state=TrialState.PRUNED)
            state.counts["pruned"] += 1
            state.consecutive_failures = 0
            state.emit("pruned", trial.number, epochs=epochs)
            return
        reason = state.failures.pop(trial_id, None)
        value = (result or {}).get(state.metric)
        if reason is None and error:
            reason = "the trial's worker raised an error or died (see the Ray logs under the results folder)"
        elif reason is None and not finite(value):
            reason = f"objective metric {state.metric!r} is {value!r} at the end of training"
        if reason is not None:
            self._fail(trial, reason, retryable=error)
            return
        state.study.tell(trial, float(value))
        state.counts["complete"] += 1
        state.consecutive_failures = 0
        state.note_complete(float(value))
        state.emit("complete", trial.number, value=float(value), epochs=epochs)

    def _fail(self, trial: optuna.Trial, reason: str, retryable: bool) -> None:
        """FAIL with the reason; retry a worker crash with the same parameters; stop after K in a row."""
        state = self._state
        budget = state.sweep.config.budget
        fail_trial(
            state.study, state.storage, trial.number, reason,
            retryable=retryable and state.abort_reason is None, max_retries=budget.max_retries,
        )
        state.counts["failed"] += 1
        state.consecutive_failures += 1
        state.emit("failed", trial.number, reason=reason)
        if state.consecutive_failures >= budget.max_consecutive_failures:
            state.abort(
                f"{state.consecutive_failures} trials failed in a row (budget.max_consecutive_failures="
                f"{budget.max_consecutive_failures}); last reason: {reason}. Fix the cause, then run "
                f"`hpo resume {state.sweep.path}`"
            )
