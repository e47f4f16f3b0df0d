"""Many processes on one study: exact trial counts, unique numbers, values consistent with params."""

from __future__ import annotations

import multiprocessing

import optuna
import pytest
from optuna.trial import TrialState

from hpo.storage import open_storage

pytestmark = pytest.mark.slow

PROCESSES = 8
TRIALS_EACH = 25


def _objective(x: float, y: int) -> float:
    return x * x + y


def _worker(url: str, study_name: str, start) -> None:
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    study = optuna.load_study(study_name=study_name, storage=open_storage(url))
    start.wait()
    for _ in range(TRIALS_EACH):
        trial = study.ask()
        x = trial.suggest_float("x", -10, 10)
        y = trial.suggest_int("y", 0, 100)
        trial.report(_objective(x, y), 1)
        study.tell(trial, _objective(x, y))


def test_parallel_writers_on_one_study(storage_url: str, request) -> None:
    name = f"concurrency-{request.node.callspec.id}"
    optuna.create_study(study_name=name, storage=open_storage(storage_url))
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Event()
    workers = [ctx.Process(target=_worker, args=(storage_url, name, start)) for _ in range(PROCESSES)]
    for w in workers:
        w.start()
    start.set()
    for w in workers:
        w.join(timeout=300)
        assert w.exitcode == 0
    # Read back through a fresh storage object, as a later run would.
    study = optuna.load_study(study_name=name, storage=open_storage(storage_url))
    trials = study.trials
    assert len(trials) == PROCESSES * TRIALS_EACH
    assert sorted(t.number for t in trials) == list(range(PROCESSES * TRIALS_EACH))
    for t in trials:
        assert t.state == TrialState.COMPLETE
        assert t.value == pytest.approx(_objective(t.params["x"], t.params["y"]))
        assert t.intermediate_values == {1: pytest.approx(t.value)}


def test_unreachable_database_error_masks_the_password() -> None:
    from hpo import HpoError

    with pytest.raises(HpoError, match=r"cannot open storage postgresql\+psycopg2://bob:\*\*\*@127\.0\.0\.1:1/db") as info:
        open_storage("postgresql+psycopg2://bob:hunter2@127.0.0.1:1/db")
    assert "hunter2" not in str(info.value)
