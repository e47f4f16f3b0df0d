"""TensorBoard: each trial's metrics per epoch, and the HParams plugin's records so TensorBoard's
HParams tab compares trials, under ``results/<sweep>/tensorboard/<study>/``.

    <study>/                 the experiment: each tuned parameter's domain, the metrics
    <study>/trial_0007/      one trial: a scalar per metric per epoch; at its end, its parameters
                             and end state (so the HParams tab lists finished trials)
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
from tensorboard.compat.proto import summary_pb2
from tensorboard.plugins.hparams import api_pb2, metadata, plugin_data_pb2, summary_v2

from hpo import _constants
from hpo.config import Sweep
from hpo.tracking._events import EventFile

# a trial's end state as the HParams tab's status shows it; the `state` column tells pruned apart
_STATUS = {"COMPLETE": api_pb2.STATUS_SUCCESS, "PRUNED": api_pb2.STATUS_SUCCESS, "FAIL": api_pb2.STATUS_FAILURE}
STATE = "state"  # an extra HParams column: COMPLETE, PRUNED or FAIL
_EXPERIMENT_FILE = "events.out.tfevents.0.hpo-experiment"  # rewritten as metrics appear


def _plugin_summary(tag: str, data: plugin_data_pb2.HParamsPluginData) -> summary_pb2.Summary:
    value = summary_pb2.Summary.Value(
        tag=tag, metadata=metadata.create_summary_metadata(data), tensor=metadata.NULL_TENSOR
    )
    return summary_pb2.Summary(value=[value])


def _as_strings(distribution: optuna.distributions.BaseDistribution) -> bool:
    """Whether a categorical's choices mix kinds (or hold None): the HParams tab then shows them as text."""
    if not isinstance(distribution, optuna.distributions.CategoricalDistribution):
        return False
    kinds = {
        bool if isinstance(c, bool) else str if isinstance(c, str) else float if isinstance(c, (int, float)) else None
        for c in distribution.choices
    }
    return len(kinds) != 1 or None in kinds


def _domain(distribution: optuna.distributions.BaseDistribution) -> Any:
    """A parameter's domain in the HParams tab; None (no domain) for a kind Optuna may add."""
    if isinstance(distribution, optuna.distributions.FloatDistribution):
        return summary_v2.RealInterval(float(distribution.low), float(distribution.high))
    if isinstance(distribution, optuna.distributions.IntDistribution):
        return summary_v2.IntInterval(int(distribution.low), int(distribution.high))
    if isinstance(distribution, optuna.distributions.CategoricalDistribution):
        choices = distribution.choices
        return summary_v2.Discrete([str(c) for c in choices] if _as_strings(distribution) else list(choices))
    return None


@dataclass
class _Trial:
    """A running trial: its event file, and what its HParams record will say when it ends."""

    events: EventFile
    params: dict[str, Any]
    started: float


class TensorBoardTracker:
    name = "TensorBoard"

    def __init__(self, sweep: Sweep) -> None:
        self.root = sweep.results_dir / _constants.TENSORBOARD_DIR
        self._distributions = sweep.space.distributions()
        self._metrics = list(sweep.config.objective.metrics_used())  # the first columns; more as they appear
        self._folder = self.root
        self._trials: dict[int, _Trial] = {}

    def opened(self, study: str, storage: str) -> None:
        self._folder = self.root / study
        self._write_experiment()

    def started(self, number: int, params: dict[str, Any], at: float) -> None:
        self._trials[number] = _Trial(EventFile(self._folder / f"trial_{number:04d}"), params, at)

    def paused(self, number: int, epoch: int, at: float) -> None:
        """Nothing to write: the curve simply stops until the trial continues."""

    def continued(self, number: int, params: dict[str, Any], at: float) -> None:
        """A promoted trial: its curve goes on in its folder (a new event file when a later run continues it)."""
        if number not in self._trials:
            self.started(number, params, at)

    def epoch(self, number: int, epoch: int, metrics: dict[str, float], at: float) -> None:
        if number in self._trials:
            self._trials[number].events.scalars(metrics, epoch, at)
            if any(name not in self._metrics for name in metrics):
                self._metrics += [name for name in metrics if name not in self._metrics]
                self._write_experiment()

    def ended(
        self, number: int, state: str, epochs: int, metrics: dict[str, float], reason: str | None, at: float
    ) -> None:
        trial = self._trials.pop(number, None)
        if trial is None:
            return
        events = trial.events
        hparams = {**{k: self._value(k, v) for k, v in trial.params.items()}, STATE: state}
        events.summary(
            summary_v2.hparams_pb(hparams, trial_id=f"trial_{number}", start_time_secs=trial.started), epochs, at
        )
        end = plugin_data_pb2.SessionEndInfo(status=_STATUS[state], end_time_secs=at)
        events.summary(
            _plugin_summary(metadata.SESSION_END_INFO_TAG, plugin_data_pb2.HParamsPluginData(session_end_info=end)),
            epochs,
            at,
        )
        events.close()

    def finished(self, status: str, metrics: dict[str, float], artifacts: list[Path]) -> None:
        """Nothing to add: every trial is already on disk."""

    def close(self) -> None:
        for trial in self._trials.values():
            trial.events.close()
        self._trials.clear()

    def _value(self, name: str, value: Any) -> bool | float | str:
        """A parameter's value as the HParams tab takes it (numbers, booleans, text)."""
        distribution = self._distributions.get(name)
        if distribution is not None and _as_strings(distribution):
            return str(value)
        if isinstance(value, (bool, int, float, str)):
            return value
        return json.dumps(value, default=str)

    def _write_experiment(self) -> None:
        hparams = [summary_v2.HParam(name, _domain(d)) for name, d in self._distributions.items()]
        hparams.append(summary_v2.HParam(STATE, summary_v2.Discrete(sorted(_STATUS))))
        metrics = [summary_v2.Metric(name) for name in self._metrics]
        events = EventFile(self._folder, _EXPERIMENT_FILE)
        events.summary(summary_v2.hparams_config_pb(hparams, metrics))
        events.close()
