"""`hpo run` and `hpo resume` flags, through the real CLI in a subprocess, on cheap objectives."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from optuna.trial import TrialState

from tests.conftest import REPO, TREE_PATH, journal_study, run_hpo

pytestmark = pytest.mark.slow
# The sweeps join one `ray start` head (conftest.py), except where the workers need the test's own
# environment (KERAS_BACKEND) or the test is about hpo's own start.
_JOINS = pytest.mark.joins_ray_head


def _sweep(tmp_path: Path, trials: int = 6, sleep: float = 0.0) -> Path:
    path = tmp_path / "r.yaml"
    path.write_text(textwrap.dedent(f"""
        name: r
        data: {{source: digits}}
        train: {{epochs: 3}}
        objective: {{metric: val_accuracy, function: "tests.cheap:objective"}}
        space:
          params:
            x: {{type: float, low: 0.0, high: 1.0}}
            epochs: 3
            sleep: {sleep}
        sampler: {{name: random, seed: 0}}
        pruner: {{name: none}}
        budget: {{trials: {trials}}}
        resources: {{concurrency: 2}}
        results_dir: {tmp_path / "results"}
    """))
    return path


def _run(*args: str, cwd: Path):
    return run_hpo(*args, cwd=cwd, env={"PYTHONPATH": TREE_PATH}, timeout=600)


def _trials(tmp_path: Path, name: str = "r"):
    return journal_study(tmp_path / "results" / "r" / "study.journal", name).trials


@_JOINS
def test_trials_seed_and_new_study_flags(tmp_path) -> None:
    path = _sweep(tmp_path)
    first = _run("run", str(path), "--trials", "3", "--seed", "7", cwd=tmp_path)
    assert first.returncode == 0, first.stderr[-2000:]
    assert "budget 3 trials" in first.stdout
    xs = [t.params["x"] for t in _trials(tmp_path)]
    assert len(xs) == 3
    again = _run("run", str(path), "--new-study", "--trials", "2", "--seed", "7", cwd=tmp_path)
    assert again.returncode == 0, again.stderr[-2000:]
    assert "study 'r-2'" in again.stdout
    assert [t.params["x"] for t in _trials(tmp_path, "r-2")] == xs[:2]  # the same seed draws the same configurations
    other = _run("run", str(path), "--new-study", "--trials", "2", "--seed", "8", "--trials-per-worker", "2", cwd=tmp_path)
    assert [t.params["x"] for t in _trials(tmp_path, "r-3")] != xs[:2]
    assert len(_trials(tmp_path, "r")) == 3 and other.returncode == 0  # earlier studies untouched
    # --trials-per-worker 2: both slots' trials ran as threads of one worker process
    assert "2 concurrent (2 per worker process)" in other.stdout
    assert len({t.user_attrs["hpo:placement"]["pid"] for t in _trials(tmp_path, "r-3")}) == 1


@_JOINS
def test_resume_continues_with_the_interrupted_runs_budget(tmp_path) -> None:
    path = _sweep(tmp_path, trials=6)
    first = _run("run", str(path), "--trials", "2", cwd=tmp_path)
    assert first.returncode == 0, first.stderr[-2000:]
    resumed = _run("resume", str(path), cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "resuming with the settings of the interrupted run: budget.trials=2" in resumed.stderr
    assert "budget 2 trials" in resumed.stdout
    assert len(_trials(tmp_path)) == 2  # not the file's 6
    fresh = _run("run", str(path), cwd=tmp_path)  # a new `hpo run` takes the file's budget again
    assert fresh.returncode == 0 and len(_trials(tmp_path)) == 6


@_JOINS
def test_timeout_flag_stops_launching(tmp_path) -> None:
    path = _sweep(tmp_path, trials=500, sleep=0.3)
    result = _run("run", str(path), "--timeout", "4", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "budget 500 trials / 4 s" in result.stdout
    trials = _trials(tmp_path)
    assert 2 <= len(trials) < 40 and all(t.state == TrialState.COMPLETE for t in trials)


@_JOINS
def test_gpus_per_trial_without_gpus_is_refused_with_the_fix(tmp_path) -> None:
    path = _sweep(tmp_path)
    result = _run("run", str(path), "--gpus-per-trial", "0.5", cwd=tmp_path)
    assert result.returncode == 2, result.stderr[-2000:]
    assert "resources.gpus_per_trial=0.5 needs a GPU, but the Ray cluster has 0 GPUs" in result.stderr
    assert "--gpus-per-trial 0" in result.stderr and "Traceback" not in result.stderr
    assert not any(t.state == TrialState.RUNNING for t in _trials(tmp_path))


@_JOINS
def test_a_finished_sweep_runs_again_without_ray_or_retraining(tmp_path) -> None:
    path = _sweep(tmp_path, trials=2)
    first = _run("run", str(path), cwd=tmp_path)
    assert first.returncode == 0, first.stderr[-2000:]
    best = tmp_path / "results" / "r" / "best.json"
    written = best.read_bytes()
    (tmp_path / "results" / "r" / "report.html").unlink()

    # Through the Python API: neither Ray nor TensorFlow is imported.
    script = "import sys, hpo; r = hpo.run(sys.argv[1], progress=False); print(r.outcome.nothing_left, sorted({'ray', 'tensorflow'} & set(sys.modules)))"
    api = subprocess.run([sys.executable, "-c", script, str(path)], check=False, cwd=tmp_path, capture_output=True, text=True, timeout=300, env={**os.environ, "PYTHONPATH": TREE_PATH})
    assert api.returncode == 0, api.stderr[-2000:]
    assert api.stdout.strip().splitlines()[-1] == "True []"
    assert best.read_bytes() == written  # the best is not re-trained
    assert (tmp_path / "results" / "r" / "report.html").exists()  # the report is written again

    resumed = _run("resume", str(path), cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "nothing left to run: study 'r'" in resumed.stdout and "--trials" in resumed.stdout
    assert len(_trials(tmp_path)) == 2 and best.read_bytes() == written

    # A best.json that no longer describes the study's best: the run re-trains it.
    stale = json.loads(written)
    stale["trial"] = 1 - stale["trial"]
    best.write_text(json.dumps(stale))
    again = _run("run", str(path), cwd=tmp_path)
    assert again.returncode == 0, again.stderr[-2000:]
    assert "nothing left to run" not in again.stdout
    assert json.loads(best.read_text())["trial"] == json.loads(written)["trial"]

    more = _run("run", str(path), "--trials", "3", cwd=tmp_path)  # a larger budget: one more trial
    assert more.returncode == 0 and "1 complete" in more.stdout and len(_trials(tmp_path)) == 3


@pytest.mark.parametrize("cache", ["folder", "off"])
def test_jax_workers_keep_compiled_steps_in_a_persistent_cache(tmp_path, cache) -> None:
    """On JAX, trial workers cache compiled steps on disk (HPO_JAX_CACHE_DIR names the folder, or
    turns it off), so the best's re-training after the sweep loads what its trial compiled. (JAX
    caches only compilations longer than 1 s by default, which a small CNN's step here is or is not
    depending on the machine's load: the test lowers that threshold so that the result does not.)"""
    pytest.importorskip("jax")
    path = tmp_path / "j.yaml"
    path.write_text(textwrap.dedent(f"""
        name: j
        data: {{source: digits}}
        train: {{epochs: 1}}
        space: {{params: {{family: cnn, conv_blocks: 2, filters_0: 16, filters_1: 16, learning_rate: 0.01, optimizer: adam}}}}
        budget: {{trials: 1}}
        resources: {{concurrency: 1}}
        results_dir: {tmp_path / "results"}
    """))
    folder = tmp_path / "jax-cache"
    run = run_hpo("run", str(path), cwd=tmp_path, env={"KERAS_BACKEND": "jax", "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
                                                    "HPO_JAX_CACHE_DIR": str(folder) if cache == "folder" else "off"})
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    assert "re-trained once" in run.stdout
    entries = sorted(p.name for p in folder.glob("jit_train_step-*")) if folder.exists() else []
    assert bool(entries) == (cache == "folder"), entries
