"""The storage-wide lock between drivers (no Ray): held is held, however long (race 5 of issue 26).

A journal's or SQLite file's lock used to be Optuna's ``JournalFileOpenLock``, whose waiter deletes
a lock file it has seen unchanged for 30 s: a driver holding the lock through a slow ask (GP on a
big study) lost it, and two drivers could both start a trial past the budget. The waiter's clock
is sped up here instead of waiting 30 s: with the old lock the waiter broke in at once."""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
from pathlib import Path

import pytest

from hpo.storage import StorageLock


class _FastClock:
    """``time`` as Optuna's file lock sees it, a minute passing on every reading."""

    def __init__(self, real) -> None:
        self._real = real
        self._now = real.monotonic()

    def monotonic(self) -> float:
        self._now += 60.0
        return self._now

    def __getattr__(self, name: str):
        return getattr(self._real, name)


def test_a_held_file_lock_is_never_taken_from_its_holder_however_long_it_holds(tmp_path: Path, monkeypatch) -> None:
    import optuna.storages.journal._file as optuna_file

    monkeypatch.setattr(optuna_file, "time", _FastClock(optuna_file.time))
    url = str(tmp_path / "s.journal")
    holding, release, broke_in = threading.Event(), threading.Event(), threading.Event()

    def holder() -> None:
        with StorageLock(url)("budget"):
            holding.set()
            release.wait(60)

    def waiter() -> None:
        holding.wait(60)
        with StorageLock(url)("budget"):
            broke_in.set()

    threads = [threading.Thread(target=holder), threading.Thread(target=waiter)]
    for t in threads:
        t.start()
    assert holding.wait(60)
    assert not broke_in.wait(2.0), "the waiter took the lock from a driver that still held it"
    release.set()
    assert broke_in.wait(60), "the waiter did not get the lock once it was released"
    for t in threads:
        t.join(60)


def _hold_and_die(url: str, held: multiprocessing.Event) -> None:
    with StorageLock(url)("budget"):
        held.set()
        os.kill(os.getpid(), signal.SIGKILL)


@pytest.mark.parametrize("kind", ["journal", "sqlite"])
def test_a_file_lock_whose_holder_died_is_free_at_once(tmp_path: Path, kind: str) -> None:
    """No grace period is needed to get past a dead holder: the operating system frees its lock."""
    url = str(tmp_path / "s.journal") if kind == "journal" else f"sqlite:///{tmp_path / 's.db'}"
    ctx = multiprocessing.get_context("spawn")
    held = ctx.Event()
    dying = ctx.Process(target=_hold_and_die, args=(url, held))
    dying.start()
    dying.join(60)
    assert held.is_set() and dying.exitcode == -signal.SIGKILL
    got = threading.Event()

    def take() -> None:
        with StorageLock(url)("budget"):
            got.set()

    threading.Thread(target=take, daemon=True).start()
    assert got.wait(5.0), "a dead driver's lock held the next driver back"


def test_a_mysql_named_lock_is_held_until_released_however_long(monkeypatch) -> None:
    """Race 5 of issue 26 (MySQL): GET_LOCK gives up after its wait and returns 0, and hpo went on
    as if it held the lock, so after 120 s a second driver could ask trials past the budget. With
    the wait cut to 1 s, a holder keeps the lock for 4 s: the waiter gets it only after."""
    import time

    from hpo.storage import _lock
    from tests._mysql import mysql_server

    monkeypatch.setattr(_lock, "_MYSQL_WAIT_S", 1)
    with mysql_server() as url:
        holder, waiter = StorageLock(url), StorageLock(url)
        released = threading.Event()
        got: list[bool] = []

        def wait() -> None:
            with waiter("budget"):
                got.append(released.is_set())

        with holder("budget"):
            thread = threading.Thread(target=wait)
            thread.start()
            time.sleep(4)  # four of the waiter's GET_LOCK waits
            released.set()
        thread.join(timeout=60)
        assert got == [True]  # it took the lock only once the holder had let it go
        holder.close()
        waiter.close()
