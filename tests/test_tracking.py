"""Tracking: every trial in MLflow (a real `mlflow server` on loopback) and in TensorBoard's event
files (read back with TensorBoard's own reader); a tracker that breaks costs a warning, never a trial."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import subprocess
import sys
import textwrap
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from optuna.trial import TrialState

import hpo
from hpo.executor import (
    EpochReported,
    StudyOpened,
    TrialComplete,
    TrialContinued,
    TrialPaused,
    TrialPruned,
    TrialStarted,
)
from hpo.tracking import Trackers
from tests.conftest import REPO, TREE_PATH, free_port, run_hpo

pytestmark = pytest.mark.joins_ray_head  # its sweeps join one `ray start` head (conftest.py)

MLFLOW = Path(sys.executable).parent / "mlflow"


def _sweep(tmp_path: Path, tracking: str, trials: int = 6, extra: str = "") -> Path:
    path = tmp_path / "tracked.yaml"
    path.write_text(textwrap.dedent(f"""
        name: tracked
        data: {{source: digits}}
        train: {{epochs: 6}}
        objective: {{metric: val_accuracy, function: "tests.cheap:objective"}}
        space:
          params:
            x: {{type: float, low: 0.0, high: 1.0}}
            act: {{type: categorical, choices: [relu, null, 3]}}
            sleep: 0.05
        sampler: {{name: random, seed: 3}}
        pruner: {{name: median, args: {{n_startup_trials: 2, n_warmup_steps: 2}}}}
        budget: {{trials: {trials}}}
        resources: {{concurrency: 1}}                  # one at a time: which trials the pruner stops is fixed
        enqueue: [{{x: 0.3, act: relu}}, {{x: 0.3, act: relu}}, {{x: 0.95, act: 3}}]   # two good curves, then a poor one
        results_dir: {tmp_path / "results"}
        tracking: {tracking}
    """) + extra)
    return path


def _wait_http(url: str, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


@pytest.fixture
def mlflow_server(tmp_path):
    """A real MLflow tracking server (SQLite backend, artifacts served) on a free loopback port,
    without MLflow's job runner (its huey consumers: six processes, hpo asks it for no job)."""
    port = free_port()
    folder = tmp_path / "mlflow-server"
    folder.mkdir()
    server = subprocess.Popen(
        [str(MLFLOW), "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
         "--backend-store-uri", f"sqlite:///{folder / 'mlflow.db'}", "--artifacts-destination", str(folder / "artifacts")],
        cwd=folder, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        env={**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"},
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_http(f"{url}/health")
        yield url, server
    finally:
        if server.poll() is None:
            os.killpg(server.pid, 9)
        server.wait(timeout=30)


def _runs(uri: str, experiment: str) -> tuple[Any, Any, list[Any]]:
    from mlflow import MlflowClient

    client = MlflowClient(uri)
    runs = client.search_runs([client.get_experiment_by_name(experiment).experiment_id], max_results=1000)
    parents = [r for r in runs if r.data.tags.get("hpo.role") == "sweep"]
    assert len(parents) == 1, [r.info.run_name for r in runs]
    return client, parents[0], [r for r in runs if r is not parents[0]]


_MLFLOW_STATUS = {TrialState.COMPLETE: "FINISHED", TrialState.PRUNED: "KILLED", TrialState.FAIL: "FAILED"}


@pytest.mark.slow
def test_every_trial_is_a_nested_mlflow_run_with_its_curve_and_end_and_the_results_are_artifacts(tmp_path, mlflow_server) -> None:
    url, _ = mlflow_server
    # run()'s mlflow_uri= is --mlflow-uri: it turns MLflow on in a sweep file without a tracking section.
    # The end waits for the server however long a loaded machine makes it take (the give-up after
    # flush_timeout_s is the lost-server test's).
    overrides = {"tracking.mlflow.experiment": "sweeps", "tracking.mlflow.flush_timeout_s": 600}
    result = hpo.run(_sweep(tmp_path, "{}"), mlflow_uri=url, overrides=overrides, progress=False)
    study = result.study
    client, parent, trials = _runs(url, "sweeps")
    assert parent.info.status == "FINISHED" and parent.data.tags["hpo.study"] == study.study_name
    assert parent.data.params["sampler"] == "random" and parent.data.metrics["trials_complete"] == result.outcome.counts["complete"] > 0
    assert parent.data.metrics["best_val_accuracy"] == pytest.approx(result.best.value)
    assert {"best.json", "report.html", "trials.csv", "sweep.resolved.yaml"} <= {a.path for a in client.list_artifacts(parent.info.run_id)}
    by_number = {int(r.data.tags["hpo.trial"]): r for r in trials}
    assert sorted(by_number) == [t.number for t in study.trials]
    states = {t.state for t in study.trials}
    assert TrialState.PRUNED in states and TrialState.COMPLETE in states  # both ends are exercised
    for trial in study.trials:
        run = by_number[trial.number]
        assert run.data.tags["mlflow.parentRunId"] == parent.info.run_id
        assert run.info.status == _MLFLOW_STATUS[trial.state] and run.data.tags["hpo.state"] == trial.state.name
        assert run.data.params["x"] == str(trial.params["x"]) and run.data.params["act"] == str(trial.params["act"])
        curve = client.get_metric_history(run.info.run_id, "val_accuracy")
        assert [m.step for m in curve] == sorted(trial.intermediate_values)  # every epoch, no gaps
        assert [m.value for m in curve] == pytest.approx([trial.intermediate_values[s] for s in sorted(trial.intermediate_values)])
        assert len(client.get_metric_history(run.info.run_id, "val_loss")) == len(curve)  # all metrics, not only the watched one


@pytest.mark.slow
def test_a_resumed_sweep_continues_its_parent_run_in_the_default_local_store(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    path = _sweep(tmp_path, "{mlflow: {}}", trials=3)
    hpo.run(path, progress=False)
    result = hpo.run(path, trials=5, progress=False)
    uri = f"sqlite:///{tmp_path / 'results' / 'mlflow.db'}"
    _, parent, trials = _runs(uri, "tracked")
    assert sorted(int(r.data.tags["hpo.trial"]) for r in trials) == [0, 1, 2, 3, 4] and len(result.study.trials) == 5
    assert parent.data.metrics["trials_complete"] + parent.data.metrics["trials_pruned"] == 5  # the study's, after the resumed run
    assert (tmp_path / "results" / "mlruns").is_dir()  # artifacts beside the store, not in the working folder


@pytest.mark.slow
def test_a_tracking_server_lost_mid_sweep_costs_a_warning_not_a_trial(tmp_path, mlflow_server, caplog) -> None:
    from hpo._api import execute, resolve

    url, server = mlflow_server
    sweep = resolve(_sweep(tmp_path, f"{{mlflow: {{uri: '{url}', flush_timeout_s: 3}}}}", trials=6))

    def kill_after_first_trial(notice) -> None:
        if isinstance(notice, (TrialComplete, TrialPruned)) and server.poll() is None:
            os.killpg(server.pid, 9)
            server.wait()

    started = time.monotonic()
    with caplog.at_level(logging.WARNING):
        result, _ = execute(sweep, listener=kill_after_first_trial)
    assert server.poll() is not None
    assert [t.state for t in result.study.trials].count(TrialState.FAIL) == 0 and len(result.study.trials) == 6
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and "MLflow" in r.getMessage()]
    assert warnings and url in warnings[0] and "The study keeps every trial" in warnings[0]
    assert time.monotonic() - started < 120  # the lost server's retries are not waited for


class _Recorder:
    """A tracker that records what it hears, optionally raising from one method."""

    name = "Recorder"

    def __init__(self, raise_in: str | None = None) -> None:
        self.heard: list[tuple[str, tuple[Any, ...]]] = []
        self._raise_in = raise_in

    def __getattr__(self, method: str) -> Any:
        def record(*args: Any) -> None:
            self.heard.append((method, args))
            if method == self._raise_in:
                raise OSError("disk full")

        return record


@pytest.mark.parametrize(
    ("ending", "status"),
    [(None, "FINISHED"), (hpo.SweepInterrupted("stop"), "KILLED"), (KeyboardInterrupt(), "KILLED"), (hpo.SweepAborted("bad"), "FAILED")],
)
def test_the_sweep_run_ends_with_the_sweeps_outcome_and_a_broken_tracker_is_switched_off(ending, status, caplog) -> None:
    healthy, broken = _Recorder(), _Recorder(raise_in="epoch")
    with pytest.raises(type(ending)) if ending else contextlib.nullcontext():
        with Trackers([broken, healthy]) as trackers:
            trackers(StudyOpened("s", "x.journal"))
            trackers(TrialStarted(0, {"x": 1}))
            for epoch in (1, 2):
                trackers(EpochReported(0, epoch, 0.5, {"val_accuracy": 0.5, "bad": float("nan")}))
                if epoch == 1:  # promotion: paused at a rung, then continued
                    trackers(TrialPaused(0, 1, {}))
                    trackers(TrialContinued(0, {"x": 1}, 1))
            trackers(TrialPruned(0, 2, {"val_accuracy": 0.5}))
            if ending:
                raise ending
            trackers.finish({"trials_pruned": 1.0}, [])
    assert [m for m, _ in healthy.heard] == ["opened", "started", "epoch", "paused", "continued", "epoch", "ended", "finished", "close"]
    assert healthy.heard[2][1][2] == {"val_accuracy": 0.5}  # non-finite metrics are not sent
    assert healthy.heard[6][1][:3] == (0, "PRUNED", 2) and healthy.heard[7][1][0] == status
    assert [m for m, _ in broken.heard] == ["opened", "started", "epoch", "close"]  # off after its error, still closed
    assert "Recorder tracking failed (OSError: disk full); it is off for the rest of this run" in caplog.text


def test_a_missing_tracking_package_stops_the_run_before_anything_starts(tmp_path, monkeypatch) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "mlflow" else real(name, *a))
    with pytest.raises(hpo.ConfigError, match=r"tracking.mlflow: tracking with mlflow needs the mlflow package.*pip install 'hpo\[tracking\]'"):
        hpo.run(_sweep(tmp_path, "{mlflow: {}}"), progress=False)
    assert not (tmp_path / "results").exists()


def _events(folder: Path) -> Any:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    accumulator = EventAccumulator(str(folder))
    accumulator.Reload()
    return accumulator


def _hparams(accumulator: Any) -> dict[str, Any]:
    from tensorboard.plugins.hparams import plugin_data_pb2

    return {tag: plugin_data_pb2.HParamsPluginData.FromString(c) for tag, c in accumulator.PluginTagToContent("hparams").items()}


@pytest.mark.slow
def test_tensorboard_has_each_trials_scalars_and_the_hparams_records_and_hpo_tensorboard_serves_them(tmp_path) -> None:
    from tensorboard.plugins.hparams import api_pb2

    path = _sweep(tmp_path, "{}")
    ran = run_hpo("run", str(path), "--tensorboard")  # the flag sets tracking.tensorboard
    assert ran.returncode == 0, ran.stderr
    assert f"tensorboard: hpo tensorboard {path}" in ran.stdout
    study = hpo.load(path).study
    root = tmp_path / "results" / "tracked" / "tensorboard" / study.study_name
    experiment = _hparams(_events(root))["_hparams_/experiment"].experiment
    assert [h.name for h in experiment.hparam_infos] == ["x", "act", "state"]
    assert experiment.hparam_infos[0].domain_interval.max_value == 1.0
    assert sorted(v.string_value for v in experiment.hparam_infos[1].domain_discrete.values) == ["3", "None", "relu"]  # mixed kinds as text
    assert {m.name.tag for m in experiment.metric_infos} == {"val_accuracy", "val_loss"}
    assert sorted(p.name for p in root.iterdir() if p.is_dir()) == [f"trial_{t.number:04d}" for t in study.trials]
    for trial in study.trials:
        events = _events(root / f"trial_{trial.number:04d}")
        curve = events.Scalars("val_accuracy")
        assert [e.step for e in curve] == sorted(trial.intermediate_values)
        assert [e.value for e in curve] == pytest.approx([trial.intermediate_values[s] for s in sorted(trial.intermediate_values)], rel=1e-6)
        records = _hparams(events)
        start = records["_hparams_/session_start_info"].session_start_info
        assert start.hparams["x"].number_value == pytest.approx(trial.params["x"]) and start.hparams["act"].string_value == str(trial.params["act"])
        assert start.hparams["state"].string_value == trial.state.name
        assert records["_hparams_/session_end_info"].session_end_info.status == api_pb2.STATUS_SUCCESS

    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "hpo", "tensorboard", str(path), "--port", str(port)], cwd=tmp_path,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env={**os.environ, "PYTHONPATH": TREE_PATH})
    try:
        _wait_http(f"http://127.0.0.1:{port}/data/plugins_listing", timeout=120)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/data/plugins_listing", timeout=10) as response:
            assert json.load(response)["hparams"]["enabled"] is True
        request = urllib.request.Request(f"http://127.0.0.1:{port}/data/plugin/hparams/session_groups", method="POST",
                                         data=json.dumps({"experimentName": "", "allowedStatuses": ["STATUS_SUCCESS"], "colParams": [], "startIndex": 0, "sliceSize": 100}).encode(),
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as response:
            groups = json.load(response)
        assert groups["totalSize"] == len(study.trials)  # the HParams tab lists every trial, with its metrics
        assert {m["name"]["tag"] for m in groups["sessionGroups"][0]["metricValues"]} == {"val_accuracy", "val_loss"}
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_hpo_tensorboard_says_how_to_get_logs_when_the_sweep_has_none(tmp_path) -> None:
    out = run_hpo("tensorboard", str(_sweep(tmp_path, "{}")), cwd=tmp_path)
    assert out.returncode == 2
    assert "no TensorBoard logs at" in out.stderr and "tracking: {tensorboard: true}" in out.stderr


def test_an_mlflow_error_switches_mlflow_off_with_one_warning_and_the_run_closes_at_once(tmp_path, caplog) -> None:
    from hpo.tracking import open_trackers

    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the store's folder should be")
    sweep = hpo.load_sweep(_sweep(tmp_path, f"{{mlflow: {{uri: 'sqlite:///{blocked}/mlflow.db'}}}}"))
    started = time.monotonic()
    with caplog.at_level(logging.WARNING), open_trackers(sweep) as trackers:
        trackers(StudyOpened("s", "x.journal"))
        for number in range(3):
            trackers(TrialStarted(number, {"x": number}))
            trackers(TrialComplete(number, 0.5, 1, True, {"val_accuracy": 0.5}))
        trackers.finish({}, [])
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and warnings[0].startswith(f"MLflow tracking at sqlite:///{blocked}/mlflow.db failed (")
    assert "it is off for the rest of this run" in warnings[0] and time.monotonic() - started < 30
