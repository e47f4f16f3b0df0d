"""What hpo relies on in Optuna beyond its documented API, checked against the installed Optuna.

If an upgrade changes any of it, a test here fails and names the behaviour; each says what hpo does
then (the fallback) and where the reliance lives:

- the journal snapshot hook ``BaseJournalSnapshot`` and ``JournalFileBackend._log_number_offset``
  (``hpo/storage/_snapshot.py``), the storage's ``_backend`` and a pickled ``_replay_result`` as the
  snapshot (``hpo/storage/_journal.py``); fallback: no snapshot, the journal replayed from its start;
- the samplers read trials through ``Study._get_trials``/``get_trials``/``trials``, which the
  paused-as-pruned view overrides (``hpo/study/_promotion.py``); fallback: none, the sampler would
  see paused trials as RUNNING and learn from them only once they end: this test must be mended;
- the pruners read a study's direction through ``Study.direction`` (and multi-objective checks
  through ``_is_multi_objective``), which the one-metric view overrides (``hpo/study/_prune.py``);
- ``optuna.Trial(study, trial_id)`` binds a handle to an existing RUNNING trial
  (``hpo/study/_handle.py``);
- the journal replay's ``_study_id_to_trial_ids`` and ``_trials``, read under ``_thread_lock`` after
  ``_sync_with_backend()``; that a finished trial never changes and a trial is WAITING only until it
  is taken (``hpo/storage/_journal.py``); fallback: Optuna's own queries, a pass over every trial.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import optuna
import pytest
from optuna.trial import TrialState

from hpo.storage import JournalStorage, _journal, _snapshot, open_storage
from hpo.study import EpochPruning, live_trial
from hpo.study._promotion import PausedAwareSampler, _PausedAsPruned


def _fill(storage: optuna.storages.BaseStorage, trials: int) -> optuna.Study:
    study = optuna.create_study(study_name="c", storage=storage, load_if_exists=True, sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(trials):
        trial = study.ask()
        study.tell(trial, trial.suggest_float("x", 0, 1))
    return study


# -- the journal snapshot -----------------------------------------------------------------------


def test_the_journal_snapshot_hook_is_where_hpo_imports_it() -> None:
    from optuna.storages.journal._base import BaseJournalSnapshot

    assert _snapshot._SnapshotHook is BaseJournalSnapshot
    assert {"save_snapshot", "load_snapshot"} <= set(vars(BaseJournalSnapshot))


def test_the_file_backend_maps_each_read_log_number_to_the_byte_where_it_ends(tmp_path) -> None:
    path = tmp_path / "j.journal"
    backend = optuna.storages.journal.JournalFileBackend(str(path))
    _fill(optuna.storages.JournalStorage(backend), 3)
    logs = list(backend.read_logs(0))
    offsets = backend._log_number_offset
    assert isinstance(offsets, dict) and offsets[0] == 0
    assert offsets[len(logs)] == path.stat().st_size  # after the last record: the file's end
    lines = path.read_bytes().splitlines(keepends=True)
    assert all(offsets[i + 1] - offsets[i] == len(lines[i]) for i in range(len(logs)))


def test_optuna_asks_a_snapshot_backend_for_a_snapshot_on_open_and_restores_hpos_pickled_replay(tmp_path) -> None:
    """hpo's storage pickles ``_replay_result`` for the snapshot (as Optuna does) and reads and
    appends through ``_backend``; Optuna's own storage opens from that snapshot."""
    path = tmp_path / "s.journal"
    _fill(open_storage(str(path)), 101)
    assert (tmp_path / "s.journal.snapshot").exists()
    loaded: list[bytes | None] = []

    class Recording(_snapshot.SnapshotJournalBackend):
        def load_snapshot(self) -> bytes | None:
            loaded.append(super().load_snapshot())
            return loaded[-1]

    storage = optuna.storages.JournalStorage(Recording(str(path)))
    assert len(loaded) == 1 and loaded[0] is not None
    assert len(optuna.load_study(study_name="c", storage=storage).trials) == 101


def test_without_the_offsets_map_the_journal_opens_whole_without_a_snapshot(tmp_path, monkeypatch) -> None:
    """The fallback, should Optuna drop ``_log_number_offset``: no snapshot written or used."""

    path = tmp_path / "n.journal"
    _fill(open_storage(str(path)), 101)
    assert (tmp_path / "n.journal.snapshot").exists()
    monkeypatch.setattr(_snapshot, "_offsets", lambda backend: None)
    _fill(open_storage(str(path)), 101)  # opened whole (the snapshot is not used), writes none
    assert len(optuna.load_study(study_name="c", storage=open_storage(str(path))).trials) == 202
    assert _snapshot.SnapshotJournalBackend(str(path)).load_snapshot() is None


def test_the_journal_lock_hpo_appends_under_is_optunas_own(tmp_path) -> None:
    """hpo's whole-or-nothing append takes the lock Optuna's append takes, by the same names: while
    hpo's append holds it, Optuna's own append from another backend of the file must wait."""
    import threading

    from optuna.storages.journal import JournalFileBackend
    from optuna.storages.journal._file import get_lock_file

    from hpo.storage._snapshot import SnapshotJournalBackend

    path = str(tmp_path / "j.journal")
    ours, theirs = SnapshotJournalBackend(path), JournalFileBackend(path)
    assert isinstance(ours._file_path, str) and ours._lock is not None
    with get_lock_file(ours._lock):
        writer = threading.Thread(target=theirs.append_logs, args=([{"op_code": 0}],))
        writer.start()
        writer.join(timeout=1.0)
        assert writer.is_alive()  # Optuna's append waits for the lock hpo holds
    writer.join(timeout=30)
    ours.append_logs([{"op_code": 1}])
    assert [log["op_code"] for log in ours.read_logs(0)] == [0, 1]


def test_without_optunas_journal_lock_the_append_is_optunas_own(tmp_path, monkeypatch) -> None:
    import hpo.storage._snapshot as snapshot

    monkeypatch.setattr(snapshot, "_journal_lock", None)
    backend = snapshot.SnapshotJournalBackend(str(tmp_path / "j.journal"))
    backend.append_logs([{"op_code": 0}])
    assert [log["op_code"] for log in backend.read_logs(0)] == [0]


# -- the journal's trial queries (all of a study's, its queued ones) -----------------------------


def test_the_journal_replay_keeps_each_studys_trial_ids_in_creation_order_and_its_trials_by_id(tmp_path) -> None:
    storage = open_storage(str(tmp_path / "r.journal"))
    assert isinstance(storage, JournalStorage)
    studies = [optuna.create_study(study_name=name, storage=storage) for name in ("a", "b")]
    for _ in range(3):
        for study in studies:
            study.enqueue_trial({})
            study.ask()
    created = {study._study_id: [t._trial_id for t in study.get_trials(deepcopy=False)] for study in studies}
    with storage._thread_lock:  # (not reentrant: no storage call inside)
        storage._sync_with_backend()
        replay = storage._replay_result
        for study_id, trial_ids in created.items():
            ids = replay._study_id_to_trial_ids[study_id]
            assert isinstance(ids, list) and ids == trial_ids
            assert [replay._trials[i].number for i in ids] == [0, 1, 2]
            assert all(isinstance(replay._trials[i], optuna.trial.FrozenTrial) for i in ids)


def _queue_steps(study: optuna.Study, other: optuna.Study) -> list[Any]:
    """A study's queue as drivers change it: enqueue, take, finish, another process enqueueing
    into the same journal, a trial failed while WAITING."""
    return [
        lambda: [study.enqueue_trial({"x": 0.1 * i}) for i in range(3)],
        lambda: study.ask(),
        lambda: other.enqueue_trial({"x": 0.9}),
        lambda: study.tell(study.ask(), 1.0),
        lambda: study._storage.set_trial_state_values(
            study.get_trials(deepcopy=False, states=(TrialState.WAITING,))[0]._trial_id, TrialState.FAIL
        ),
        lambda: [study.ask() for _ in range(3)],
        lambda: [other.enqueue_trial({"x": 0.5}), study.enqueue_trial({"x": 0.6})],
        lambda: other.tell(other.ask(), 0.5),  # (another process's trial, finished there)
        lambda: _refused_on_a_finished_trial(other),
    ]


def _refused_on_a_finished_trial(study: optuna.Study) -> None:
    """A finished trial never changes: Optuna refuses the update (so hpo's storage need not read it again)."""
    finished = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))[0]
    with pytest.raises(optuna.exceptions.UpdateFinishedTrialError):
        study._storage.set_trial_user_attr(finished._trial_id, "late", 1)
    with pytest.raises(optuna.exceptions.UpdateFinishedTrialError):
        study._storage.set_trial_state_values(finished._trial_id, TrialState.FAIL)


@pytest.mark.parametrize("internals", ["present", "moved"])
def test_the_queued_trials_hpos_journal_finds_are_optunas_own_answer(internals, tmp_path, monkeypatch) -> None:
    """After each change to the queue, hpo's indexed query returns what Optuna's full pass returns,
    in the same order, and so does its list of all the study's trials; with the replay's internals
    gone (``moved``) both are Optuna's own query."""
    path = str(tmp_path / "q.journal")
    storage = open_storage(path)
    study = optuna.create_study(study_name="q", storage=storage, sampler=optuna.samplers.RandomSampler(seed=0))
    other = optuna.load_study(study_name="q", storage=open_storage(path))  # another driver's process
    if internals == "moved":
        monkeypatch.setattr(_journal, "_replayed", lambda replay, study_id: (None, None))
    for step in _queue_steps(study, other):
        step()
        ours = storage.get_all_trials(study._study_id, deepcopy=False, states=(TrialState.WAITING,))
        theirs = optuna.storages.JournalStorage.get_all_trials(storage, study._study_id, False, (TrialState.WAITING,))
        assert [t.number for t in ours] == [t.number for t in theirs]
        every = optuna.storages.JournalStorage.get_all_trials(storage, study._study_id, False, None)
        listed = storage.get_all_trials(study._study_id, deepcopy=False)
        assert len(listed) == len(every) and all(a is b for a, b in zip(listed, every))  # the replay's own trials
        assert storage.get_all_trials(study._study_id) == every  # (a copy, equal)
    assert [t.number for t in ours] == [7] and (internals == "moved") == (storage._reads == {})


def test_a_trial_changed_against_optunas_rules_is_seen_at_the_next_full_pass(tmp_path) -> None:
    """A running trial set back to WAITING (no Optuna API does it) is seen at once: hpo's storage
    reads every unfinished trial again. A finished one changed in the replay (Optuna refuses that)
    is seen within ``_FULL_PASS_EVERY`` queries."""
    storage = open_storage(str(tmp_path / "w.journal"))
    study = optuna.create_study(study_name="w", storage=storage)
    waiting = (TrialState.WAITING,)
    running = study.ask()
    storage.set_trial_state_values(running._trial_id, TrialState.WAITING)
    assert [t.number for t in storage.get_all_trials(study._study_id, states=waiting)] == [0]
    study.tell(study.ask(), 1.0)  # takes trial 0 again, finishes it
    assert storage.get_all_trials(study._study_id, states=waiting) == []
    replay = storage._replay_result
    replay._trials[running._trial_id] = copy.copy(replay._trials[running._trial_id])
    replay._trials[running._trial_id].state = TrialState.WAITING
    asked = storage._reads[study._study_id].queries
    found = [bool(storage.get_all_trials(study._study_id, states=waiting)) for _ in range(_journal._FULL_PASS_EVERY)]
    assert found.index(True) == _journal._FULL_PASS_EVERY - asked - 1  # the query count's next multiple
    assert all(found[found.index(True) :])


# -- the samplers read trials through the study -------------------------------------------------


class _Watched:
    """A study (or view) that records which attributes a sampler reads, its storage's included
    (as ``_storage.NAME``)."""

    def __init__(self, study: Any, read: set[str] | None = None, prefix: str = "") -> None:
        self._study = study
        self._prefix = prefix
        self.read: set[str] = set() if read is None else read

    def __getattr__(self, name: str) -> Any:
        self.read.add(self._prefix + name)
        value = getattr(self._study, name)
        return _Watched(value, self.read, "_storage.") if name == "_storage" else value


# The storage's methods that read trials: a sampler calling one would bypass the view.
_TRIAL_READS = {"get_all_trials", "get_trial", "get_best_trial", "get_n_trials", "get_trial_params"}


SAMPLERS = {
    "tpe": lambda: optuna.samplers.TPESampler(seed=0, n_startup_trials=2),
    "random": lambda: optuna.samplers.RandomSampler(seed=0),
    "qmc": lambda: optuna.samplers.QMCSampler(seed=0),
    "cmaes": lambda: optuna.samplers.CmaEsSampler(seed=0, n_startup_trials=2),
    "nsga2": lambda: optuna.samplers.NSGAIISampler(seed=0, population_size=2),
}


@pytest.mark.parametrize("name", sorted(SAMPLERS))
def test_samplers_read_trials_only_through_the_methods_the_paused_view_overrides(name: str) -> None:
    """Never the storage directly: then a paused trial reaches the sampler as PRUNED at its rung."""
    directions = ["maximize", "minimize"] if name == "nsga2" else ["maximize"]
    study = optuna.create_study(directions=directions, sampler=SAMPLERS[name]())
    for i in range(6):
        trial = study.ask()
        x = trial.suggest_float("x", 0, 1)
        trial.suggest_int("n", 1, 4)
        study.tell(trial, [x, 1 - x] if len(directions) == 2 else x)
    paused = study.ask()
    paused.suggest_float("x", 0, 1)
    paused.suggest_int("n", 1, 4)
    paused.set_user_attr("hpo:paused", 1)
    watched = _Watched(_PausedAsPruned(study))
    sampler = PausedAwareSampler(SAMPLERS[name]())
    frozen = study._storage.get_trial(study.ask()._trial_id)
    space = sampler.infer_relative_search_space(watched, frozen)  # type: ignore[arg-type]
    sampler.sample_relative(watched, frozen, space)  # type: ignore[arg-type]
    sampler.sample_independent(watched, frozen, "x", optuna.distributions.FloatDistribution(0, 1))  # type: ignore[arg-type]
    bypass = {f"_storage.{m}" for m in _TRIAL_READS} & watched.read
    assert not bypass, f"{name} reads trials from the storage directly: {sorted(bypass)}"
    assert {"_get_trials", "get_trials", "trials"} & watched.read or name in ("random",)
    seen = watched._study.get_trials(deepcopy=False)
    assert [t.state for t in seen if t.number == paused.number] == [TrialState.PRUNED]


# -- the pruners on the one-metric view ---------------------------------------------------------

PRUNERS = {
    "median": lambda: optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=0),
    "percentile": lambda: optuna.pruners.PercentilePruner(25.0, n_startup_trials=2),
    "successive_halving": lambda: optuna.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=2),
    "threshold": lambda: optuna.pruners.ThresholdPruner(lower=0.35),
    "patient": lambda: optuna.pruners.PatientPruner(optuna.pruners.MedianPruner(n_startup_trials=2), patience=0),
}
CURVES = [[0.5, 0.6, 0.7], [0.4, 0.5, 0.6], [0.8, 0.85, 0.9], [0.3, 0.2, 0.2], [0.9, 0.92, 0.95], [0.2, 0.25, 0.3]]


def _pruned(directions: list[str], pruner: optuna.pruners.BasePruner, watched: str, sign: float) -> list[int]:
    """The trials ``pruner`` stops when the curves (``sign`` * CURVES) are reported through hpo's
    EpochPruning, which watches ``watched`` (the direction of the metric the curves are)."""
    storage = optuna.storages.InMemoryStorage()
    study = optuna.create_study(storage=storage, directions=directions, pruner=pruner)
    pruning = EpochPruning(study, storage, watched)
    stopped = []
    for curve in CURVES:
        trial = study.ask()
        for epoch, value in enumerate(curve, start=1):
            if pruning.report(trial.number, epoch, sign * value):
                stopped.append(trial.number)
                study.tell(trial, state=TrialState.PRUNED)
                break
        else:
            study.tell(trial, [sign * curve[-1]] * len(directions))
    return stopped


@pytest.mark.parametrize("name", sorted(PRUNERS))
@pytest.mark.parametrize("watched", ["maximize", "minimize"])
def test_a_pruner_decides_on_a_multi_objective_study_as_on_its_watched_metric_alone(name: str, watched: str) -> None:
    sign = 1.0 if watched == "maximize" else -1.0  # minimizing the negated curves is the same race
    single = _pruned([watched], PRUNERS[name](), watched, sign)
    several = _pruned([watched, "minimize"], PRUNERS[name](), watched, sign)
    assert several == single
    if name != "threshold":  # (its bounds are absolute: on the negated curves it stops nothing or everything)
        assert single, "the curves are built so that every pruner stops some trial"


@pytest.mark.parametrize("watched", ["maximize", "minimize"])
def test_a_pruned_trial_is_a_worse_one_on_the_watched_metric(watched: str) -> None:
    """In a two-goal study the pruner judges the watched metric in its own direction: the stopped
    trials' curves are below the median for a maximized metric, above it for a minimized one."""
    sign = 1.0 if watched == "maximize" else -1.0
    stopped = _pruned([watched, "minimize"], PRUNERS["median"](), watched, sign)
    assert stopped
    best_of = {n: max(c) for n, c in enumerate(CURVES)}
    kept = [n for n in best_of if n not in stopped]
    assert max(best_of[n] for n in stopped) < max(best_of[n] for n in kept)
    assert 4 not in stopped and 2 not in stopped  # the two best curves run to the end


def test_a_report_that_must_not_decide_records_the_value_and_never_prunes() -> None:
    """The last epoch: hpo records the value but does not ask the pruner (the trial completes)."""
    storage = optuna.storages.InMemoryStorage()
    study = optuna.create_study(storage=storage, pruner=optuna.pruners.ThresholdPruner(lower=0.5))
    pruning = EpochPruning(study, storage, "maximize")
    trial = study.ask()
    assert pruning.report(trial.number, 1, 0.1, decide=False) is False
    assert pruning.report(trial.number, 2, 0.1) is True  # the same value, asked: below the threshold
    assert study.trials[0].intermediate_values == {1: 0.1, 2: 0.1}


def test_a_pruner_refuses_a_multi_objective_study_without_the_view() -> None:
    """Why the view exists: Optuna's pruners read ``study.direction``, which a study of several
    goals refuses."""
    study = optuna.create_study(directions=["maximize", "minimize"])
    for value in (0.6, 0.7):
        done = study.ask()
        study._storage.set_trial_intermediate_value(done._trial_id, 1, value)
        study.tell(done, [value, 1.0])
    trial = study.ask()
    study._storage.set_trial_intermediate_value(trial._trial_id, 1, 0.5)
    with pytest.raises(RuntimeError):
        optuna.pruners.MedianPruner(n_startup_trials=0).prune(study, study._storage.get_trial(trial._trial_id))


# -- a handle on a trial another process asked for ------------------------------------------------


def test_a_live_handle_on_a_running_trial_writes_to_that_trial(tmp_path: Path) -> None:
    storage = open_storage(str(tmp_path / "h.journal"))
    study = optuna.create_study(study_name="h", storage=storage)
    asked = study.ask()
    asked.suggest_float("x", 0, 1)
    other = optuna.load_study(study_name="h", storage=storage)  # another driver
    handle = live_trial(other, storage, asked.number)
    handle.set_user_attr("hpo:run", "second")
    handle.report(0.7, 3)
    other.tell(handle, 0.7)
    (trial,) = optuna.load_study(study_name="h", storage=storage).trials
    assert (trial.state, trial.value, trial.intermediate_values, trial.user_attrs) == (
        TrialState.COMPLETE, 0.7, {3: 0.7}, {"hpo:run": "second"},
    )
