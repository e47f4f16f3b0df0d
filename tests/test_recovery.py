"""Recovery of the trials a dead driver left RUNNING (no Ray, real journal storage): which trials
are a dead driver's, and what becomes of them."""

from __future__ import annotations

import os
import socket
import threading
import time
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from hpo import _constants
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
    assert recover_stale_trials(study, storage, store, stale_after_s=60).interrupted == ([number] if recovered else [])
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
    assert recover_stale_trials(study, storage, store).interrupted == [dead]
    assert study.trials[paused].state == TrialState.RUNNING


def test_a_dead_drivers_trial_runs_again_and_keeps_its_attempt_and_whole_gpu(tmp_path) -> None:
    """Whatever budget.max_retries says (it is for a trial's own errors): the re-run carries the
    attempt count and, for an out-of-memory retry, its whole GPU."""
    study, storage, store = _study(tmp_path / "r.journal")
    number = _running(study, "old")
    # the trial as a whole-GPU retry (it ran out of memory on a share before)
    storage.set_trial_user_attr(storage.get_trial_id_from_study_id_trial_number(storage.get_study_id_from_name("r"), number), "hpo:whole_gpu", True)
    assert recover_stale_trials(study, storage, store).interrupted == [number]
    (again,) = [t for t in study.trials if t.user_attrs.get("hpo:retry_of") == number]
    assert again.state == TrialState.WAITING and again.user_attrs.get("hpo:attempt", 0) == 0
    assert again.user_attrs["hpo:whole_gpu"] is True and again.user_attrs["hpo:interruptions"] == 1
    assert study.trials[number].user_attrs["hpo:interrupted"] is True


class _SlowAsk(optuna.samplers.RandomSampler):
    """A sampler whose ask is where another driver starts up: inside the first ask (the new trial
    already RUNNING in the storage), a second driver runs its recovery in a thread; the ask waits
    up to ``grace_s`` for that recovery to finish (it cannot, while the first driver holds the lock
    recovery must take)."""

    def __init__(self, recover, grace_s: float = 2.0) -> None:
        super().__init__(seed=0)
        self._recover = recover
        self._grace_s = grace_s
        self.recovered: list[int] | None = None
        self.thread: threading.Thread | None = None

    def before_trial(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        super().before_trial(study, trial)
        if self.thread is None:
            def second_driver() -> None:
                self.recovered = self._recover()

            self.thread = threading.Thread(target=second_driver)
            self.thread.start()
            self.thread.join(self._grace_s)


def test_a_driver_starting_during_another_drivers_ask_never_recovers_its_new_trial(storage_url: str, request) -> None:
    """Race 1 of issue 26: the new trial is RUNNING before it names its driver; a second driver's
    recovery in that window took it for a dead driver's trial and failed it, and the first driver
    then crashed writing to a finished trial. Recovery and launching now share one lock, and a
    trial names its driver before that lock is released."""
    from hpo.executor import Launch, Launcher, Lifecycle, Rules
    from hpo.space import parse_space
    from hpo.storage import Heartbeat

    name = f"race1-{request.node.callspec.id}"
    store = Store(storage_url)
    storage = store.open()
    study = optuna.create_study(study_name=name, storage=storage, direction="maximize")
    Heartbeat(study, "first").beat()  # the first driver is alive

    def recover() -> list[int]:
        other = optuna.load_study(study_name=name, storage=store.open())
        return recover_stale_trials(other, other._storage, Store(storage_url)).interrupted

    sampler = _SlowAsk(recover)
    study.sampler = sampler
    lifecycle = Lifecycle(study, storage, Rules(metric="val_accuracy", direction="maximize", max_epochs=1))
    space = parse_space({"x": {"type": "float", "low": 0.0, "high": 1.0}})
    launcher = Launcher(lifecycle, space, budget=1, run_id="first", lock=lambda: store.lock(_constants.TRIALS_LOCK))
    launched = launcher.next()
    assert isinstance(launched, Launch)
    assert sampler.thread is not None
    sampler.thread.join(60)
    assert sampler.recovered == []  # the second driver saw the trial's live driver
    trial = study.trials[launched.number]
    assert trial.state == TrialState.RUNNING and trial.user_attrs["hpo:run"] == "first"
    lifecycle.report(launched.number, 1, {"val_accuracy": 0.5})
    lifecycle.end(launched.number)  # the first driver finishes its trial as if nothing happened
    assert study.trials[launched.number].state == TrialState.COMPLETE
    store.close()


def test_the_lifecycle_ends_a_dead_drivers_trials_as_interrupted_and_says_so(tmp_path) -> None:
    """A run's recovery goes through its lifecycle: the same end, one Recovered notice, and the
    lifecycle's bound on interruptions (here 0: the trial fails for good, nothing is queued)."""
    from hpo.executor import Lifecycle, Recovered, Rules

    study, storage, store = _study(tmp_path / "r.journal")
    number = _running(study, "old")
    heard = []
    rules = Rules(metric="m", direction="maximize", max_epochs=1, max_interruptions=0)
    lifecycle = Lifecycle(study, storage, rules, heard.append)
    assert lifecycle.recover(store, stale_after_s=60).interrupted == [number]
    assert heard == [Recovered((number,))]
    assert study.trials[number].state == TrialState.FAIL
    assert "more than budget.max_interruptions=0" in study.trials[number].user_attrs["hpo:fail_reason"]
    assert not [t for t in study.trials if t.user_attrs.get("hpo:retry_of") == number]
    assert lifecycle.recover(store, stale_after_s=60).interrupted == [] and heard == [Recovered((number,))]
