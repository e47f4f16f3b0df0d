"""Objectives beyond Keras `fit` for classification: user functions (the examples), regression,
weight initialization, a best model that stands alone, and names the built-in trainer reads."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from optuna.trial import TrialState

from hpo import TrialContext
from hpo.config import SweepConfig
from hpo.data import infer_task, load_dataset
from tests.conftest import MINIMAL_SWEEP, REPO, journal_study, run_hpo

pytestmark = pytest.mark.joins_ray_head  # its sweeps join one `ray start` head (conftest.py)


@pytest.mark.parametrize(
    ("y", "task"),
    [(np.array([0, 1, 2, 1] * 30), "classification"), (np.array(["a", "b"] * 60), "classification"),
     (np.linspace(0, 1, 120), "regression"), (np.arange(200) * 3, "regression"), (np.array([1.0, 2.0] * 60), "classification")],
    ids=["int_labels", "strings", "floats", "many_whole_numbers", "few_whole_floats"],
)
def test_the_task_is_inferred_from_the_target(y, task) -> None:
    assert infer_task(y) == task


def test_regression_metrics_agree_with_scikit_learn() -> None:
    from sklearn import metrics

    from hpo.engine import regression_metrics

    rng = np.random.default_rng(0)
    y, pred = rng.normal(size=200) * 50 + 150, rng.normal(size=200) * 50 + 140
    ours = regression_metrics(y, pred, "mse", "val_")
    assert ours["val_mse"] == pytest.approx(metrics.mean_squared_error(y, pred))
    assert ours["val_mae"] == pytest.approx(metrics.mean_absolute_error(y, pred))
    assert ours["val_r2"] == pytest.approx(metrics.r2_score(y, pred))
    assert ours["val_loss"] == ours["val_mse"]
    assert regression_metrics(y, pred, "mae")["loss"] == pytest.approx(metrics.mean_absolute_error(y, pred))


@pytest.mark.parametrize(("typo", "suggestion"), [("dropuot", "dropout"), ("learnig_rate", "learning_rate")])
def test_a_parameter_the_builtin_trainer_never_reads_is_an_error(tmp_path, typo, suggestion) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(MINIMAL_SWEEP.replace("    optimizer: {type: categorical", f"    {typo}: {{type: float, low: 0.1, high: 0.2}}\n    optimizer: {{type: categorical"))
    result = run_hpo("validate", str(path), cwd=tmp_path)
    assert result.returncode == 2, result.stdout
    assert f"s.yaml:8: space.params.{typo}: the built-in trainer never reads a parameter {typo!r} (did you mean '{suggestion}'?)" in result.stderr


def test_a_regression_metric_for_a_classification_set_is_refused(tmp_path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(MINIMAL_SWEEP.replace("data: {source: digits}", "data: {source: digits}\nobjective: {metric: val_mse, direction: minimize}"))
    result = run_hpo("validate", str(path), cwd=tmp_path)
    assert result.returncode == 2
    assert ("the built-in trainer reports val_loss, val_accuracy, val_precision, val_recall, val_f1, val_auc, params, latency_ms, "
            "latency_batch_ms, epoch_seconds, peak_memory_mb for a classification target, but got 'val_mse'") in result.stderr


def test_every_shipped_sweep_and_example_validates() -> None:
    for path in [*sorted((REPO / "sweeps").glob("*.yaml")), *sorted((REPO / "examples").glob("*/sweep.yaml"))]:
        result = run_hpo("validate", str(path), cwd=path.parent)
        assert result.returncode == 0, (path, result.stderr)


@pytest.mark.slow
def test_kernel_initializer_reaches_the_layers() -> None:
    from hpo.engine import build_model

    model = build_model("builtin", {"family": "cnn", "depth": 1, "kernel_initializer": "he_normal"}, (8, 8, 1), 3, seed=0)
    initializers = {type(layer.kernel_initializer).__name__ for layer in model.layers if hasattr(layer, "kernel_initializer")}
    assert "HeNormal" in initializers


def _config(data: dict, **extra) -> SweepConfig:
    return SweepConfig.model_validate({"name": "o", "data": data, "train": {"epochs": 3}, **extra})


@pytest.mark.slow
def test_regression_trains_and_reports_its_metrics() -> None:
    from sklearn import metrics

    from hpo.engine import TrainPlan, train_trial

    config = _config({"source": "diabetes"}, objective={"metric": "val_mse", "direction": "minimize"})
    data = load_dataset(config.data)
    history: list = []
    params = {"depth": 1, "units_0": 32, "learning_rate": 0.05, "normalization": "standard", "loss": "huber", "huber_delta": 20.0}
    result = train_trial(TrainPlan.of(config), TrialContext(0, params, data, 0, 3, _sink=lambda e, m: history.append(m)), keep_model=True)
    assert [sorted(m) for m in history] == [["epoch_seconds", "loss", "params", "peak_memory_mb", "val_loss", "val_mae", "val_mse", "val_r2"]] * 3
    pred = result.model.predict(data.x_val, verbose=0).ravel()
    assert history[-1]["val_mse"] == pytest.approx(metrics.mean_squared_error(data.y_val, pred), rel=1e-4)
    assert history[-1]["val_r2"] == pytest.approx(metrics.r2_score(data.y_val, pred), rel=1e-4, abs=1e-4)
    assert history[-1]["val_mse"] < history[0]["val_mse"]  # it learns


@pytest.mark.slow
@pytest.mark.parametrize(("data", "params"), [
    ({"source": "digits"}, {"family": "cnn", "conv_blocks": 1, "depth": 1, "normalization": "minmax", "learning_rate": 0.01}),
    ({"source": "diabetes"}, {"depth": 1, "units_0": 16, "normalization": "standard", "learning_rate": 0.05}),
], ids=["classification_minmax", "regression_standard"])
def test_the_saved_best_model_takes_raw_inputs_and_reproduces_its_test_metrics(tmp_path, data, params) -> None:
    import keras

    from hpo.engine import TrainPlan, evaluate_on_test, model_bytes, train_trial

    config = _config(data)
    dataset = load_dataset(config.data)
    result = train_trial(TrainPlan.of(config), TrialContext(0, params, dataset, 0, 3), keep_model=True)
    recorded = evaluate_on_test(result.model, dataset, params)
    path = tmp_path / "best.keras"
    path.write_bytes(model_bytes(result.model))
    loaded = keras.saving.load_model(path)
    assert evaluate_on_test(loaded, dataset, params) == pytest.approx(recorded, rel=1e-5)
    raw = loaded.predict(dataset.x_test[:5], verbose=0)
    assert np.allclose(raw, result.model.predict(dataset.x_test[:5], verbose=0), atol=1e-5)  # no outside preprocessing


@pytest.mark.slow
@pytest.mark.parametrize("example", ["tf_gradient_tape", "keras_fit"])
def test_the_examples_run_through_ray_and_are_pruned(tmp_path, example) -> None:
    folder = tmp_path / example
    shutil.copytree(REPO / "examples" / example, folder)
    result = run_hpo("run", "sweep.yaml", "--trials", "8", cwd=folder, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    study = journal_study(folder / "results" / example / "study.journal", example)
    states = [t.state for t in study.trials]
    assert len(states) == 8 and TrialState.PRUNED in states and TrialState.COMPLETE in states, states
    for t in study.get_trials(states=(TrialState.PRUNED,)):
        assert max(t.intermediate_values) < 10 and t.intermediate_values  # stopped early, its curve kept
    best = json.loads((folder / "results" / example / "best.json").read_text())
    assert best["test_metrics"]["test_accuracy"] > 0.8 and (folder / "results" / example / "best_model.keras").exists()


@pytest.mark.slow
def test_the_diabetes_sweep_end_to_end(tmp_path) -> None:
    from hpo.config import load_sweep
    from hpo.executor import run_sweep

    sweep = load_sweep(REPO / "sweeps" / "diabetes_mlp.yaml").with_overrides(**{
        "budget.trials": 3, "train.epochs": 4, "results_dir": str(tmp_path), "pruner.name": "none", "pruner.args": {},
    })
    outcome = run_sweep(sweep)
    assert [t.state for t in outcome.study.trials] == [TrialState.COMPLETE] * 3
    assert set(outcome.final["test_metrics"]) == {"test_loss", "test_mse", "test_mae", "test_r2"}
    assert outcome.study.best_trial.value == min(t.value for t in outcome.study.trials)  # minimize


def _builder_reading_filters_only_with_convolutions(params) -> list[str]:
    """A user builder's shape: ``filters`` matters only when there are convolution blocks."""
    layers = [f"conv{params['filters']}" for _ in range(params["n_conv"])]
    return [*layers, f"dense{params['units']}"]


def test_a_parameter_read_only_in_some_configurations_is_not_warned_about_but_a_typo_is_once() -> None:
    import optuna

    from hpo._constants import UNREAD_WARN_AFTER_TRIALS
    from hpo._trial import ReadParams
    from hpo.executor import Lifecycle, ParamsUnread, Rules

    params = ReadParams({"units": 8, "dropuot": 0.2, "lr": 0.1})
    assert params["units"] == 8 and params.get("lr") == 0.1 and "missing" not in params
    assert params.unread() == ["dropuot"]
    events: list = []
    storage = optuna.storages.InMemoryStorage()
    study = optuna.create_study(storage=storage)
    lifecycle = Lifecycle(study, storage, Rules(metric="m", direction="minimize", max_epochs=1),
                          lambda notice: events.append(notice) if isinstance(notice, ParamsUnread) else None)

    def finish(n_conv: int) -> None:
        trial = study.ask()
        config = ReadParams({"n_conv": n_conv, "filters": 16, "units": 8, "dropuot": 0.2})
        lifecycle.start(trial, dict(config))
        _builder_reading_filters_only_with_convolutions(config)
        lifecycle.unread(trial.number, tuple(config.unread()))
        lifecycle.report(trial.number, 1, {"m": 0.5})
        lifecycle.end(trial.number)

    finish(0)  # the first trial reads neither filters nor the typo: no warning yet
    assert events == []
    for _ in range(UNREAD_WARN_AFTER_TRIALS - 2):
        finish(0)
    assert events == []  # 9 trials, none read filters or the typo
    finish(2)  # a configuration with convolutions reads filters; the typo's 10th unread trial: said now
    assert events == [ParamsUnread(("dropuot",), UNREAD_WARN_AFTER_TRIALS)]
    lifecycle.warn_unread()  # the end of the run: filters was read by one trial, the typo is said already
    assert [notice.names for notice in events] == [("dropuot",)]


def test_at_the_end_of_a_short_run_a_parameter_no_trial_read_is_warned_about() -> None:
    import optuna

    from hpo.executor import Lifecycle, ParamsUnread, Rules

    events: list = []
    storage = optuna.storages.InMemoryStorage()
    study = optuna.create_study(storage=storage)
    lifecycle = Lifecycle(study, storage, Rules(metric="m", direction="minimize", max_epochs=1),
                          lambda notice: events.append(notice) if isinstance(notice, ParamsUnread) else None)
    for read in ((), ("filters",)):
        trial = study.ask()
        lifecycle.start(trial, {"filters": 16, "dropuot": 0.1})
        lifecycle.unread(trial.number, ("dropuot", *(() if read else ("filters",))))
        lifecycle.report(trial.number, 1, {"m": 0.5})
        lifecycle.end(trial.number)
    assert events == []
    lifecycle.warn_unread()
    lifecycle.warn_unread()
    assert events == [ParamsUnread(("dropuot",), 2)]
