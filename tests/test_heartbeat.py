"""The driver's heartbeat (no Ray): a storage outage must not end it, or a minute later another
driver would take this live driver's trials for a dead one's and fail them (race 4 of issue 26)."""

from __future__ import annotations

import logging
import threading
from typing import Any

import optuna

from hpo.storage import Heartbeat, driver_records


class _Flaky:
    """The study, whose ``set_user_attr`` fails on the calls numbered in ``failing``; ``recovered``
    is set by the first call that succeeds after a failure."""

    def __init__(self, study: optuna.Study, failing: set[int]) -> None:
        self._study = study
        self._failing = failing
        self.calls = 0
        self.recovered = threading.Event()

    def set_user_attr(self, key: str, value: Any) -> None:
        self.calls += 1
        if self.calls in self._failing:
            raise optuna.exceptions.StorageInternalError("the database is restarting")
        self._study.set_user_attr(key, value)
        if self.calls > min(self._failing):
            self.recovered.set()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._study, name)


def test_the_heartbeat_outlives_a_storage_outage_and_says_so_once(caplog) -> None:
    study = optuna.create_study()
    flaky = _Flaky(study, failing={2, 3, 4})
    with caplog.at_level(logging.WARNING, logger="hpo.storage._heartbeat"):
        with Heartbeat(flaky, "live", every_s=0.01):  # type: ignore[arg-type]  # the proxy stands in for a Study
            assert flaky.recovered.wait(60), "the heartbeat stopped at the storage's first error"
    assert "live" in driver_records(study)
    outage = [r.getMessage() for r in caplog.records if "heartbeat" in r.getMessage()]
    assert len([m for m in outage if "could not write" in m]) == 1, outage  # once per outage, not per beat
    assert any("written again" in m for m in outage), outage
