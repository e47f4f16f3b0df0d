"""Promotion for real: sweeps on Ray whose trials pause at rungs and continue from checkpoints, with
the built-in Keras trainer and with a trial function's save/restore hooks; a driver SIGKILLed
while trials are paused, then `hpo resume` continues them from their checkpoints."""

from __future__ import annotations

import os
import signal
import subprocess
import textwrap
from pathlib import Path

import pytest
from optuna.trial import TrialState

from hpo.study import paused_at
from tests.conftest import journal_study, run_hpo
from tests.test_faults import _env, _hpo, _wait_for
from tests.test_promotion import _contiguous

pytestmark = pytest.mark.slow


def _study(tmp_path: Path, name: str):
    return journal_study(tmp_path / "results" / name / "study.journal", name)


def test_the_builtin_trainer_pauses_at_rungs_and_the_study_stays_truthful(tmp_path) -> None:
    path = tmp_path / "asha.yaml"
    path.write_text(textwrap.dedent(f"""
        name: asha
        data: {{source: breast_cancer}}
        train: {{epochs: 4}}
        space:
          params:
            family: mlp
            depth: 1
            units_0: {{type: int, low: 4, high: 32}}
            learning_rate: {{type: float, low: 0.0005, high: 0.05, log: true}}
            batch_size: 64
        sampler: {{name: random, seed: 0}}
        pruner: {{name: asha, args: {{min_epochs: 1, reduction_factor: 2}}}}
        budget: {{trials: 6}}
        results_dir: {tmp_path / "results"}
    """))
    ran = run_hpo("run", str(path))
    assert ran.returncode == 0, ran.stdout[-2000:] + ran.stderr[-3000:]
    trials = _study(tmp_path, "asha").trials
    assert len(trials) == 6 and {t.state for t in trials} <= {TrialState.COMPLETE, TrialState.PRUNED}
    assert all(_contiguous(t) for t in trials)
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    assert complete and all(max(t.intermediate_values) == 4 for t in complete)
    assert all(max(t.intermediate_values) in (1, 2) for t in trials if t.state == TrialState.PRUNED)
    assert not list((tmp_path / "results" / "asha" / "checkpoints").glob("*"))  # deleted as trials ended
    status = run_hpo("status", str(path))
    assert status.returncode == 0 and "PAUSED" not in status.stdout and "COMPLETE" in status.stdout


def test_a_trial_functions_paused_trials_survive_a_killed_driver_and_resume_continues_them(tmp_path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(textwrap.dedent(f"""
        name: p
        data: {{source: digits}}
        train: {{epochs: 8}}
        objective: {{metric: val_accuracy, function: "tests.cheap:pausing"}}
        space: {{params: {{x: {{type: float, low: 0.0, high: 1.0}}, sleep: 0.3}}}}
        sampler: {{name: random, seed: 0}}
        pruner: {{name: asha, args: {{min_epochs: 1, reduction_factor: 2}}}}
        budget: {{trials: 8}}
        resources: {{concurrency: 2}}
        results_dir: {tmp_path / "results"}
    """))

    def paused() -> list[int]:
        try:
            return [t.number for t in _study(tmp_path, "p").trials if paused_at(t)]
        except (KeyError, FileNotFoundError):
            return []

    driver = subprocess.Popen(_hpo("run", str(path)), cwd=tmp_path, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        _wait_for(lambda: len(paused()) >= 2, 300, "two paused trials")
        driver.send_signal(signal.SIGKILL)
        driver.wait(timeout=30)
    finally:
        os.killpg(driver.pid, signal.SIGKILL) if driver.poll() is None else None
    waiting = {n: max(_study(tmp_path, "p").trials[n].intermediate_values) for n in paused()}
    assert all((tmp_path / "results" / "p" / "checkpoints" / f"trial_{n}.ckpt").exists() for n in waiting)
    status = run_hpo("status", str(path))
    assert status.returncode == 0 and "PAUSED" in status.stdout  # RUNNING in Optuna, shown as what it is

    resumed = subprocess.run(_hpo("resume", str(path)), cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stdout[-2000:] + resumed.stderr[-3000:]
    trials = _study(tmp_path, "p").trials
    assert len(trials) == 8 and {t.state for t in trials} <= {TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL}
    assert all(_contiguous(t) for t in trials if t.intermediate_values)
    continued = [n for n, epoch in waiting.items() if max(trials[n].intermediate_values) > epoch]
    assert continued, f"no paused trial continued: {waiting}"  # promoted from its checkpoint by the later run
    for number in continued:
        assert trials[number].state in (TrialState.COMPLETE, TrialState.PRUNED)
