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
@pytest.mark.parametrize("max_retries", [0, 1])
def test_a_dead_drivers_running_trials_fail_and_are_requeued_within_max_retries(tmp_path, record, recovered, max_retries) -> None:
    study, storage, store = _study(tmp_path / "r.journal")
    if record is not None:
        study.set_user_attr("hpo:driver:old", {"host": record["host"], "pid": record["pid"], "time": time.time() - record["age"]})
    number = _running(study, "old")
    assert recover_stale_trials(study, storage, store, max_retries=max_retries, stale_after_s=60) == ([number] if recovered else [])
    trial = study.trials[number]
    assert trial.state == (TrialState.FAIL if recovered else TrialState.RUNNING)
    retries = [t for t in study.trials if t.user_attrs.get("hpo:retry_of") == number]
    assert len(retries) == (1 if recovered and max_retries else 0)
    if retries:
        assert retries[0].state == TrialState.WAITING and retries[0].system_attrs["fixed_params"] == trial.params
    if recovered:
        assert "its driver (run old) stopped before the trial ended" in trial.user_attrs["hpo:fail_reason"]


def test_a_paused_trial_is_never_recovered_whoever_paused_it(tmp_path) -> None:
    study, storage, store = _study(tmp_path / "r.journal")
    paused = _running(study, "old", paused=2)
    dead = _running(study, "old")
    assert recover_stale_trials(study, storage, store, max_retries=0) == [dead]
    assert study.trials[paused].state == TrialState.RUNNING
