"""Driver heartbeats kept in the study: which runs are alive, read by a later run's recovery.

Optuna's own heartbeat works only inside ``study.optimize`` on RDB storage; an hpo sweep uses
ask/tell, so every driver writes ``{host, pid, time}`` under ``hpo:driver:<run>`` itself.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from typing import Any

import optuna

from hpo import _constants

_log = logging.getLogger(__name__)

_PREFIX = "hpo:driver:"


def driver_records(study: optuna.Study) -> dict[str, dict[str, Any]]:
    """Every run's last heartbeat, by run id."""
    return {k[len(_PREFIX) :]: v for k, v in study.user_attrs.items() if k.startswith(_PREFIX)}


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def driver_alive(record: dict[str, Any] | None, now: float, stale_after_s: float = _constants.STALE_AFTER_S) -> bool:
    """A driver is dead when it said it ended, when its process is gone (same host), or when its
    heartbeat is older than ``stale_after_s``."""
    if not record or record.get("ended"):
        return False
    if record.get("host") == socket.gethostname() and not _pid_alive(int(record.get("pid", -1))):
        return False
    return now - float(record.get("time", 0)) < stale_after_s


class Heartbeat:
    """Writes this run's ``{host, pid, time}`` into the study every ``every_s`` seconds."""

    def __init__(self, study: optuna.Study, run_id: str, every_s: float = _constants.HEARTBEAT_S) -> None:
        self._study = study
        self._key = _PREFIX + run_id
        self._every_s = every_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="hpo-heartbeat", daemon=True)

    def beat(self, ended: bool = False) -> None:
        record = {"host": socket.gethostname(), "pid": os.getpid(), "time": time.time()}
        self._study.set_user_attr(self._key, {**record, "ended": True} if ended else record)

    def end(self) -> None:
        """This driver's sweep is over: stop beating and say so, so that another driver of the
        study no longer counts it among the living (it is not there to promote paused trials)."""
        if self._stop.is_set():
            return
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        self.beat(ended=True)

    def _loop(self) -> None:
        """Beat until stopped, through storage outages: a heartbeat that stopped at the first error
        would make this live driver look dead to another one, which would fail its trials."""
        failing = False
        while not self._stop.wait(self._every_s):
            try:
                self.beat()
            except Exception as exc:  # noqa: BLE001 - any storage error: keep beating, say it once per outage
                if not failing:
                    _log.warning("could not write the driver's heartbeat (%s); retrying every %g s", exc, self._every_s)
                failing = True
            else:
                if failing:
                    _log.warning("the driver's heartbeat is written again")
                failing = False

    def __enter__(self) -> Heartbeat:
        self.beat()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.end()
