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
    """Deterministic by construction: the three warm-start trials pause at rung 1 (with a reduction
    factor of 4, three trials at a rung promote none) and every later trial is held before its
    first epoch until the test releases it, so when the driver is killed exactly trials 0-2 are
    paused. The first of them (x = 0.3, the curve's peak) is the best at its rung by construction,
    so once `hpo resume` has a fourth trial at the rung, ASHA promotes it from its checkpoint."""
    path = tmp_path / "p.yaml"
    path.write_text(textwrap.dedent(f"""
        name: p
        data: {{source: digits}}
        train: {{epochs: 8}}
        objective: {{metric: val_accuracy, function: "tests.cheap:pausing_held"}}
        space:
          params:
            x: {{type: float, low: 0.0, high: 1.0}}
            sleep: 0.05
            hold_from: 3
            log_dir: {tmp_path}
        sampler: {{name: random, seed: 0}}
        pruner: {{name: asha, args: {{min_epochs: 1, reduction_factor: 4}}}}
        budget: {{trials: 8}}
        resources: {{concurrency: 2}}
        enqueue: [{{x: 0.3}}, {{x: 0.31}}, {{x: 0.29}}]
        results_dir: {tmp_path / "results"}
    """))

    def paused() -> dict[int, int]:
        try:
            return {t.number: paused_at(t) for t in _study(tmp_path, "p").trials if paused_at(t)}
        except (KeyError, FileNotFoundError):
            return {}

    driver = subprocess.Popen(_hpo("run", str(path)), cwd=tmp_path, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        # the markers, not the time: trials 0-2 paused, and 3 and 4 (both slots) running, held
        held = [tmp_path / "held-3", tmp_path / "held-4"]
        _wait_for(lambda: len(paused()) == 3 and all(marker.exists() for marker in held), 300,
                  "trials 0-2 paused and trials 3 and 4 held")
        driver.send_signal(signal.SIGKILL)
        driver.wait(timeout=30)
    finally:
        os.killpg(driver.pid, signal.SIGKILL) if driver.poll() is None else None
    assert paused() == {0: 1, 1: 1, 2: 1}
    assert all((tmp_path / "results" / "p" / "checkpoints" / f"trial_{n}.ckpt").exists() for n in (0, 1, 2))
    status = run_hpo("status", str(path))
    assert status.returncode == 0 and "PAUSED" in status.stdout  # RUNNING in Optuna, shown as what it is

    (tmp_path / "release").write_text("")
    resumed = subprocess.run(_hpo("resume", str(path)), cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stdout[-2000:] + resumed.stderr[-3000:]
    trials = _study(tmp_path, "p").trials
    # trials 3 and 4, held when the driver died, were interrupted and ran again: 8 configurations
    assert [t.number for t in trials if t.state == TrialState.FAIL] == [3, 4]
    assert all(trials[n].user_attrs["hpo:interrupted"] for n in (3, 4))
    assert len(trials) == 10 and {t.state for t in trials} <= {TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL}
    assert all(_contiguous(t) for t in trials if t.intermediate_values)
    assert max(trials[0].intermediate_values) > 1, "the best paused trial was not continued from its checkpoint"
    assert trials[0].state in (TrialState.COMPLETE, TrialState.PRUNED)
    assert not list((tmp_path / "results" / "p" / "checkpoints").glob("*"))
