"""`hpo run` end to end in a subprocess on real Keras training, then every read command on the
finished study: status, best, export (round-trips), report; and the exit codes."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import optuna
import pandas as pd
import pytest
from optuna.trial import TrialState

from tests.conftest import REPO, journal_study, run_hpo

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("cli-sweep")]  # one worker runs the module's sweep once

SWEEP = """
name: digits_small
data: {source: digits, seed: 0}
train: {epochs: 5, seed: 0}
objective: {metric: val_accuracy, direction: maximize}
space:
  include: [%(spaces)s/mlp.yaml]
  params:
    depth: {high: 2}
    units: {low: 16, high: 64}
    dropout: 0.0
    optimizer: sgd
    learning_rate: {type: float, low: 0.0001, high: 0.3, log: true}
    batch_size: 64
    normalization: minmax
sampler: {name: random, seed: 3}
pruner: {name: median, args: {n_startup_trials: 2, n_warmup_steps: 1}}
budget: {trials: 8}
resources: {concurrency: 2}
"""


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """One real sweep, run through the CLI as a user would (not a terminal: plain progress)."""
    folder = tmp_path_factory.mktemp("sweep")
    path = folder / "digits_small.yaml"
    path.write_text(textwrap.dedent(SWEEP % {"spaces": REPO / "search_spaces"}))
    result = run_hpo("run", str(path), "--results-dir", str(folder / "results"), cwd=folder, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    return folder, path, result


def _study(folder: Path) -> optuna.Study:
    return journal_study(folder / "results" / "digits_small" / "study.journal", "digits_small")


def test_run_leaves_pruned_and_complete_trials(finished) -> None:
    folder, _, _ = finished
    study = _study(folder)
    assert len(study.trials) == 8
    pruned = study.get_trials(states=(TrialState.PRUNED,))
    complete = study.get_trials(states=(TrialState.COMPLETE,))
    assert pruned, [t.state for t in study.trials]
    assert all(t.intermediate_values and max(t.intermediate_values) < 5 for t in pruned)
    assert complete and all(t.value is not None and max(t.intermediate_values) == 5 for t in complete)
    assert study.best_trial.value == max(t.value for t in complete)
    assert study.best_trial.value > 0.5  # far above chance (0.1); quality is not what this test is about


def test_run_prints_plain_progress_and_where_results_are(finished) -> None:
    _, _, result = finished
    out = result.stdout
    assert "trial 0 started" in out and "done 8/8" in out
    assert "pruned at epoch" in out
    assert "report:" in out and "hpo dashboard" in out
    assert "\x1b[" not in out  # no terminal control codes when not a terminal


def test_the_driver_is_quiet(finished) -> None:
    """Nothing of TensorFlow's start-up chatter (CUDA probing, CPU features, oneDNN) reaches the user:
    the driver never imports it (the best trial is re-trained in a worker) and workers' logs stay there."""
    _, _, result = finished
    text = result.stdout + result.stderr
    for noise in ("cuda", "cpu_feature_guard", "oneDNN", "absl::InitializeLog", "Traceback"):
        assert noise not in text, noise


def test_results_folder(finished) -> None:
    folder, _, _ = finished
    results = folder / "results" / "digits_small"
    for name in ("study.journal", "trials.csv", "trials.parquet", "best.json", "best_model.keras", "sweep.resolved.yaml", "report.html", "history.png", "intermediate_values.png"):
        assert (results / name).exists(), name
    best = json.loads((results / "best.json").read_text())
    assert best["trial"] == _study(folder).best_trial.number
    assert set(best["test_metrics"]) == {"test_loss", "test_accuracy", "test_precision", "test_recall", "test_f1", "test_auc"}
    assert best["test_metrics"]["test_accuracy"] > 0.5
    assert best["params"]["normalization"] == "minmax"  # fixed values included
    assert best["retrained_validation_metrics"]["val_accuracy"] == pytest.approx(best["validation_metrics"]["val_accuracy"])  # seeded: the same model


def test_status_table_and_json(finished) -> None:
    folder, path, _ = finished
    table = run_hpo("status", str(path), "--results-dir", str(folder / "results"), cwd=folder)
    assert table.returncode == 0, table.stderr
    assert "PRUNED" in table.stdout and "COMPLETE" in table.stdout and "learning_rate=" in table.stdout
    rows = json.loads(run_hpo("status", str(path), "--results-dir", str(folder / "results"), "--format", "json", cwd=folder).stdout)
    assert [r["number"] for r in rows] == list(range(8))
    assert {r["state"] for r in rows} <= {"COMPLETE", "PRUNED"}
    # Where each trial ran: the worker processes of this machine, two slots reused across trials.
    import socket

    assert {r["host"] for r in rows} == {socket.gethostname()} and len({r["pid"] for r in rows}) == 2
    assert f"{socket.gethostname()}:{rows[0]['pid']}" in table.stdout


def test_best_shows_test_metrics(finished) -> None:
    folder, path, _ = finished
    result = run_hpo("best", str(path), "--results-dir", str(folder / "results"), "--format", "json", cwd=folder)
    summary = json.loads(result.stdout)
    assert summary["trial"] == _study(folder).best_trial.number
    assert summary["validation_metrics"]["val_accuracy"] == pytest.approx(summary["objective"]["value"])
    assert "test_f1" in summary["test_metrics"]


@pytest.mark.parametrize("fmt", ["csv", "parquet", "json"])
def test_export_round_trips_through_pandas(finished, fmt: str, tmp_path) -> None:
    folder, path, _ = finished
    out = tmp_path / f"t.{fmt}"
    result = run_hpo("export", str(path), "--results-dir", str(folder / "results"), "--format", fmt, "-o", str(out), cwd=folder)
    assert result.returncode == 0, result.stderr
    frame = {"csv": pd.read_csv, "parquet": pd.read_parquet, "json": pd.read_json}[fmt](out)
    study = _study(folder)
    assert list(frame.number) == [t.number for t in study.trials]
    assert list(frame.state) == [t.state.name for t in study.trials]
    complete = frame[frame.state == "COMPLETE"]
    assert list(complete.value) == pytest.approx([t.value for t in study.trials if t.state == TrialState.COMPLETE])
    assert "params_learning_rate" in frame.columns
    assert frame.host.notna().all() and frame.pid.notna().all()  # where each trial ran


def test_report_has_the_plots(finished) -> None:
    folder, path, _ = finished
    report = folder / "results" / "digits_small" / "report.html"
    report.unlink()
    result = run_hpo("report", str(path), "--results-dir", str(folder / "results"), cwd=folder)
    assert result.returncode == 0, result.stderr
    page = report.read_text()
    for title in ("Optimization history", "Intermediate values", "Parameter importances", "Parallel coordinates", "Slice", "epochs saved by pruning", "Test split"):
        assert title in page, title
    # The importance plot itself is there (Optuna's figure title), not only a section saying it failed.
    assert "Hyperparameter Importances" in page and "Parameter importances: not available" not in page
    assert (report.parent / "importances.png").stat().st_size > 10_000
    # plotly.js is inlined (the page opens offline): no external script, the library itself is there.
    assert '<script src="http' not in page and len(page) > 1_000_000


def test_missing_study_exits_2(tmp_path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(textwrap.dedent(SWEEP % {"spaces": REPO / "search_spaces"}))
    for command in ("status", "best", "export", "report"):
        result = run_hpo(command, str(path), "--results-dir", str(tmp_path / "none"), cwd=tmp_path)
        assert result.returncode == 2, (command, result.stderr)
        assert "hpo run" in result.stderr
    assert not (tmp_path / "none").exists()  # looking did not create anything


def test_run_with_bad_sweep_exits_2_before_starting(tmp_path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("name: s\nspace: {params: {lr: {type: float, low: 0.1, high: 0.01}}}\n")
    result = run_hpo("run", str(path), cwd=tmp_path, timeout=60)
    assert result.returncode == 2
    assert "`low <= high` must hold" in result.stderr
    assert not (tmp_path / "results").exists()
