"""Commands that only read a study start fast (no TensorFlow, no Ray, no Keras imported) and
end fast (what they leave in memory is frozen, so the interpreter's last collection skips it)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from hpo.config import load_sweep
from hpo.study import open_study
from tests.conftest import MINIMAL_SWEEP, journal_study

PROBE = """
import runpy, sys
sys.argv = ["hpo", *{args!r}]
try:
    runpy.run_module("hpo", run_name="__main__")
except SystemExit as exc:
    print("EXIT", exc.code)
print("HEAVY", sorted(m for m in ("tensorflow", "ray", "keras", "jax") if m in sys.modules))
print("FROZEN", __import__("gc").get_freeze_count() > 0)
"""


@pytest.fixture
def small_study(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(MINIMAL_SWEEP + f"results_dir: {tmp_path / 'results'}\n")
    sweep = load_sweep(path)
    study = open_study(sweep)
    for i in range(3):
        trial = study.ask()
        sweep.space.sample(trial)
        trial.report(0.5 + i / 10, 1)
        study.tell(trial, 0.5 + i / 10)
    return path


@pytest.mark.parametrize(
    "args",
    [["validate"], ["space"], ["status"], ["best"], ["export", "--format", "json"], ["export", "--format", "parquet"], ["report"]],
    ids=lambda a: "-".join(a),
)
def test_read_commands_do_not_import_heavy_frameworks_and_exit_without_a_last_collection(small_study, args) -> None:
    code = PROBE.format(args=[args[0], str(small_study), *args[1:]])
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=small_study.parent)
    assert "EXIT 0" in out.stdout, out.stdout[-2000:] + out.stderr[-3000:]
    assert "HEAVY []" in out.stdout, out.stdout[-500:]
    assert "FROZEN True" in out.stdout, out.stdout[-500:]


def test_best_without_test_evaluation_says_so(small_study) -> None:
    from tests.conftest import run_hpo

    result = run_hpo("best", str(small_study), cwd=small_study.parent)
    assert result.returncode == 0, result.stderr
    assert "not evaluated yet" in result.stdout
    study = journal_study(small_study.parent / "results" / "t" / "study.journal", "t")
    assert f"best trial {study.best_trial.number}" in result.stdout


WORKER_PROBE = """
import sys
from hpo.executor._ray import _PlacedWorker  # what Ray unpickles in every trial worker process
from hpo.executor._worker import TrialWorker
import hpo
hpo.TrialContext, hpo.TrialResult  # what a trial function uses
print("DRIVER_ONLY", sorted(m for m in ("optuna", "pandas", "sklearn", "rich", "typer", "ray", "hpo.executor._run",
                                        "hpo.results", "hpo.config._load") if m in sys.modules))
"""


def test_a_trial_worker_imports_none_of_the_drivers_modules() -> None:
    """Each of K workers pays its imports on start (K of them at once on the same cores): the study,
    the results and the CLI stay in the driver (hpo's package exports load on first use)."""
    out = subprocess.run([sys.executable, "-c", WORKER_PROBE], capture_output=True, text=True)
    assert "DRIVER_ONLY []" in out.stdout, out.stdout[-500:] + out.stderr[-2000:]
