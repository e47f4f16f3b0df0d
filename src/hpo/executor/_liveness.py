"""Which drivers are alive: heartbeats in the study, and recovery of trials a dead driver left RUNNING.

Optuna's own heartbeat and stale-trial retry work only inside ``study.optimize`` on RDB storage;
a Ray-driven sweep uses ask/tell, so the driver keeps its own heartbeat. Recovery runs under a
cross-process lock so that two drivers resuming at once neither fail nor retry a trial twice.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import optuna
from optuna.trial import TrialState

from hpo import _constants
from hpo._storage_url import storage_kind
from hpo.executor._retry import fail_trial

HEARTBEAT_S = 10.0
STALE_AFTER_S = 60.0
_PREFIX = "hpo:driver:"
# Session-level locks of the database servers Optuna's RDB storage supports for parallel drivers.
_DATABASE_LOCKS = {
    "postgresql": ("SELECT pg_advisory_lock(724513)", "SELECT pg_advisory_unlock(724513)"),
    "mysql": ("SELECT GET_LOCK('hpo_recovery', 60)", "SELECT RELEASE_LOCK('hpo_recovery')"),
}


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def driver_alive(record: dict | None, now: float) -> bool:
    """A driver is dead when its process is gone (same host) or its heartbeat is stale."""
    if not record:
        return False
    if record.get("host") == socket.gethostname() and not _pid_alive(int(record.get("pid", -1))):
        return False
    return now - float(record.get("time", 0)) < STALE_AFTER_S


class Heartbeat:
    """Writes ``{host, pid, time}`` for this run into the study every HEARTBEAT_S seconds."""

    def __init__(self, study: optuna.Study, run_id: str) -> None:
        self._study = study
        self._key = _PREFIX + run_id
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="hpo-heartbeat", daemon=True)

    def beat(self) -> None:
        self._study.set_user_attr(self._key, {"host": socket.gethostname(), "pid": os.getpid(), "time": time.time()})

    def _loop(self) -> None:
        while not self._stop.wait(HEARTBEAT_S):
            self.beat()

    def start(self) -> None:
        self.beat()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


@contextlib.contextmanager
def recovery_lock(url: str) -> Iterator[None]:
    """Hold a lock shared by every driver of this storage (file lock, or a database advisory lock)."""
    kind = storage_kind(url)
    if kind in ("journal", "sqlite"):
        path = url if kind == "journal" else url.split(":///", 1)[-1]
        lock = optuna.storages.journal.JournalFileOpenLock(str(Path(path).with_name(Path(path).name + ".hpo-lock")))
        lock.acquire()
        try:
            yield
        finally:
            lock.release()
        return
    import sqlalchemy

    acquire, release = _DATABASE_LOCKS[kind]
    engine = sqlalchemy.create_engine(url)
    try:
        with engine.connect() as conn:
            conn.execute(sqlalchemy.text(acquire))
            try:
                yield
            finally:
                conn.execute(sqlalchemy.text(release))
    finally:
        engine.dispose()


def recover_stale_trials(
    study: optuna.Study, storage: optuna.storages.BaseStorage, url: str, max_retries: int
) -> list[int]:
    """Fail (and re-queue within max_retries) RUNNING trials whose driver is dead; their numbers."""
    with recovery_lock(url):
        now = time.time()
        drivers = {k[len(_PREFIX):]: v for k, v in study.user_attrs.items() if k.startswith(_PREFIX)}
        recovered = []
        for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            run = trial.user_attrs.get(_constants.ATTR_RUN)
            if driver_alive(drivers.get(run), now):
                continue
            fail_trial(
                study, storage, trial.number,
                f"its driver (run {run}) stopped before the trial ended; recovered by a later run",
                retryable=True, max_retries=max_retries,
            )
            recovered.append(trial.number)
        return recovered
