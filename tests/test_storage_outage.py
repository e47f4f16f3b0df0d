"""The driver's retry policy for storage calls through an outage (no Ray; the clock and the sleeps
scripted, the errors the real ones SQLAlchemy and the OS raise). The real thing, a PostgreSQL
server stopped and started under a running sweep, is in tests/test_storage_restart.py."""

from __future__ import annotations

import errno
import logging

import optuna
import pytest
import sqlalchemy.exc
from optuna.trial import TrialState

from hpo.storage import OutagePolicy, OutageTolerantStorage, StorageOutage, is_outage

URL = "postgresql://bob:***@db:5432/hpo"


def _lost_connection() -> Exception:
    """What Optuna's RDB storage raises when the server is gone: StorageInternalError from SQLAlchemy's."""
    cause = sqlalchemy.exc.OperationalError("SELECT 1", {}, Exception("server closed the connection unexpectedly"))
    try:
        raise optuna.exceptions.StorageInternalError("An exception is raised during the commit.") from cause
    except optuna.exceptions.StorageInternalError as exc:
        return exc


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def _policy(clock: _Clock, window_s: float = 60.0) -> OutagePolicy:
    return OutagePolicy(URL, window_s, sleep=clock.sleep, clock=clock)


OUTAGES = [
    ("lost_connection", _lost_connection(), True),
    ("refused", sqlalchemy.exc.OperationalError("connect", {}, Exception("connection refused")), True),
    ("journal_disk_full", OSError(errno.ENOSPC, "No space left on device"), True),  # the write was cut back
    ("journal_over_quota", OSError(errno.EDQUOT, "Disk quota exceeded"), True),
    ("journal_not_writable", PermissionError(errno.EACCES, "Permission denied"), False),
    ("bad_data", optuna.exceptions.StorageInternalError("value too long for type character varying(2048)"), False),
    ("finished_trial", optuna.exceptions.UpdateFinishedTrialError("Trial#0 has already finished"), False),
    ("permission", PermissionError(errno.EACCES, "Permission denied"), False),
]


@pytest.mark.parametrize(("exc", "outage"), [o[1:] for o in OUTAGES], ids=[o[0] for o in OUTAGES])
def test_an_outage_is_told_from_a_wrong_call(exc: Exception, outage: bool) -> None:
    assert is_outage(exc) is outage


def test_a_call_is_retried_with_backoff_through_an_outage_and_said_once(caplog) -> None:
    clock, failures = _Clock(), [_lost_connection() for _ in range(6)]

    def call() -> str:
        if failures:
            raise failures.pop()
        return "written"

    with caplog.at_level(logging.WARNING, logger="hpo.storage._outage"):
        assert _policy(clock).call(call) == "written"
    assert clock.slept == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0]
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 2 and "unreachable" in messages[0] and "reachable again after 24 s" in messages[1]


def test_past_the_window_the_sweep_stops_naming_the_storage_masked() -> None:
    clock = _Clock()

    def call() -> None:
        raise _lost_connection()

    with pytest.raises(StorageOutage, match=r"the storage postgresql://bob:\*\*\*@db:5432/hpo was unreachable for 3\d s "
                       r"\(recovery.storage_outage_s=30\).*hpo resume"):
        _policy(clock, window_s=30).call(call)
    assert clock.now <= 30 + 8 + 1e-9  # it stopped at the first look past the window


def test_a_wrong_call_is_never_retried() -> None:
    clock, calls = _Clock(), []

    def call() -> None:
        calls.append(1)
        raise optuna.exceptions.StorageInternalError("value too long")

    with pytest.raises(optuna.exceptions.StorageInternalError):
        _policy(clock).call(call)
    assert calls == [1] and clock.slept == []


class _CommitsThenBreaks(optuna.storages.InMemoryStorage):
    """A tell whose commit lands on the server, but whose answer is lost with the connection."""

    broke = False

    def set_trial_state_values(self, trial_id: int, state: TrialState, values=None) -> bool:
        if not self.broke:
            self.broke = True
            super().set_trial_state_values(trial_id, state, values)
            raise _lost_connection()
        return super().set_trial_state_values(trial_id, state, values)


def test_a_tell_that_committed_before_the_connection_broke_counts_as_done() -> None:
    clock = _Clock()
    storage = OutageTolerantStorage(_CommitsThenBreaks(), _policy(clock))  # type: ignore[abstract]  # calls set at import
    study = optuna.create_study(storage=storage)
    trial = study.ask()
    study.tell(trial, 0.5)
    assert study.trials[0].state == TrialState.COMPLETE and study.trials[0].value == 0.5 and clock.slept == [0.5]


def test_every_call_of_a_study_goes_through_the_policy() -> None:
    """The whole of a sweep's storage traffic: ask, report, attributes, tell, reads."""
    clock = _Clock()
    inner = optuna.storages.InMemoryStorage()
    failing = {"calls": 0}
    original = inner.set_trial_intermediate_value

    def flaky(*args, **kwargs):
        failing["calls"] += 1
        if failing["calls"] == 1:
            raise _lost_connection()
        return original(*args, **kwargs)

    inner.set_trial_intermediate_value = flaky  # type: ignore[method-assign]
    study = optuna.create_study(storage=OutageTolerantStorage(inner, _policy(clock)))  # type: ignore[abstract]
    trial = study.ask()
    trial.suggest_float("x", 0, 1)
    trial.set_user_attr("hpo:run", "r")
    trial.report(0.3, 1)
    study.tell(trial, 0.3)
    (frozen,) = study.trials
    assert frozen.intermediate_values == {1: 0.3} and frozen.state == TrialState.COMPLETE and clock.slept == [0.5]
