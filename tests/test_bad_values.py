"""Bad values and broken surroundings: clear errors naming the path or URL, nothing overwritten."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import yaml
from optuna.trial import TrialState

from hpo.config import load_sweep
from hpo.results import write_resolved_sweep
from hpo.study import open_study
from tests.conftest import MINIMAL_SWEEP, REPO, TREE_PATH, journal_study, run_hpo

pytestmark = pytest.mark.joins_ray_head  # its sweeps join one `ray start` head (conftest.py)


def _sweep(tmp_path: Path, extra: str = "") -> Path:
    path = tmp_path / "s.yaml"
    path.write_text(MINIMAL_SWEEP + f"results_dir: {tmp_path / 'results'}\n" + extra)
    return path


def test_unwritable_results_folder(tmp_path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    path = _sweep(tmp_path)
    result = run_hpo("run", str(path), "--results-dir", str(blocker / "results"), cwd=tmp_path, timeout=120)
    assert result.returncode == 1, result.stderr
    assert f"cannot write the results folder {blocker / 'results' / 't'}" in result.stderr
    assert "--results-dir" in result.stderr
    assert blocker.read_text() == "not a folder"


def test_unreachable_storage_masks_the_password(tmp_path) -> None:
    path = _sweep(tmp_path)
    result = run_hpo("run", str(path), "--storage", "postgresql+psycopg2://bob:hunter2@127.0.0.1:1/db", "--concurrency", "1", cwd=tmp_path, timeout=120)
    assert result.returncode == 1
    assert "cannot open storage postgresql+psycopg2://bob:***@127.0.0.1:1/db" in result.stderr
    assert "hunter2" not in result.stdout + result.stderr


def _journal_with_trials(tmp_path: Path) -> tuple[Path, Path]:
    path = _sweep(tmp_path)
    sweep = load_sweep(path)
    study = open_study(sweep)
    for i in range(3):
        trial = study.ask()
        sweep.space.sample(trial)
        study.tell(trial, float(i))
    return path, tmp_path / "results" / "t" / "study.journal"


def test_corrupt_journal_is_refused_and_untouched(tmp_path) -> None:
    path, journal = _journal_with_trials(tmp_path)
    corrupt = b"this is not json\n" + journal.read_bytes()
    journal.write_bytes(corrupt)
    result = run_hpo("run", str(path), cwd=tmp_path, timeout=120)
    assert result.returncode == 1
    assert f"the study journal {journal} is corrupt or truncated" in result.stderr
    assert journal.read_bytes() == corrupt


def test_truncated_journal_is_refused_with_the_repair_command(tmp_path) -> None:
    path, journal = _journal_with_trials(tmp_path)
    truncated = journal.read_bytes()[:-7]
    journal.write_bytes(truncated)
    result = run_hpo("run", str(path), cwd=tmp_path, timeout=120)
    assert result.returncode == 1
    assert "ends with an incomplete record" in result.stderr
    assert journal.read_bytes() == truncated  # left untouched
    status = run_hpo("status", str(path), cwd=tmp_path)  # reading still works
    assert status.returncode == 0
    command = result.stderr.split("the incomplete tail: ", 1)[1].split("\n")[0].strip()
    import subprocess

    subprocess.run(command, shell=True, check=True, cwd=tmp_path)
    assert journal.read_bytes().endswith(b"\n") and Path(str(journal) + ".bak").read_bytes() == truncated
    study = journal_study(journal, "t")
    assert [t.state for t in study.trials][:2] == [TrialState.COMPLETE, TrialState.COMPLETE]


def test_resolved_sweep_masks_the_password(tmp_path) -> None:
    path = _sweep(tmp_path, "storage: postgresql://bob:hunter2@db.example/hpo\nresources: {concurrency: 2}\n")
    sweep = load_sweep(path)
    written = write_resolved_sweep(sweep, tmp_path)
    text = written.read_text()
    assert "hunter2" not in text and "bob:***@db.example" in text
    assert yaml.safe_load(text)["space"]["params"]["momentum"]["when"] == {"optimizer": ["sgd"]}


def test_best_ignores_failed_and_nan_trials(tmp_path) -> None:
    """Trials 0-2 are COMPLETE with 0, 1, 2; a FAIL trial and a trial whose objective was NaN
    (which hpo fails, through the same lifecycle the executor uses) must not be best."""
    import json

    import optuna

    from hpo.executor import Lifecycle, Rules

    path, _ = _journal_with_trials(tmp_path)
    sweep = load_sweep(path)
    study = open_study(sweep)
    lifecycle = Lifecycle(study, optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(tmp_path / "results" / "t" / "study.journal"))),
                          Rules(metric="val_accuracy", direction="maximize", max_epochs=2))
    for metrics in ({"val_accuracy": float("nan")}, {"val_accuracy": float("inf")}):
        trial = study.ask()
        lifecycle.start(trial, sweep.space.sample(trial))
        lifecycle.report(trial.number, 1, metrics)
    trial = study.ask()
    sweep.space.sample(trial)
    study.tell(trial, state=TrialState.FAIL)
    states = [t.state for t in journal_study(tmp_path / "results" / "t" / "study.journal", "t").trials]
    assert states == [TrialState.COMPLETE] * 3 + [TrialState.FAIL] * 3
    result = run_hpo("best", str(path), "--format", "json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    best = json.loads(result.stdout)
    assert best["trial"] == 2 and best["objective"]["value"] == 2.0


SWEEP_USER_BUILDER = """
name: u
data: {source: digits}
model: {builder: "tests.user_code:%(builder)s"}
train: {epochs: 2}
objective: {metric: %(metric)s}
space: {params: {width: {type: int, low: 4, high: 8}, batch_size: 64}}
budget: {trials: 3, max_consecutive_failures: 5}
resources: {concurrency: 1}
results_dir: %(results)s
"""


@pytest.mark.slow
def test_misspelled_metric_stops_at_first_report_with_exit_1(tmp_path) -> None:
    path = tmp_path / "u.yaml"
    path.write_text(textwrap.dedent(SWEEP_USER_BUILDER % {"builder": "build", "metric": "val_accuray", "results": tmp_path / "results"}))
    result = run_hpo("run", str(path), cwd=tmp_path, env={"PYTHONPATH": TREE_PATH}, timeout=600)
    assert result.returncode == 1, result.stdout[-2000:] + result.stderr[-2000:]
    assert "objective metric 'val_accuray' is not reported" in result.stderr
    assert "val_accuracy" in result.stderr and "val_auc" in result.stderr
    study = journal_study(tmp_path / "results" / "u" / "study.journal", "u")
    assert [t.state for t in study.trials] == [TrialState.FAIL]  # no further trials launched


@pytest.mark.slow
def test_out_of_memory_fails_the_trial_not_the_sweep(tmp_path) -> None:
    path = tmp_path / "u.yaml"
    path.write_text(textwrap.dedent(SWEEP_USER_BUILDER % {"builder": "oom_builder", "metric": "val_accuracy", "results": tmp_path / "results"}))
    result = run_hpo("run", str(path), cwd=tmp_path, env={"PYTHONPATH": TREE_PATH}, timeout=600)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    study = journal_study(tmp_path / "results" / "u" / "study.journal", "u")
    assert [t.state for t in study.trials] == [TrialState.FAIL] * 3  # the budget ran; the sweep did not crash
    for t in study.trials:
        reason = t.user_attrs["hpo:fail_reason"]
        assert "out of memory with batch_size=64" in reason and "lower batch_size" in reason and "gpus_per_trial" in reason
