"""A run with nothing left to do is recognized before anything starts: the study's trials all
finished and its trial budget (or grid) spent. Real journal storage, no Ray."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import optuna
import pytest

from hpo import _constants
from hpo.config import load_sweep
from hpo.executor import spent_study
from hpo.storage import Store
from hpo.study import open_study


def _sweep(tmp_path: Path, trials: int, grid: bool = False):
    x = "{type: float, low: 0.0, high: 1.0, step: 0.25}" if grid else "{type: float, low: 0.0, high: 1.0}"
    path = tmp_path / "s.yaml"
    path.write_text(textwrap.dedent(f"""
        name: s
        data: {{source: digits}}
        objective: {{metric: val_accuracy, function: "tests.cheap:objective"}}
        space: {{params: {{x: {x}}}}}
        sampler: {{name: {"grid" if grid else "random"}, seed: 0}}
        budget: {{trials: {trials}, max_retries: 1}}
        results_dir: {tmp_path / "results"}
    """))
    return load_sweep(path)


def _finish(sweep, study: optuna.Study, state: optuna.trial.TrialState, value: float | None = 0.5) -> optuna.Trial:
    trial = study.ask()
    sweep.space.sample(trial)
    study.tell(trial, value if state == optuna.trial.TrialState.COMPLETE else None, state=state)
    return trial


def _complete(n: int) -> Callable:
    def make(sweep, study):
        for _ in range(n):
            _finish(sweep, study, optuna.trial.TrialState.COMPLETE)
    return make


def _and(*steps: Callable) -> Callable:
    def make(sweep, study):
        for step in steps:
            step(sweep, study)
    return make


def _running(sweep, study):
    sweep.space.sample(study.ask())


def _queued(sweep, study):
    study.enqueue_trial({"x": 0.5})


def _pruned_and_failed(sweep, study):
    _finish(sweep, study, optuna.trial.TrialState.PRUNED)
    _finish(sweep, study, optuna.trial.TrialState.FAIL)


def _failed_then_retried(sweep, study):
    """A failed trial replaced by its retry counts once, as the launcher counts it."""
    failed = _finish(sweep, study, optuna.trial.TrialState.FAIL)
    retry = study.ask()
    retry.set_user_attr(_constants.ATTR_RETRY_OF, failed.number)
    sweep.space.sample(retry)
    study.tell(retry, 0.5)


CASES = [
    # (case, budget, grid, what the study holds, whether a run has nothing left)
    ("budget_spent", 3, False, _complete(3), True),
    ("budget_overspent", 2, False, _complete(3), True),
    ("pruned_and_failed_count", 3, False, _and(_complete(1), _pruned_and_failed), True),
    ("trials_left", 3, False, _complete(2), False),
    ("a_trial_running", 3, False, _and(_complete(2), _running), False),
    ("a_trial_queued", 3, False, _and(_complete(3), _queued), False),
    ("a_retry_replaces_its_failure", 2, False, _and(_complete(1), _failed_then_retried), True),
    ("a_failure_and_its_retry_count_once", 3, False, _and(_complete(1), _failed_then_retried), False),
    ("grid_exhausted_under_a_larger_budget", 8, True, _complete(5), True),
    ("grid_points_left", 8, True, _complete(4), False),
    ("empty_study", 3, False, lambda sweep, study: None, False),
]


@pytest.mark.parametrize(("budget", "grid", "make", "spent"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_spent_study(tmp_path, budget, grid, make, spent) -> None:
    sweep = _sweep(tmp_path, budget, grid)
    study = open_study(sweep)
    make(sweep, study)
    store = Store(sweep.storage_url())
    found = spent_study(sweep, store)
    assert (found is not None) == spent
    if spent:
        assert found.study_name == study.study_name and len(found.trials) == len(study.trials)


def test_no_study_yet_creates_nothing(tmp_path) -> None:
    sweep = _sweep(tmp_path, 3)
    assert spent_study(sweep, Store(sweep.storage_url())) is None
    assert not (tmp_path / "results").exists()
