"""Periodic checkpoints (the sweep's ``checkpoint`` section), driven without Ray or training: when a
trial asks for one, what the driver keeps, and how an interrupted trial's re-run continues from it
with one curve, each epoch once."""

from __future__ import annotations

import optuna
import pytest
from optuna.trial import TrialState

from hpo import TrialContext
from hpo._errors import TrialFailed
from hpo.executor import Lifecycle, Rules
from hpo.executor._checkpoints import CheckpointStore
from hpo.executor._events import Checkpointed, Ended, Failed, Placed, Reported
from hpo.executor._launch import spent_trials
from hpo.executor._loop import drive
from hpo.storage import Store
from tests.conftest import said
from tests.test_lifecycle import ScriptedPool, _acc, _launcher, storage  # noqa: F401 - storage is a fixture

# -- when a checkpoint is due ---------------------------------------------------------------------


def _context(epochs: int = 10, **kwargs) -> tuple[TrialContext, list[tuple[int, object]], list[float]]:
    saved: list[tuple[int, object]] = []
    now = [0.0]
    context = TrialContext(0, {}, None, 0, epochs, _save_sink=lambda e, s: saved.append((e, s)), _clock=lambda: now[0],
                           **kwargs)
    return context, saved, now


DUE = [
    # (settings, epochs reported one after another with the minutes between them, epochs due)
    ({"checkpoint_every": 2}, [(1, 0), (2, 0), (3, 0), (4, 0), (5, 0)], [2, 4]),
    ({"checkpoint_every": 3}, [(1, 0), (2, 0), (3, 0), (6, 0), (9, 0), (10, 0)], [3, 6, 9]),
    ({"checkpoint_every": 2, "epochs": 4}, [(1, 0), (2, 0), (3, 0), (4, 0)], [2]),  # never after the last epoch
    ({"checkpoint_minutes": 5.0}, [(1, 2), (2, 2), (3, 2), (4, 2), (5, 2), (6, 2), (7, 2)], [3, 6]),
    ({"checkpoint_every": 4, "checkpoint_minutes": 5.0}, [(1, 2), (2, 2), (3, 2), (4, 2), (5, 1)], [3]),
    ({"checkpoint_every": 2, "pause_after": 2}, [(1, 0), (2, 0)], []),  # the rung's pause saves it
    ({}, [(1, 60), (2, 60)], []),
]


@pytest.mark.parametrize(("settings", "reports", "due"), DUE)
def test_a_checkpoint_is_due_every_n_epochs_or_m_minutes_and_never_after_the_last(settings, reports, due) -> None:
    context, saved, now = _context(**settings)
    for epoch, minutes in reports:
        now[0] += 60 * minutes
        context.report(epoch, {"m": 0.5})
        if context.checkpoint_due:
            context.save({"epoch": epoch})
    assert [epoch for epoch, _ in saved] == due
    assert all(state == {"epoch": epoch} for epoch, state in saved)
    assert not context.checkpoint_due  # saved: not due again at the same epoch


def test_save_needs_a_reported_epoch_and_a_rerun_reports_after_its_checkpoint() -> None:
    context, _, _ = _context(checkpoint_every=1)
    with pytest.raises(TrialFailed, match="call report"):
        context.save({})
    rerun, _, _ = _context(checkpoint_every=1, _last_epoch=4)
    with pytest.raises(TrialFailed, match="epochs that increase"):
        rerun.report(4, {"m": 0.5})
    rerun.report(5, {"m": 0.5})
    assert rerun.checkpoint_due


def test_pause_without_a_promotion_scheduler_is_the_trials_error() -> None:
    context, _, _ = _context(checkpoint_every=1)
    context.report(1, {"m": 0.5})
    with pytest.raises(TrialFailed, match="use trial.save"):
        context.pause({})


# -- the driver: keep, hand over, drop ---------------------------------------------------------------


class _CheckpointingPool(ScriptedPool):
    """A worker that restores the checkpoint it is handed (``b"<epoch>"``) and says so when placed."""

    def __init__(self, slots: int, script) -> None:
        super().__init__(slots, script)
        self.starts: dict[int, bytes | None] = {}

    def launch(self, number: int, params: dict, whole_gpu: bool = False, start: bytes | None = None,
               pause_after: int | None = None) -> None:
        self.starts[number] = start
        from_epoch = int(start.decode()) if start else 0
        self.queues[number] = [Placed(number, {"host": "here"}, from_epoch), *self.script(number, from_epoch)]


def _lifecycle(storage, tmp_path, events: list, keep: bool = False, **rules) -> Lifecycle:
    study = optuna.create_study(storage=storage, direction="maximize", sampler=optuna.samplers.RandomSampler(seed=0))
    rules = Rules(**{"metric": "val_accuracy", "direction": "maximize", "max_epochs": 5, **rules})
    store = CheckpointStore(tmp_path / "checkpoints", keep=keep)
    return Lifecycle(study, storage, rules, lambda notice: events.append(said(notice)), store)


def _interrupted_after_a_checkpoint(number: int, from_epoch: int) -> list:
    """Trial 0 saves after epoch 2 and is lost during epoch 3; its re-run trains epochs 3 to 5."""
    if number == 0:
        return [Reported(0, 1, _acc(0.1)), Reported(0, 2, _acc(0.2)), Checkpointed(0, 2, b"2"),
                Reported(0, 3, _acc(0.3)), Failed(0, "the worker running this trial was lost", True, interrupted=True)]
    return [*(Reported(number, e, _acc(e / 10)) for e in range(from_epoch + 1, 6)), Ended(number, None)]


def test_an_interrupted_trial_continues_from_its_checkpoint_with_one_curve(storage, tmp_path) -> None:
    events: list = []
    lc = _lifecycle(storage, tmp_path, events, max_retries=0)
    pool = _CheckpointingPool(1, _interrupted_after_a_checkpoint)
    drive(_launcher(lc, budget=1), lc, pool, poll_s=0)
    first, again = lc.study.trials
    assert first.state == TrialState.FAIL and first.user_attrs["hpo:interrupted"] is True
    assert first.user_attrs["hpo:checkpoint_epoch"] == 2
    assert pool.starts == {0: None, 1: b"2"}  # the re-run got the checkpoint the driver kept
    assert pool.kept_checkpoints == [(0, 2)]  # and told the trial so: it trained on only then
    assert again.state == TrialState.COMPLETE and again.params == first.params
    assert again.intermediate_values == {e: e / 10 for e in range(1, 6)}  # epochs 1-2 carried, 3-5 its own
    assert again.user_attrs["hpo:resumed_from"] == [0, 2] and again.value == 0.5
    assert ("resumed_from", 1) in events and spent_trials(lc.study.trials) == 1
    assert list((tmp_path / "checkpoints").iterdir()) == []  # the trial ended: its checkpoint went


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_the_exports_show_where_a_rerun_resumed(storage, tmp_path, fmt) -> None:
    import pandas as pd

    from hpo.results import export_frame, trials_frame

    lc = _lifecycle(storage, tmp_path, [], max_retries=0)
    drive(_launcher(lc, budget=1), lc, _CheckpointingPool(1, _interrupted_after_a_checkpoint), poll_s=0)
    path = tmp_path / f"trials.{fmt}"
    export_frame(trials_frame(lc.study), str(path), fmt)
    rows = (pd.read_csv(path) if fmt == "csv" else pd.read_json(path)).set_index("number")
    assert (rows.loc[1, "retry_of"], rows.loc[1, "resumed_from_trial"], rows.loc[1, "resumed_from_epoch"]) == (0, 0, 2)
    assert pd.isna(rows.loc[0, "resumed_from_epoch"])


def test_a_rerun_after_the_trials_own_error_starts_afresh_even_with_kept_checkpoints(storage, tmp_path) -> None:
    def script(number: int, from_epoch: int) -> list:
        if number == 0:
            return [Reported(0, 1, _acc(0.1)), Reported(0, 2, _acc(0.2)), Checkpointed(0, 2, b"2"),
                    Failed(0, "RuntimeError: the trial's own bug", retryable=True)]
        return [*(Reported(number, e, _acc(e / 10)) for e in range(from_epoch + 1, 6)), Ended(number, None)]

    lc = _lifecycle(storage, tmp_path, [], keep=True, max_retries=1)
    pool = _CheckpointingPool(1, script)
    drive(_launcher(lc, budget=1), lc, pool, poll_s=0)
    assert pool.starts == {0: None, 1: None}
    assert lc.study.trials[1].intermediate_values == {e: e / 10 for e in range(1, 6)}
    assert "hpo:resumed_from" not in lc.study.trials[1].user_attrs
    assert (tmp_path / "checkpoints" / "trial_0.ckpt").exists()  # keep: true keeps ended trials' files


def test_a_trial_interrupted_too_often_leaves_no_checkpoint(storage, tmp_path) -> None:
    def script(number: int, from_epoch: int) -> list:
        return [Reported(number, from_epoch + 1, _acc(0.1)), Checkpointed(number, from_epoch + 1, str(from_epoch + 1).encode()),
                Failed(number, "the worker running this trial was lost", True, interrupted=True)]

    lc = _lifecycle(storage, tmp_path, [], max_interruptions=2, max_consecutive_failures=10)
    pool = _CheckpointingPool(1, script)
    drive(_launcher(lc, budget=1), lc, pool, poll_s=0)
    assert pool.starts == {0: None, 1: b"1", 2: b"2"}  # each re-run continued where the last stopped
    assert [t.state for t in lc.study.trials] == [TrialState.FAIL] * 3
    assert lc.study.trials[2].intermediate_values == {1: 0.1, 2: 0.1, 3: 0.1}
    assert list((tmp_path / "checkpoints").iterdir()) == []


def test_a_dead_drivers_trial_continues_from_its_checkpoint_in_the_next_run(tmp_path) -> None:
    """The driver was SIGKILLed after trial 0's checkpoint at epoch 2: the trial is RUNNING with no
    live driver; the next run's recovery interrupts it and its re-run continues from epoch 2."""
    journal = tmp_path / "s.journal"
    storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(journal)))
    events: list = []
    dead = _lifecycle(storage, tmp_path, events)
    launch = _launcher(dead, budget=1, run_id="dead").next()
    dead.placed(launch.number, {"host": "gone"})
    for epoch in (1, 2):
        dead.report(launch.number, epoch, _acc(epoch / 10))
    dead.checkpointed(launch.number, 2, b"2")
    # the next run, on the same study and results folder
    study = optuna.load_study(study_name=dead.study.study_name, storage=storage)
    rules = Rules(metric="val_accuracy", direction="maximize", max_epochs=5)
    lc = Lifecycle(study, storage, rules, lambda notice: events.append(said(notice)), dead.checkpoints)
    assert lc.recover(Store(str(journal)), stale_after_s=60).interrupted == [0]
    pool = _CheckpointingPool(1, _interrupted_after_a_checkpoint)
    drive(_launcher(lc, budget=1), lc, pool, poll_s=0)
    assert pool.starts == {1: b"2"}
    assert study.trials[1].state == TrialState.COMPLETE
    assert study.trials[1].intermediate_values == {e: e / 10 for e in range(1, 6)}


def test_ctrl_c_keeps_the_checkpoint_a_worker_sent_before_the_driver_read_it(storage, tmp_path) -> None:
    """Ctrl+C reaches the driver after it read trial 0's report of epoch 2 but before the checkpoint
    after it and the report of epoch 3, which the worker had already sent: the study and the
    checkpoint store keep both, so the re-run continues after epoch 2 and trains nothing twice."""
    from hpo.executor._run import _execute

    def script(number: int, from_epoch: int) -> list:
        if number == 0:  # sent before the Ctrl+C; then it trains on (nothing more sent)
            return [Reported(0, 1, _acc(0.1)), Reported(0, 2, _acc(0.2)), Checkpointed(0, 2, b"2"), Reported(0, 3, _acc(0.3))]
        return _interrupted_after_a_checkpoint(number, from_epoch)

    lc = _lifecycle(storage, tmp_path, [])
    pool = _CheckpointingPool(1, script)
    _execute(_launcher(lc, budget=1), lc, pool, interrupted=lambda: pool.polls >= 3)  # Placed, epochs 1 and 2 read
    first = lc.study.trials[0]  # (its configuration is queued to run again)
    assert first.state == TrialState.FAIL and first.user_attrs["hpo:interrupted"] is True
    assert first.intermediate_values == {1: 0.1, 2: 0.2, 3: 0.3}
    assert first.user_attrs["hpo:checkpoint_epoch"] == 2
    # the next run continues it from the checkpoint
    rules = Rules(metric="val_accuracy", direction="maximize", max_epochs=5)
    again = Lifecycle(lc.study, storage, rules, lambda notice: None, lc.checkpoints)
    rerun = _CheckpointingPool(1, script)
    drive(_launcher(again, budget=1), again, rerun, poll_s=0)
    assert rerun.starts == {1: b"2"}
    assert lc.study.trials[1].intermediate_values == {e: e / 10 for e in range(1, 6)}


def test_a_rerun_cut_short_before_its_first_report_keeps_the_epochs_it_carried(storage, tmp_path) -> None:
    """Its re-run, placed from the epoch-2 checkpoint, is interrupted before it reports: it holds
    epochs 1-2 (not 0), and its own re-run continues from the same checkpoint."""
    def script(number: int, from_epoch: int) -> list:
        if number == 1:
            return [Failed(1, "the worker running this trial was lost", True, interrupted=True)]
        return _interrupted_after_a_checkpoint(number, from_epoch)

    events: list = []
    lc = _lifecycle(storage, tmp_path, events, max_retries=0)
    pool = _CheckpointingPool(1, script)
    drive(_launcher(lc, budget=1), lc, pool, poll_s=0)
    cut = lc.study.trials[1]
    assert cut.user_attrs["hpo:epochs"] == 2 and cut.intermediate_values == {1: 0.1, 2: 0.2}
    assert pool.starts == {0: None, 1: b"2", 2: b"2"}
    assert lc.study.trials[2].state == TrialState.COMPLETE and lc.study.trials[2].user_attrs["hpo:resumed_from"] == [1, 2]


def test_a_rerun_lost_before_its_worker_started_hands_the_carried_epochs_on(storage, tmp_path) -> None:
    """Trial 0 is lost after its epoch-2 checkpoint; its re-run (trial 1) takes the checkpoint but
    its worker is lost before the driver hears it started, so it never carried the curve. Trial 1's
    own re-run continues from the same checkpoint and still holds epochs 1-5, each once."""

    class _LostBeforeStart(_CheckpointingPool):
        def launch(self, number: int, params: dict, whole_gpu: bool = False, start: bytes | None = None,
                   pause_after: int | None = None) -> None:
            super().launch(number, params, whole_gpu, start, pause_after)
            if number == 1:  # no Placed: the worker died starting
                self.queues[1] = [Failed(1, "its worker died before the driver heard that the trial had started",
                                         True, interrupted=True)]

    lc = _lifecycle(storage, tmp_path, [], max_retries=0)
    pool = _LostBeforeStart(1, _interrupted_after_a_checkpoint)
    drive(_launcher(lc, budget=1), lc, pool, poll_s=0)
    assert pool.starts == {0: None, 1: b"2", 2: b"2"}
    last = lc.study.trials[2]
    assert last.state == TrialState.COMPLETE
    assert last.intermediate_values == {e: e / 10 for e in range(1, 6)}  # 1-2 from trial 0, through trial 1
    assert last.user_attrs["hpo:resumed_from"] == [1, 2]


# -- the worker: a checkpoint is the driver's before the trial trains on -------------------------------


def test_a_trial_trains_on_after_a_checkpoint_only_once_the_driver_kept_it(tmp_path) -> None:
    """A driver lagging behind its workers has not read a checkpoint yet when the worker's node is
    lost: whatever the trial trained after it would be lost with it, more than one interval. So
    the trial waits after ``save`` until the driver says it keeps the checkpoint (or stops it),
    and a loss costs at most the epochs since the last checkpoint the driver holds."""
    import queue
    import threading

    from hpo.config import load_sweep
    from hpo.executor._worker import TrialWorker

    path = tmp_path / "s.yaml"
    path.write_text(
        "name: s\ndata: {source: digits}\ntrain: {epochs: 6}\n"
        "objective: {metric: val_accuracy, function: 'tests.cheap:checkpointing'}\n"
        f"space: {{params: {{x: {{type: float, low: 0.0, high: 1.0}}, sleep: 0.0, log_dir: '{tmp_path}'}}}}\n"
        "checkpoint: {every_epochs: 2}\n"
    )
    worker = TrialWorker(load_sweep(path).config.model_dump(mode="json"), None)
    seen: queue.Queue = queue.Queue()
    reader = threading.Thread(target=lambda: [seen.put(e) for e in worker.run(0, {"x": 0.5, "sleep": 0.0, "log_dir": str(tmp_path)})],
                              daemon=True)
    reader.start()
    kinds = [seen.get(timeout=60)["kind"] for _ in range(4)]
    assert kinds == ["start", "report", "report", "checkpoint"]
    reader.join(1.0)  # the trial may not train epoch 3 meanwhile: the driver has not kept epoch 2's checkpoint
    assert (tmp_path / "epochs").read_text().split("\n")[:-1] == ["0 1", "0 2"] and seen.empty()
    worker.kept(0, 2)
    kinds = [seen.get(timeout=60)["kind"] for _ in range(3)]
    assert kinds == ["report", "report", "checkpoint"]  # epochs 3-4, then it waits again
    worker.stop(0)  # a stop wakes a waiting trial too
    reader.join(60)
    assert not reader.is_alive() and seen.get(timeout=1)["kind"] == "stopped"
