"""Recovery of the trials a dead driver left RUNNING (no Ray, real journal storage): which trials
are a dead driver's, and what becomes of them."""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from hpo.storage import Store, open_storage
from hpo.study import recover_stale_trials

HOST = socket.gethostname()


def _study(path: Path) -> tuple[optuna.Study, optuna.storages.BaseStorage, Store]:
    storage = open_storage(str(path))
    return optuna.create_study(study_name="r", storage=storage), storage, Store(str(path))


def _running(study: optuna.Study, run: str, paused: int | None = None) -> int:
    trial = study.ask()
    trial.suggest_float("x", 0.0, 1.0)
    trial.set_user_attr("hpo:run", run)
    if paused is not None:
        trial.set_user_attr("hpo:paused", paused)
    return trial.number


DRIVERS = [
    # (the run's heartbeat record, whether recovery fails its trials)
    ("no_record", None, True),
    ("this_process_fresh", {"host": HOST, "pid": os.getpid(), "age": 0.0}, False),
    ("gone_process", {"host": HOST, "pid": 2**22 + 12345, "age": 0.0}, True),
    ("other_host_fresh", {"host": "elsewhere", "pid": 1, "age": 0.0}, False),
    ("other_host_stale", {"host": "elsewhere", "pid": 1, "age": 120.0}, True),
]


@pytest.mark.parametrize(("record", "recovered"), [d[1:] for d in DRIVERS], ids=[d[0] for d in DRIVERS])
def test_a_dead_drivers_running_trials_are_interrupted_and_run_again(tmp_path, record, recovered) -> None:
    study, storage, store = _study(tmp_path / "r.journal")
    if record is not None:
        study.set_user_attr("hpo:driver:old", {"host": record["host"], "pid": record["pid"], "time": time.time() - record["age"]})
    number = _running(study, "old")
    assert recover_stale_trials(study, storage, store, stale_after_s=60) == ([number] if recovered else [])
    trial = study.trials[number]
    assert trial.state == (TrialState.FAIL if recovered else TrialState.RUNNING)
    retries = [t for t in study.trials if t.user_attrs.get("hpo:retry_of") == number]
    assert len(retries) == (1 if recovered else 0)
    if retries:
        assert retries[0].state == TrialState.WAITING and retries[0].system_attrs["fixed_params"] == trial.params
    if recovered:
        assert "its driver (run old) stopped before the trial ended" in trial.user_attrs["hpo:fail_reason"]


def test_a_paused_trial_is_never_recovered_whoever_paused_it(tmp_path) -> None:
    study, storage, store = _study(tmp_path / "r.journal")
    paused = _running(study, "old", paused=2)
    dead = _running(study, "old")
    assert recover_stale_trials(study, storage, store) == [dead]
    assert study.trials[paused].state == TrialState.RUNNING


def test_a_dead_drivers_trial_runs_again_and_keeps_its_attempt_and_whole_gpu(tmp_path) -> None:
    """Whatever budget.max_retries says (it is for a trial's own errors): the re-run carries the
    attempt count and, for an out-of-memory retry, its whole GPU."""
    study, storage, store = _study(tmp_path / "r.journal")
    number = _running(study, "old")
    # the trial as a whole-GPU retry (it ran out of memory on a share before)
    storage.set_trial_user_attr(storage.get_trial_id_from_study_id_trial_number(storage.get_study_id_from_name("r"), number), "hpo:whole_gpu", True)
    assert recover_stale_trials(study, storage, store) == [number]
    (again,) = [t for t in study.trials if t.user_attrs.get("hpo:retry_of") == number]
    assert again.state == TrialState.WAITING and again.user_attrs.get("hpo:attempt", 0) == 0
    assert again.user_attrs["hpo:whole_gpu"] is True and again.user_attrs["hpo:interruptions"] == 1
    assert study.trials[number].user_attrs["hpo:interrupted"] is True
