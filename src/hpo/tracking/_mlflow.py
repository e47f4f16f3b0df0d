"""MLflow: one parent run per sweep (its study), one nested run per trial.

A background thread does every call, so a slow or lost tracking server never holds up the
driver's loop (and so never a trial); the first error switches MLflow off for the rest of the run
with one warning, and the end of the run waits at most ``flush_timeout_s`` for what is queued.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hpo.config import MlflowConfig, Sweep

_log = logging.getLogger(__name__)

# Tags that find a study's parent run again when the sweep is resumed.
TAG_STUDY = "hpo.study"
TAG_ROLE = "hpo.role"
TAG_STATE = "hpo.state"
TAG_REASON = "hpo.reason"
TAG_TRIAL = "hpo.trial"
_STATUS = {"COMPLETE": "FINISHED", "PRUNED": "KILLED", "FAIL": "FAILED"}
_MAX_TAG = 5000  # MLflow's limit on a tag value
_DB = "mlflow.db"
_ARTIFACTS = "mlruns"


def tracking_uri(sweep: Sweep) -> str:
    """The sweep's ``tracking.mlflow.uri``, else MLFLOW_TRACKING_URI, else a SQLite store in the
    results folder beside the sweep's own (MLflow 3 no longer writes a plain ``mlruns/`` store)."""
    config = sweep.config.tracking.mlflow
    if config is not None and config.uri:
        return config.uri
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{_local_root(sweep) / _DB}"


def _local_root(sweep: Sweep) -> Path:
    """The results folder that holds the default local store (every sweep's experiment in one)."""
    return sweep.results_dir.parent.resolve()


def _ms(at: float) -> int:
    return int(at * 1000)


class MlflowTracker:
    name = "MLflow"

    def __init__(self, sweep: Sweep, config: MlflowConfig) -> None:
        self.uri = tracking_uri(sweep)
        self._sweep = sweep
        self._experiment_name = config.experiment or sweep.name
        self._local = not (config.uri or os.environ.get("MLFLOW_TRACKING_URI"))
        self._flush_timeout = config.flush_timeout_s
        self._queue: queue.SimpleQueue[tuple[Callable[..., None], tuple[Any, ...]] | None] = queue.SimpleQueue()
        self._client: Any = None
        self._experiment = ""
        self._parent = ""
        self._runs: dict[int, str] = {}
        self._last: dict[int, dict[str, float]] = {}  # each running trial's last epoch metrics
        self._broken = False
        self._thread = threading.Thread(target=self._drain, name="hpo-mlflow", daemon=True)
        self._thread.start()

    # -- the Tracker protocol: each call is queued ------------------------------------------

    def opened(self, study: str, storage: str) -> None:
        self._queue.put((self._open, (study, storage)))

    def started(self, number: int, params: dict[str, Any], at: float) -> None:
        self._queue.put((self._start, (number, params, at)))

    def paused(self, number: int, epoch: int, at: float) -> None:
        self._queue.put((self._pause, (number,)))

    def continued(self, number: int, params: dict[str, Any], at: float) -> None:
        self._queue.put((self._continue, (number, params, at)))

    def epoch(self, number: int, epoch: int, metrics: dict[str, float], at: float) -> None:
        self._queue.put((self._epoch, (number, epoch, metrics, at)))

    def ended(
        self, number: int, state: str, epochs: int, metrics: dict[str, float], reason: str | None, at: float
    ) -> None:
        self._queue.put((self._end, (number, state, epochs, metrics, reason, at)))

    def finished(self, status: str, metrics: dict[str, float], artifacts: list[Path]) -> None:
        self._queue.put((self._finish, (status, metrics, artifacts)))

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(self._flush_timeout)
        if self._thread.is_alive():
            _log.warning(
                "MLflow at %s did not take this run's last records within %g s (tracking.mlflow.flush_timeout_s); "
                "the server may be gone. The study keeps every trial (hpo export writes them all)",
                self.uri,
                self._flush_timeout,
            )

    # -- the background thread ----------------------------------------------------------------

    def _drain(self) -> None:
        while (item := self._queue.get()) is not None:
            if self._broken:
                continue
            call, args = item
            try:
                call(*args)
            except Exception as exc:  # noqa: BLE001 - a tracker must never cost a trial: warn once, stop logging
                self._broken = True
                _log.warning(
                    "MLflow tracking at %s failed (%s: %s); it is off for the rest of this run. The study keeps every "
                    "trial (hpo export writes them all)",
                    self.uri,
                    type(exc).__name__,
                    exc,
                )

    def _open(self, study: str, storage: str) -> None:
        from mlflow import MlflowClient

        self._client = client = MlflowClient(self.uri)
        experiment = client.get_experiment_by_name(self._experiment_name)
        if experiment is None:
            location = (_local_root(self._sweep) / _ARTIFACTS).as_uri() if self._local else None
            self._experiment = client.create_experiment(self._experiment_name, artifact_location=location)
        else:
            self._experiment = experiment.experiment_id
        quoted = study.replace("'", "\\'")
        earlier = client.search_runs(
            [self._experiment],
            filter_string=f"tags.`{TAG_STUDY}` = '{quoted}' and tags.`{TAG_ROLE}` = 'sweep'",
            max_results=1,
        )
        if earlier:  # a resumed sweep continues its study's run
            self._parent = earlier[0].info.run_id
            client.update_run(self._parent, status="RUNNING")
            return
        config = self._sweep.config
        tags = {
            TAG_STUDY: study,
            TAG_ROLE: "sweep",
            "hpo.sweep": self._sweep.name,
            "hpo.storage": storage,
            "hpo.sweep_file": str(self._sweep.path),
        }
        self._parent = client.create_run(self._experiment, run_name=study, tags=tags).info.run_id
        params = {
            "sampler": config.sampler.name,
            "pruner": config.pruner.name,
            "metric": config.objective.metric,
            "direction": config.objective.direction,
            "epochs": config.train.epochs,
            "trials": config.budget.trials,
            "concurrency": config.resources.concurrency,
            "gpus_per_trial": config.resources.gpus_per_trial,
            "data": config.data.source,
            "builder": config.model.builder,
        }
        self._log(self._parent, params=params)

    def _log(
        self,
        run: str,
        params: dict[str, Any] | None = None,
        metrics: dict[str, float] | None = None,
        step: int = 0,
        at: float | None = None,
    ) -> None:
        from mlflow.entities import Metric, Param

        self._client.log_batch(
            run,
            metrics=[Metric(k, v, _ms(at) if at else 0, step) for k, v in (metrics or {}).items()],
            params=[Param(k, str(v)[:6000]) for k, v in (params or {}).items()],
        )

    def _start(self, number: int, params: dict[str, Any], at: float) -> None:
        tags = {"mlflow.parentRunId": self._parent, TAG_TRIAL: str(number), TAG_STATE: "RUNNING"}
        run = self._client.create_run(self._experiment, start_time=_ms(at), tags=tags, run_name=f"trial {number}")
        self._runs[number] = run.info.run_id
        self._log(run.info.run_id, params=params)

    def _pause(self, number: int) -> None:
        if number in self._runs:
            self._client.set_tag(self._runs[number], TAG_STATE, "PAUSED")

    def _continue(self, number: int, params: dict[str, Any], at: float) -> None:
        """A promoted trial's run: the one this run started, or one an earlier run left paused."""
        if number not in self._runs:
            found = self._client.search_runs(
                [self._experiment],
                max_results=1,
                filter_string=f"tags.`mlflow.parentRunId` = '{self._parent}' and tags.`{TAG_TRIAL}` = '{number}'",
            )
            if not found:
                self._start(number, params, at)
                return
            self._runs[number] = found[0].info.run_id
            self._client.update_run(self._runs[number], status="RUNNING")
        self._client.set_tag(self._runs[number], TAG_STATE, "RUNNING")

    def _epoch(self, number: int, epoch: int, metrics: dict[str, float], at: float) -> None:
        if number in self._runs:
            self._last[number] = metrics
            self._log(self._runs[number], metrics=metrics, step=epoch, at=at)

    def _end(
        self, number: int, state: str, epochs: int, metrics: dict[str, float], reason: str | None, at: float
    ) -> None:
        run, last = self._runs.pop(number, None), self._last.pop(number, {})
        if run is None:
            return
        self._client.set_tag(run, TAG_STATE, state)
        if reason:
            self._client.set_tag(run, TAG_REASON, reason[:_MAX_TAG])
        only_at_end = {k: v for k, v in metrics.items() if last.get(k) != v}  # model size, latency
        if only_at_end:
            self._log(run, metrics=only_at_end, step=epochs, at=at)
        self._client.set_terminated(run, status=_STATUS[state], end_time=_ms(at))

    def _finish(self, status: str, metrics: dict[str, float], artifacts: list[Path]) -> None:
        if not self._parent:
            return
        self._log(self._parent, metrics=metrics, at=time.time())  # a resumed run's values are the latest
        for path in artifacts:
            self._client.log_artifact(self._parent, str(path))
        self._client.set_terminated(self._parent, status=status)
