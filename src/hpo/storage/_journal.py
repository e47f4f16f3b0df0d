"""Optuna's journal storage, reading a study's trials at a cost that does not grow with the study.

Every ``study.ask()`` first looks for a queued (WAITING) trial to run, and a driver lists the
study's trials before each launch: on Optuna's journal storage each is a pass over every trial of
the study (about 3 ms and 0.8 ms at 10,000 trials), on every trial. But a finished trial never
changes (the replay refuses to update one), and a trial is WAITING only from its creation
(``enqueue_trial``) until a driver takes it. So this storage keeps, per study, the trials as its last
query read them and which of them were not finished then: a query reads again only those and the
trials created since, and copies the rest. Every ``_FULL_PASS_EVERY``-th query of a study reads all
of its trials again, so a trial some other code changed against those rules would still be seen.

It reads two Optuna internals under the storage's lock after its sync (tests/test_optuna_contract.py
pins them and the rules above): the replay result's ``_study_id_to_trial_ids`` (a study's trial ids
in creation order) and ``_trials`` (trial id -> FrozenTrial). Should an Optuna release move either,
every query is Optuna's own (the same trials, a pass over all of them). The snapshots rely on the
storage's ``_backend`` (where it reads and appends records) and on ``restore_replay_result`` taking
a pickle of ``_replay_result``, as Optuna's own snapshots do.

Snapshots (``_snapshot.py``): Optuna pickles its whole replay for the backend every 100 trials, which
at 10,000 trials costs about 1 ms per trial (100 ms a pickle) and grows with the study. This storage
takes the snapshots itself instead (Optuna's storage gets the journal file without the snapshot
hook once the snapshot is loaded): at trial ids that are multiples of 100, as Optuna, but only once
the study has grown a tenth since the last one, so a pickle's cost spread over the trials between
two snapshots stays flat; opening replays at most about a tenth of the study after its snapshot.
"""

from __future__ import annotations

import copy
import pickle
from collections.abc import Container, Iterable
from dataclasses import dataclass, field
from typing import Any

import optuna
from optuna.storages.journal import BaseJournalBackend
from optuna.trial import FrozenTrial, TrialState

from hpo.storage._snapshot import SnapshotJournalBackend, hooked

_FULL_PASS_EVERY = 256  # queries of a study between two full passes over its trials
_SNAPSHOT_EVERY = 100  # trial ids a snapshot may follow: Optuna's own interval
_SNAPSHOT_GROWTH = 10  # ... once the trials have grown by 1/10 since the last one


@dataclass
class _Read:
    """A study's trials as the last query read them."""

    trials: list[FrozenTrial] = field(default_factory=list)  # in creation order
    open: list[int] = field(default_factory=list)  # positions of those not finished when read
    queries: int = 0


def _only_waiting(states: Container[TrialState] | None) -> bool:
    return isinstance(states, (tuple, list, set, frozenset)) and len(states) == 1 and TrialState.WAITING in states


def _replayed(replay: Any, study_id: int) -> tuple[list[int] | None, dict[int, FrozenTrial] | None]:
    """The replay's trial ids of the study in creation order, and its trials by id; None for what
    this Optuna does not keep so (or a study it does not know)."""
    ids = getattr(replay, "_study_id_to_trial_ids", {}).get(study_id)
    trials = getattr(replay, "_trials", None)
    return (ids if isinstance(ids, list) else None), (trials if isinstance(trials, dict) else None)


class _WithoutHook(BaseJournalBackend):
    """The journal file as Optuna's storage sees it once opened: its records, not its snapshot hook."""

    def __init__(self, file: SnapshotJournalBackend) -> None:
        self._file = file

    def read_logs(self, log_number_from: int) -> Iterable[dict[str, Any]]:
        return self._file.read_logs(log_number_from)

    def append_logs(self, logs: list[dict[str, Any]]) -> None:
        self._file.append_logs(logs)


class JournalStorage(optuna.storages.JournalStorage):
    """``optuna.storages.JournalStorage`` whose queries for a study's trials (all, or the WAITING
    ones) read only the trials that can still change and the new ones, and which takes the journal's
    snapshots less often as the study grows (module docstring)."""

    def __init__(self, log_storage: BaseJournalBackend) -> None:
        super().__init__(log_storage)  # (Optuna loads the snapshot through the hook, then replays the rest)
        self._reads: dict[int, _Read] = {}
        self._snapshots: SnapshotJournalBackend | None = None
        self._next_snapshot = _SNAPSHOT_EVERY  # the first trial id a snapshot may follow
        if isinstance(log_storage, SnapshotJournalBackend) and hooked():
            self._snapshots = log_storage
            self._backend = _WithoutHook(log_storage)

    def create_new_trial(self, study_id: int, template_trial: FrozenTrial | None = None) -> int:
        trial_id = super().create_new_trial(study_id, template_trial)
        if self._snapshots is not None and trial_id % _SNAPSHOT_EVERY == 0 and trial_id >= self._next_snapshot:
            with self._thread_lock:  # the replay as read so far, and where in the journal that ends
                self._next_snapshot = trial_id + trial_id // _SNAPSHOT_GROWTH
                self._snapshots.save_snapshot(pickle.dumps(self._replay_result))
        return trial_id

    def restore_replay_result(self, snapshot: bytes) -> None:
        super().restore_replay_result(snapshot)
        self._reads = {}  # what it saw was another replay's

    def __getstate__(self) -> dict[Any, Any]:
        state = super().__getstate__()
        state.pop("_reads", None)  # the replay is not pickled either: a copy replays afresh
        return state

    def __setstate__(self, state: dict[Any, Any]) -> None:
        super().__setstate__(state)
        self._reads = {}

    def get_all_trials(
        self, study_id: int, deepcopy: bool = True, states: Container[TrialState] | None = None
    ) -> list[FrozenTrial]:
        if states is None or _only_waiting(states):
            with self._thread_lock:
                self._sync_with_backend()
                found = self._query(study_id, states)
            if found is not None:
                return copy.deepcopy(found) if deepcopy else found
        return super().get_all_trials(study_id, deepcopy, states)

    def _query(self, study_id: int, states: Container[TrialState] | None) -> list[FrozenTrial] | None:
        """All the study's trials, or its WAITING ones, in creation order; None: Optuna's own query
        answers (an unknown study, whose error is Optuna's, or the internals moved)."""
        ids, trials = _replayed(self._replay_result, study_id)
        if ids is None or trials is None:
            return None
        read = self._reads.setdefault(study_id, _Read())
        read.queries += 1
        if read.queries % _FULL_PASS_EVERY == 0:
            read.trials, read.open = [], []
        known = len(read.trials)
        for position in read.open:
            read.trials[position] = trials[ids[position]]
        read.trials += map(trials.__getitem__, ids[known:])
        read.open = [k for k in (*read.open, *range(known, len(ids))) if not read.trials[k].state.is_finished()]
        if states is None:
            return list(read.trials)
        return [read.trials[k] for k in read.open if read.trials[k].state == TrialState.WAITING]
