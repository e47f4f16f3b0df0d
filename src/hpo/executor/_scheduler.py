"""A Ray Tune scheduler that lets the Optuna study's pruner decide, on every epoch's result."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ray.tune.schedulers import FIFOScheduler, TrialScheduler

from hpo._constants import FAIL_REASON_KEY
from hpo.executor._state import SweepState, finite


class PrunerScheduler(FIFOScheduler):
    """Reports each epoch's objective to the Optuna trial and stops it when the pruner says so."""

    def __init__(self, state: SweepState) -> None:
        super().__init__()
        self._state = state

    def set_search_properties(self, metric: str | None, mode: str | None, **spec: Any) -> bool:
        return True

    def on_trial_result(self, tune_controller: Any, trial: Any, result: dict[str, Any]) -> str:
        state = self._state
        trial_id = trial.trial_id
        optuna_trial = state.live.get(trial_id)
        if optuna_trial is None:
            return TrialScheduler.STOP
        if FAIL_REASON_KEY in result:
            state.failures[trial_id] = str(result[FAIL_REASON_KEY])
            return TrialScheduler.STOP
        if state.abort_reason is not None:
            state.failures[trial_id] = f"stopped because the sweep was aborted: {state.abort_reason}"
            return TrialScheduler.STOP
        epoch = int(result.get("epoch", 0))
        state.epochs[trial_id] = epoch
        metric = state.metric
        if metric not in result:
            reported = sorted(k for k in result if k == "loss" or k.startswith("val_"))
            reason = (
                f"objective metric {metric!r} is not reported by the trial; it reports {', '.join(reported)}. "
                "Set objective.metric in the sweep file to one of them"
            )
            state.failures[trial_id] = reason
            state.abort(reason)
            return TrialScheduler.STOP
        value = result[metric]
        if not finite(value):
            state.failures[trial_id] = (
                f"objective metric {metric!r} is {value} at epoch {epoch}; a non-finite objective fails the trial"
            )
            return TrialScheduler.STOP
        optuna_trial.report(float(value), epoch)
        state.emit("epoch", optuna_trial.number, epoch=epoch, value=float(value))
        if epoch >= state.sweep.config.train.epochs:
            return TrialScheduler.CONTINUE  # trained to the end: it completes, whatever the pruner thinks
        if optuna_trial.should_prune():
            state.pruned.add(trial_id)
            return TrialScheduler.STOP
        return TrialScheduler.CONTINUE

    def on_trial_error(self, tune_controller: Any, trial: Any) -> None:
        """Keep Ray's error (a killed worker, an exception) as the trial's fail reason."""
        if trial.trial_id in self._state.failures:
            return
        text = ""
        if trial.error_file and Path(trial.error_file).exists():
            lines = [ln.strip() for ln in Path(trial.error_file).read_text(errors="replace").splitlines() if ln.strip()]
            text = lines[-1] if lines else ""
        self._state.failures[trial.trial_id] = f"worker error: {text[:500] or 'the worker process died'}"
