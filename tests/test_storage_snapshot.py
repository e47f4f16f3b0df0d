"""Journal snapshots: a big study opens from ``<journal>.snapshot`` plus the records written since,
with exactly the trials a full replay gives; a snapshot that does not match its journal is ignored."""

from __future__ import annotations

import json
from pathlib import Path

import optuna
import pytest

from hpo.storage import open_storage

TRIALS = 230  # Optuna hands the backend a snapshot at trial ids 100 and 200


def _fill(path: Path, trials: int, name: str = "s", seed: int = 0) -> None:
    study = optuna.create_study(study_name=name, storage=open_storage(str(path), append=True), load_if_exists=True,
                                sampler=optuna.samplers.RandomSampler(seed=seed))
    for _ in range(trials):
        trial = study.ask()
        x = trial.suggest_float("x", 0, 1)
        trial.set_user_attr("hpo:epochs", 3)
        for step in (1, 2, 3):
            trial.report(x * step, step)
        study.tell(trial, x if x > 0.3 else None, state=None if x > 0.3 else optuna.trial.TrialState.PRUNED)


def _replayed(path: Path) -> list[tuple]:
    """Every trial as a full replay of the journal (no snapshot) reads it."""
    storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(path)))
    return _trials(storage)


def _trials(storage: optuna.storages.BaseStorage) -> list[tuple]:
    out = []
    for study in storage.get_all_studies():
        for t in storage.get_all_trials(study._study_id):
            out.append((study.study_name, t.number, t.state, t.params, t.values, t.intermediate_values, t.user_attrs))
    return out


def _read_from_start(storage: optuna.storages.JournalStorage) -> bool:
    """Whether opening read the journal from its first record (the backend notes each record's offset as read)."""
    return 1 in storage._snapshots._log_number_offset


def test_a_big_journal_opens_from_its_snapshot_with_the_trials_a_full_replay_gives(tmp_path) -> None:
    path = tmp_path / "study.journal"
    _fill(path, TRIALS)
    assert (tmp_path / "study.journal.snapshot").exists()
    opened = open_storage(str(path))
    assert not _read_from_start(opened)  # only the records after trial 200 were replayed
    assert _trials(opened) == _replayed(path) and len(_trials(opened)) == TRIALS
    _fill(path, 5)  # writing on after a snapshot-based open keeps the study whole
    assert _trials(open_storage(str(path))) == _replayed(path) and len(_replayed(path)) == TRIALS + 5


def _replaced_by_another_study(path: Path) -> None:
    path.unlink()
    _fill(path, 20, name="other", seed=1)


def _cut(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])


def _garbage(path: Path) -> None:
    Path(f"{path}.snapshot").write_bytes(b"not a snapshot")


def _other_optuna(path: Path) -> None:
    snapshot = Path(f"{path}.snapshot")
    header, _, rest = snapshot.read_bytes().partition(b"\n")
    snapshot.write_bytes(json.dumps({**json.loads(header), "optuna": "0.0.1"}).encode() + b"\n" + rest)


@pytest.mark.parametrize("change", [_replaced_by_another_study, _cut, _garbage, _other_optuna])
def test_a_snapshot_that_does_not_match_its_journal_is_ignored(tmp_path, change) -> None:
    path = tmp_path / "study.journal"
    _fill(path, TRIALS)
    snapshot = Path(f"{path}.snapshot").read_bytes()
    change(path)
    if change is _replaced_by_another_study:  # the new journal is too small for a snapshot of its own
        Path(f"{path}.snapshot").write_bytes(snapshot)
    opened = open_storage(str(path))
    assert _read_from_start(opened)
    assert _trials(opened) == _replayed(path)


def test_snapshots_come_less_often_as_the_study_grows(tmp_path, monkeypatch) -> None:
    """A snapshot pickles the whole replay: hpo's storage takes one at a multiple of the interval
    only once the trials have grown by a tenth since the last, so their cost per trial stays flat
    (Optuna's own: every 100 trials). Here with an interval of 10 over 600 trials."""
    from hpo.storage import _journal

    monkeypatch.setattr(_journal, "_SNAPSHOT_EVERY", 10)
    storage = open_storage(str(tmp_path / "g.journal"))
    taken: list[int] = []
    save = storage._snapshots.save_snapshot
    monkeypatch.setattr(storage._snapshots, "save_snapshot", lambda data: (taken.append(storage._replay_result._last_created_trial_id_by_this_process), save(data)))
    study = optuna.create_study(study_name="g", storage=storage, sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(600):
        study.tell(study.ask(), 1.0)
    assert taken[:10] == list(range(10, 101, 10))  # a small study: as Optuna, every interval
    for before, after in zip(taken, taken[1:]):
        first_allowed = before + before // 10
        assert after % 10 == 0 and first_allowed <= after < first_allowed + 10  # the first one allowed
    assert len(taken) < 30 and taken[-1] >= 540
    assert _trials(open_storage(str(tmp_path / "g.journal"))) == _replayed(tmp_path / "g.journal")
