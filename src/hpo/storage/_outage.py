"""A storage that rides out an outage: the driver's one retry policy for storage calls.

A PostgreSQL or MySQL server restarting, a database failing over: each call of the study's storage
that fails for such a reason (a lost or refused connection) is tried again with backoff (0.5 s,
doubling, at most 8 s apart) until it succeeds or ``recovery.storage_outage_s`` has passed since the
outage began; past that the sweep stops with ``StorageOutage`` (exit 1, `hpo resume` continues).
Meanwhile the workers keep training and their reports wait, in order, in Ray's streams.

Errors that are not an outage (a finished trial updated, bad data) pass through at once. A retried
``tell`` whose first try did commit before the connection broke finds its trial already in that
state and counts as done.

A journal file on a full disk (or over its quota) is an outage too: hpo's journal backend cuts a
write that was cut off back off the journal before the error comes here (``storage/_snapshot.py``),
so appending again once there is room cannot corrupt it. Other journal errors are not retried.
"""

from __future__ import annotations

import errno
import logging
import time
from collections.abc import Callable
from typing import Any

import optuna

from hpo import _constants
from hpo._errors import SweepAborted

_log = logging.getLogger(__name__)
_DISK_FULL = (errno.ENOSPC, errno.EDQUOT)


class StorageOutage(SweepAborted):
    """The study's storage stayed unreachable for longer than ``recovery.storage_outage_s``."""


def is_outage(exc: BaseException) -> bool:
    """Whether ``exc`` (or what caused it) says the storage is unreachable for now, rather than
    that the call itself was wrong: a lost or refused database connection, a full disk."""
    import sqlalchemy.exc

    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, (sqlalchemy.exc.OperationalError, sqlalchemy.exc.InterfaceError)):
            return True
        if isinstance(current, sqlalchemy.exc.DBAPIError) and current.connection_invalidated:
            return True
        if isinstance(current, OSError) and current.errno in _DISK_FULL:
            return True
        current = current.__cause__ or current.__context__
    return False


class OutagePolicy:
    """The one retry policy for the storage's calls: backoff through an outage of at most
    ``window_s`` (module docstring); one outage's window is shared by every call made during it."""

    def __init__(
        self,
        masked_url: str,
        window_s: float = _constants.STORAGE_OUTAGE_S,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.masked_url = masked_url
        self.window_s = window_s
        self._sleep = sleep
        self._clock = clock
        self._since: float | None = None

    def call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """``fn(*args, **kwargs)``, tried again while it fails with an outage (``is_outage``)."""
        delay = _constants.STORAGE_RETRY_FIRST_S
        while True:
            try:
                result = fn(*args, **kwargs)
            except Exception as exc:
                if not is_outage(exc):
                    raise
                self._wait(exc, delay)
                delay = min(delay * 2, _constants.STORAGE_RETRY_MAX_S)
                continue
            if self._since is not None:
                _log.warning(
                    "the storage %s is reachable again after %.0f s", self.masked_url, self._clock() - self._since
                )
                self._since = None
            return result

    def _wait(self, exc: Exception, delay: float) -> None:
        now = self._clock()
        if self._since is None:
            self._since = now
            _log.warning(
                "the storage %s is unreachable (%s); retrying for up to %g s",
                self.masked_url,
                _first_line(exc),
                self.window_s,
            )
        if now - self._since > self.window_s:
            raise StorageOutage(
                f"the storage {self.masked_url} was unreachable for {now - self._since:.0f} s "
                f"(recovery.storage_outage_s={self.window_s:g}): {_first_line(exc)}. The study keeps what was "
                "written; once the storage is back, continue with `hpo resume`"
            ) from None
        self._sleep(delay)


class OutageTolerantStorage(optuna.storages.BaseStorage):
    """``inner`` with every storage call retried through an outage by ``policy``."""

    def __init__(self, inner: optuna.storages.BaseStorage, policy: OutagePolicy) -> None:
        self._inner = inner
        self._policy = policy

    def _call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        tries = [0]

        def attempt() -> Any:
            tries[0] += 1
            try:
                return getattr(self._inner, name)(*args, **kwargs)
            except optuna.exceptions.UpdateFinishedTrialError:
                if tries[0] > 1 and name == "set_trial_state_values" and self._told_already(*args, **kwargs):
                    return True  # the try that broke had committed
                raise

        return self._policy.call(attempt)

    def _told_already(self, trial_id: int, state: optuna.trial.TrialState, values: Any = None) -> bool:
        return self._inner.get_trial(trial_id).state == state

    def __getattr__(self, name: str) -> Any:  # what Optuna's storages add (a journal's backend, ...)
        return getattr(self._inner, name)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"


def _retrying(name: str) -> Callable[..., Any]:
    def method(self: OutageTolerantStorage, *args: Any, **kwargs: Any) -> Any:
        return self._call(name, *args, **kwargs)

    method.__name__ = name
    method.__doc__ = f"``{name}`` of the inner storage, retried through an outage."
    return method


# Every abstract call of a storage, and the ones Optuna's own storages override for speed (the
# concrete defaults would read through the abstract ones, losing a cache's shortcut).
_CALLS = set(optuna.storages.BaseStorage.__abstractmethods__) | {
    "get_trial_id_from_study_id_trial_number",
    "get_trial_number_from_id",
    "get_n_trials",
    "get_best_trial",
    "get_trial_params",
    "get_trial_user_attrs",
    "get_trial_system_attrs",
}
for _name in sorted(_CALLS):
    setattr(OutageTolerantStorage, _name, _retrying(_name))
OutageTolerantStorage.__abstractmethods__ = frozenset()
