"""The driver's journal group commit (storage/_commit.py), no Ray: each record is in the journal
the moment it is written, so another process reads it and a killed driver loses none of it; the
fsync that makes the records durable comes once per turn of the driver's loop, and before the
workers are told anything (a stop, an answer, a kept checkpoint) that rests on them."""

from __future__ import annotations

import os

import optuna
import pytest
from optuna.trial import TrialState

from hpo.executor import Lifecycle, Rules
from hpo.executor._checkpoints import CheckpointStore
from hpo.executor._events import Checkpointed, Ended, Reported
from hpo.executor._loop import drive
from hpo.storage import Store
from tests.test_lifecycle import ScriptedPool, _acc, _launcher


@pytest.fixture
def fsyncs(monkeypatch) -> list[int]:
    """Every fsync in this process, still done (the call is only counted)."""
    calls: list[int] = []
    real = os.fsync

    def counted(fd: int) -> None:
        calls.append(fd)
        real(fd)

    monkeypatch.setattr(os, "fsync", counted)
    return calls


def _reader(path) -> optuna.Study:
    backend = optuna.storages.journal.JournalFileBackend(str(path))
    return optuna.load_study(study_name="s", storage=optuna.storages.JournalStorage(backend))


@pytest.mark.parametrize("driver", [True, False], ids=["driver", "other"])
def test_a_drivers_records_are_readable_at_once_and_made_durable_together(tmp_path, fsyncs, driver: bool) -> None:
    path = tmp_path / "s.journal"
    store = Store(str(path), outage_s=60 if driver else None)  # a sweep's driver has an outage policy
    study = optuna.create_study(study_name="s", storage=store.open(append=True), direction="maximize")
    before = len(fsyncs)
    trial = study.ask()
    for epoch in range(1, 6):
        trial.report(epoch / 10, epoch)
    trial.set_user_attr("hpo:epochs", 5)
    study.tell(trial, 0.5)
    assert _reader(path).trials[0].state == TrialState.COMPLETE  # in the journal already
    assert len(fsyncs) - before == (0 if driver else 8)  # ask, five reports, the attribute, tell
    store.sync()
    assert len(fsyncs) - before == (1 if driver else 8)
    store.sync()  # nothing written since: no fsync
    store.close()
    assert len(fsyncs) - before == (1 if driver else 8)


class _Answering(ScriptedPool):
    """Records, at each stop, answer and kept checkpoint, whether every record was durable then."""

    def __init__(self, slots: int, script, store: Store) -> None:
        super().__init__(slots, script)
        self.store, self.told = store, []

    def _tell(self, what: str) -> None:
        self.told.append((what, self.store.pending()))

    def stop(self, number: int) -> None:
        self._tell("stop")
        super().stop(number)

    def hear(self, number: int, epoch: int, go_on_to: int | None = None) -> None:
        self._tell("hear")
        super().hear(number, epoch, go_on_to)

    def kept(self, number: int, epoch: int) -> None:
        self._tell("kept")
        super().kept(number, epoch)


def test_the_loop_syncs_once_a_turn_and_before_it_tells_a_worker_anything(tmp_path, fsyncs) -> None:
    def script(number: int, params: dict, *_: object) -> list:
        return [Reported(number, 1, _acc(0.1)), Reported(number, 2, _acc(0.2)), Checkpointed(number, 2, b"2"),
                Reported(number, 3, _acc(0.3)), Reported(number, 4, _acc(0.4)), Ended(number, None)]

    store = Store(str(tmp_path / "s.journal"), outage_s=60)
    storage = store.open(append=True)
    study = optuna.create_study(storage=storage, direction="maximize", pruner=optuna.pruners.MedianPruner())
    rules = Rules(metric="val_accuracy", direction="maximize", max_epochs=4)
    lc = Lifecycle(study, storage, rules, None, CheckpointStore(tmp_path / "checkpoints"))
    pool = _Answering(2, script, store)
    before = len(fsyncs)
    drive(_launcher(lc, budget=4), lc, pool, poll_s=0, sync=store.sync)
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 4
    assert {what for what, _ in pool.told} == {"hear", "kept"}
    assert all(pending == 0 for _, pending in pool.told), pool.told  # durable before each answer
    assert store.pending() == 0  # and at the loop's end
    writes = sum(len(t.intermediate_values) + 4 for t in study.trials)  # ask, x, reports, attrs, tell: at least
    assert len(fsyncs) - before <= pool.polls + 1 < writes  # one per turn at most, far fewer than writes
