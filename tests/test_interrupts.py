"""Ctrl+C against the driver's bookkeeping, without Ray: a second SIGINT delivered on purpose in the
middle of the bookkeeping that fails the live trials must wait until every one of them is told."""

from __future__ import annotations

import os
import signal

import optuna
import pytest
from optuna.trial import TrialState

from hpo.executor import Launcher, Lifecycle, Rules, TrialInterrupted
from hpo.executor._events import Reported
from hpo.executor._run import _execute
from hpo.space import parse_space
from tests.test_lifecycle import ScriptedPool, _acc


def _endless(number: int, params: dict, whole_gpu: bool = False) -> list:
    return [Reported(number, e, _acc(0.5)) for e in range(1, 10_000)]


def test_a_second_ctrl_c_inside_the_bookkeeping_is_held_until_it_is_done() -> None:
    storage = optuna.storages.InMemoryStorage()
    study = optuna.create_study(storage=storage, direction="maximize")
    delivered = []

    def listener(notice) -> None:
        if isinstance(notice, TrialInterrupted) and not delivered:  # the first trial was just told FAIL: press Ctrl+C again now
            delivered.append(notice.number)
            os.kill(os.getpid(), signal.SIGINT)

    lifecycle = Lifecycle(study, storage, Rules(metric="val_accuracy", direction="maximize", max_epochs=100), listener)
    launcher = Launcher(lifecycle, parse_space({"x": {"type": "float", "low": 0, "high": 1}}), budget=10)
    polls = iter(range(1_000_000))
    with pytest.raises(KeyboardInterrupt):  # the held Ctrl+C is delivered once the bookkeeping is done
        _execute(launcher, lifecycle, ScriptedPool(3, _endless), interrupted=lambda: next(polls) >= 4)
    assert delivered, "the second Ctrl+C was not sent inside the bookkeeping"
    states = [t.state for t in study.trials]
    assert states.count(TrialState.FAIL) == 3 and TrialState.RUNNING not in states  # all three told, none cut off
    assert len(study.get_trials(states=(TrialState.WAITING,))) == 3  # and queued to run again
