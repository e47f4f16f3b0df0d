"""Multi-fidelity with promotion (pruner asha / async_hyperband): the rungs, ASHA's decision, and
the driver's loop pausing trials at rungs and continuing the best from their checkpoints, with
the study truthful throughout (no Ray here: a scripted pool; tests/test_promotion_sweep.py runs it
for real)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import optuna
import pytest
from optuna.trial import FrozenTrial, TrialState

from hpo.executor import Launcher, Lifecycle, Rules
from hpo.executor._checkpoints import CheckpointStore
from hpo.executor._events import Ended, Failed, Paused, Placed, Reported
from hpo.executor._loop import drive
from hpo.space import parse_space
from hpo.study import PausedAwareSampler, Promotion, paused_at, recover_stale_trials
from tests.conftest import said
from tests.test_lifecycle import ScriptedPool, storage  # noqa: F401 - the storage fixture

SPACE = parse_space({"x": {"type": "float", "low": 0.0, "high": 1.0}})
EPOCHS = 8


@pytest.mark.parametrize(
    ("name", "args", "epochs", "brackets"),
    [
        ("asha", {}, 9, ((1, 3, 9),)),
        ("asha", {"min_epochs": 1, "reduction_factor": 3}, 12, ((1, 3, 9, 12),)),
        ("asha", {"min_epochs": 2, "reduction_factor": 2}, 8, ((2, 4, 8),)),
        ("async_hyperband", {"reduction_factor": 3}, 9, ((1, 3, 9), (3, 9), (9,))),
        ("async_hyperband", {"reduction_factor": 3, "brackets": 2}, 27, ((1, 3, 9, 27), (3, 9, 27))),
    ],
)
def test_rungs_grow_by_the_reduction_factor_up_to_the_epochs(name, args, epochs, brackets) -> None:
    assert Promotion.from_config(name, args, epochs, "maximize").brackets == brackets


@pytest.mark.parametrize(
    ("args", "epochs", "message"),
    [
        ({"min_epochs": 4, "reduction_factor": 3}, 10, r"`min_epochs \* reduction_factor <= train.epochs` must hold .* \(4 \* 3 > 10\)"),
        ({"reduction_factor": 1}, 10, r"`min_epochs >= 1` and `reduction_factor >= 2` must hold .* reduction_factor=1"),
        ({"min_epochs": 0.5}, 10, r"min_epochs=0.5"),
        ({"brackets": 5}, 9, r"`1 <= brackets <= 3` must hold .* but got 5"),
        ({"eta": 3}, 9, r"asha takes brackets, keep_checkpoints, min_epochs, reduction_factor, but got unknown eta"),
    ],
)
def test_rungs_that_cannot_be_built_are_refused_with_the_rule(args, epochs, message) -> None:
    with pytest.raises(ValueError, match=message):
        Promotion.from_config("asha", args, epochs, "maximize")


def _frozen(number: int, curve: dict[int, float], paused: int | None, state: TrialState = TrialState.RUNNING) -> FrozenTrial:
    return FrozenTrial(number=number, trial_id=number, state=state, value=None, values=None, datetime_start=None, datetime_complete=None,
                       params={}, distributions={}, user_attrs={"hpo:paused": paused}, system_attrs={}, intermediate_values=curve)


@pytest.mark.parametrize(
    ("state", "paused", "expected"),
    [(TrialState.RUNNING, 2, 2), (TrialState.RUNNING, None, None), (TrialState.PRUNED, 2, None), (TrialState.COMPLETE, 2, None)],
    ids=["paused", "running", "pruned_with_the_mark", "complete_with_the_mark"],
)
def test_only_a_running_trial_is_paused(state: TrialState, paused: int | None, expected: int | None) -> None:
    """The mark alone does not make a trial paused: a told trial can never continue."""
    assert paused_at(_frozen(0, {1: 0.5, 2: 0.6}, paused, state)) == expected


def test_the_best_paused_trial_in_the_top_of_the_highest_rung_is_promoted_first() -> None:
    promotion = Promotion.from_config("asha", {"min_epochs": 1, "reduction_factor": 2}, 4, "maximize")  # rungs 1, 2, 4
    trials = [
        _frozen(0, {1: 0.9, 2: 0.95}, paused=2),  # top half of rung 2 (with trial 1): promoted to 4 before any rung-1 trial
        _frozen(1, {1: 0.8, 2: 0.7}, paused=2),
        _frozen(2, {1: 0.85}, paused=1),
        _frozen(3, {1: 0.1}, paused=1),
    ]
    chosen, to_epoch = promotion.promotion(trials)
    assert (chosen.number, to_epoch) == (0, 4)
    # without it, rung 1's top half is {0, 2}: 0 is past rung 1, so 2 goes on to epoch 2
    chosen, to_epoch = promotion.promotion([trials[1], trials[2], trials[3], _frozen(0, {1: 0.9, 2: 0.95, 4: 0.97}, None, TrialState.COMPLETE)])
    assert (chosen.number, to_epoch) == (2, 2)
    assert promotion.promotion([trials[3]]) is None  # one trial at a rung: its top half is empty
    minimize = Promotion.from_config("asha", {"min_epochs": 1, "reduction_factor": 2}, 4, "minimize")
    assert minimize.promotion([trials[2], trials[3]])[0].number == 3


def _lifecycle(storage, tmp_path: Path, events: list | None = None) -> Lifecycle:
    study = optuna.create_study(storage=storage, direction="maximize", sampler=optuna.samplers.RandomSampler(seed=1))
    listener = (lambda notice: events.append(said(notice))) if events is not None else None
    rules = Rules(metric="val_accuracy", direction="maximize", max_epochs=EPOCHS)
    return Lifecycle(study, storage, rules, listener, CheckpointStore(tmp_path / "checkpoints"))


def _launcher(lc: Lifecycle, budget: int, name: str = "asha") -> Launcher:
    # asha: rungs 1, 2, 4, 8; async_hyperband: brackets (1, 2, 4, 8), (2, 4, 8), (4, 8), (8,)
    promotion = Promotion.from_config(name, {"min_epochs": 1, "reduction_factor": 2}, EPOCHS, "maximize")
    return Launcher(lc, SPACE, budget=budget, promotion=promotion)


class _Trainer:
    """Scripted training with a checkpoint that records the epoch it was taken after: reports the
    epochs after the checkpoint up to the pause (or the end), then pauses (or ends)."""

    def __init__(self) -> None:
        self.starts: dict[int, list[int]] = {}
        self.stall = False  # a continuation sends its first report, then trains on (sends nothing more)

    def __call__(self, number: int, params: dict, whole_gpu: bool, start: bytes | None = None, pause_after: int | None = None) -> list:
        first = 0 if start is None else int(start.decode().split("=")[1])
        self.starts.setdefault(number, []).append(first)
        last = pause_after or EPOCHS
        reports = [Reported(number, e, {"val_accuracy": params["x"] * e / EPOCHS}) for e in range(first + 1, last + 1)]
        if self.stall and start is not None:
            return reports[:1]
        return [*reports, Paused(number, last, f"epoch={last}".encode()) if pause_after else Ended(number, None)]

    def continuing(self, lifecycle: Lifecycle) -> dict[int, int]:
        """The live trials that continue from a checkpoint, and the epoch of that checkpoint."""
        return {n: self.starts[n][-1] for n in lifecycle.live if len(self.starts[n]) > 1}


def _contiguous(trial: FrozenTrial) -> bool:
    return sorted(trial.intermediate_values) == list(range(1, max(trial.intermediate_values) + 1))


@pytest.mark.parametrize("name", ["asha", "async_hyperband"])
def test_trials_pause_at_rungs_and_the_best_continue_from_their_checkpoints(storage, tmp_path, name) -> None:
    events: list = []
    lc = _lifecycle(storage, tmp_path, events)
    trainer = _Trainer()
    drive(_launcher(lc, budget=12, name=name), lc, ScriptedPool(2, trainer), poll_s=0)
    lc.end_paused()  # as the run does when the sweep ends normally
    trials = lc.study.get_trials(deepcopy=False)
    assert len(trials) == 12 and {t.state for t in trials} <= {TrialState.COMPLETE, TrialState.PRUNED}
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    assert complete and all(max(t.intermediate_values) == EPOCHS for t in complete)  # COMPLETE means trained to the end
    assert all(_contiguous(t) for t in trials)  # a continued curve has no gap and no repeat
    promoted = [n for n, starts in trainer.starts.items() if len(starts) > 1]
    assert promoted and all(trainer.starts[n] == sorted(set(trainer.starts[n])) for n in promoted)
    rungs = {n: _launcher(lc, 1, name)._promotion.rungs(n)[:-1] for n in range(12)}  # each trial's bracket's pauses
    for number in promoted:  # each continuation started from the checkpoint of the rung it paused at
        assert trainer.starts[number][1:] == list(rungs[number][: len(trainer.starts[number]) - 1])
    pruned = [t for t in trials if t.state == TrialState.PRUNED]
    assert pruned and all(max(t.intermediate_values) in rungs[t.number] for t in pruned)  # ended at a rung, never promoted
    best = max(trials, key=lambda t: t.params["x"])
    if name == "asha":  # (in 4 brackets of 3 trials a rung may hold too few trials to promote any)
        assert best.state == TrialState.COMPLETE  # the best configuration went all the way
    assert not any(paused_at(t) for t in trials) and not list((tmp_path / "checkpoints").glob("*"))
    assert ("paused", promoted[0]) in events and ("continued", promoted[0]) in events


def test_paused_trials_survive_the_driver_and_a_later_run_continues_them(storage, tmp_path) -> None:
    lc = _lifecycle(storage, tmp_path)
    trainer = _Trainer()
    trainer.stall = True
    drive(_launcher(lc, budget=6), lc, ScriptedPool(2, trainer), poll_s=0, interrupted=lambda: bool(trainer.continuing(lc)))
    promoted_running = trainer.continuing(lc)
    lc.interrupt()  # Ctrl+C: a trial running from its checkpoint goes back to paused there
    paused = [t.number for t in lc.study.get_trials(deepcopy=False) if paused_at(t)]
    assert promoted_running and set(promoted_running) <= set(paused)
    trainer.stall = False
    assert paused and all((tmp_path / "checkpoints" / f"trial_{n}.ckpt").exists() for n in paused)

    from hpo.storage import Store

    store = Store(str(tmp_path / "other.journal"))  # recovery fails dead drivers' RUNNING trials, never paused ones
    assert not set(recover_stale_trials(lc.study, storage, store, stale_after_s=1).interrupted) & set(paused)
    later = Lifecycle(lc.study, storage, lc.rules, None, CheckpointStore(tmp_path / "checkpoints"))
    drive(_launcher(later, budget=6), later, ScriptedPool(2, trainer), poll_s=0)
    later.end_paused()
    trials = later.study.get_trials(deepcopy=False)
    assert all(t.state != TrialState.RUNNING for t in trials)
    continued = [n for n in paused if len(trainer.starts[n]) > 1]
    assert continued and all(_contiguous(trials[n]) for n in continued)


def test_a_dead_drivers_promoted_trial_goes_back_to_paused_and_the_next_run_continues_it(storage, tmp_path) -> None:
    """The driver is SIGKILLed while promoted trials continue from their rungs' checkpoints: the
    next run's recovery sends them back to paused at those rungs (not FAIL, no re-run from epoch
    0), and they continue from the same checkpoints when promoted again."""
    from hpo.storage import Store

    lc = _lifecycle(storage, tmp_path)
    trainer = _Trainer()
    trainer.stall = True
    drive(_launcher(lc, budget=6), lc, ScriptedPool(2, trainer), poll_s=0, interrupted=lambda: bool(trainer.continuing(lc)))
    continuing = trainer.continuing(lc)
    assert continuing  # then the kill: nothing more is written
    trainer.stall = False
    later = Lifecycle(lc.study, storage, lc.rules, None, CheckpointStore(tmp_path / "checkpoints"))
    recovery = later.recover(Store(str(tmp_path / "other.journal")), stale_after_s=1)
    assert sorted(recovery.repaused) == sorted(continuing) and not set(recovery.interrupted) & set(continuing)
    assert all(paused_at(later.study.trials[n]) == rung for n, rung in continuing.items())
    drive(_launcher(later, budget=6), later, ScriptedPool(2, trainer), poll_s=0)
    later.end_paused()
    trials = later.study.get_trials(deepcopy=False)
    assert all(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in trials)
    assert not any(t.user_attrs.get("hpo:retry_of") in continuing for t in trials)  # no re-run from epoch 0
    for number, rung in continuing.items():
        assert _contiguous(trials[number]) and trials[number].user_attrs["hpo:interruptions"] == 1
        assert all(start >= rung for start in trainer.starts[number][2:])  # continued from its checkpoint


def _losing_the_first_continuation(trainer: _Trainer, lost: list[int], times: int = 1):
    """The trainer, except that the first promoted trial's worker is lost after one epoch of each
    of its first ``times`` continuations."""

    def script(number: int, params: dict, whole_gpu: bool, start: bytes | None = None, pause_after: int | None = None) -> list:
        events = trainer(number, params, whole_gpu, start, pause_after)
        if start is not None and (not lost or lost[0] == number) and len(lost) < times:
            lost.append(number)
            return [events[0], Failed(number, "the worker running this trial was lost", True, interrupted=True)]
        return events

    return script


def test_a_promoted_trial_whose_worker_is_lost_goes_back_to_paused_at_its_checkpoint(storage, tmp_path) -> None:
    """It keeps its rung's checkpoint and the epochs before it: no re-run from epoch 0 (no new
    trial), and when promoted again it continues from the same checkpoint, its curve contiguous."""
    events: list = []
    lc = _lifecycle(storage, tmp_path, events)
    trainer, lost = _Trainer(), []
    drive(_launcher(lc, budget=12), lc, ScriptedPool(2, _losing_the_first_continuation(trainer, lost)), poll_s=0)
    lc.end_paused()
    trials = lc.study.get_trials(deepcopy=False)
    (number,) = lost
    assert len(trials) == 12 and TrialState.FAIL not in {t.state for t in trials}  # no re-run: the same trial goes on
    trial = trials[number]
    assert trial.user_attrs["hpo:interruptions"] == 1 and _contiguous(trial)
    first, *again = trainer.starts[number][1:]
    assert again and again[0] == first  # promoted again, from the checkpoint it was continuing from
    assert ("paused", number) in events


def test_a_promoted_trial_lost_too_often_fails_for_good(storage, tmp_path) -> None:
    lc = _lifecycle(storage, tmp_path)
    lc.rules = dataclasses.replace(lc.rules, max_interruptions=1)
    trainer, lost = _Trainer(), []
    drive(_launcher(lc, budget=12), lc, ScriptedPool(2, _losing_the_first_continuation(trainer, lost, times=2)), poll_s=0)
    lc.end_paused()
    trial = lc.study.get_trials(deepcopy=False)[lost[0]]
    assert lost == [lost[0]] * 2 and trial.state == TrialState.FAIL
    assert "more than budget.max_interruptions=1" in trial.user_attrs["hpo:fail_reason"]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_sampler_learns_from_paused_trials_at_their_rung(seed) -> None:
    def sample(sampler: optuna.samplers.BaseSampler) -> list[float]:
        study = optuna.create_study(direction="maximize", sampler=sampler)
        for x in [0.05 + 0.9 * i / 19 for i in range(20)]:  # twenty trials paused at rung 1, none ended
            study.enqueue_trial({"x": x})
            trial = study.ask()
            trial.suggest_float("x", 0.0, 1.0)
            trial.report(x, 1)  # the higher x, the better at rung 1
            trial.set_user_attr("hpo:paused", 1)
        return [study.ask().suggest_float("x", 0.0, 1.0) for _ in range(12)]

    def tpe() -> optuna.samplers.TPESampler:
        return optuna.samplers.TPESampler(n_startup_trials=4, seed=seed)

    blind, aware = sample(tpe()), sample(PausedAwareSampler(tpe()))
    assert sum(x > 0.7 for x in aware) >= 9  # TPE concentrates where rung 1 was best
    assert sum(aware) / len(aware) > sum(blind) / len(blind) + 0.15  # a sampler blind to paused trials samples at random


def test_keep_checkpoints_leaves_each_trials_last_checkpoint(tmp_path) -> None:
    storage = optuna.storages.InMemoryStorage()
    lc = _lifecycle(storage, tmp_path)
    lc.checkpoints = CheckpointStore(tmp_path / "checkpoints", keep=True)
    drive(_launcher(lc, budget=6), lc, ScriptedPool(2, _Trainer()), poll_s=0)
    lc.end_paused()
    kept = {int(p.stem.split("_")[1]): p.read_bytes() for p in (tmp_path / "checkpoints").glob("trial_*.ckpt")}
    paused = {t.number: max(t.intermediate_values) for t in lc.study.trials if t.state == TrialState.PRUNED}
    assert paused and set(paused) <= set(kept)
    assert all(kept[n] == f"epoch={epoch}".encode() for n, epoch in paused.items())  # the checkpoint of the rung it ended at


def _study_with(storage, tmp_path: Path, trials: list[tuple[dict[int, float], int | None]], events: list) -> Lifecycle:
    """A lifecycle whose study holds ``trials`` (curve, paused-at rung or None: running) in order."""
    lc = _lifecycle(storage, tmp_path, events)
    for curve, paused in trials:
        trial = lc.study.ask({"x": optuna.distributions.FloatDistribution(0.0, 1.0)})
        for epoch, value in curve.items():
            trial.report(value, epoch)
        if paused is not None:
            trial.set_user_attr("hpo:paused", paused)
    return lc


IN_PLACE = [
    # (the study's trials: curve and paused-at rung (None: running); trial reporting; epoch; goes on to)
    ("best_at_its_rung", [({1: 0.2}, 1), ({1: 0.9}, None)], 1, 1, 2),
    ("another_paused_trial_is_better", [({1: 0.95}, 1), ({1: 0.9}, None)], 1, 1, None),
    ("too_few_at_the_rung", [({1: 0.9}, None)], 0, 1, None),
    ("a_higher_rung_goes_first", [({1: 0.9, 2: 0.9}, 2), ({1: 0.5, 2: 0.1}, 2), ({1: 0.2}, 1), ({1: 0.8}, None)], 3, 1, None),
    ("not_a_rung", [({1: 0.2, 2: 0.3, 3: 0.1}, None), ({1: 0.9, 2: 0.9, 3: 0.9}, None)], 1, 3, None),
    ("second_rung", [({1: 0.9, 2: 0.2}, 2), ({1: 0.8, 2: 0.9}, None)], 1, 2, 4),
    ("the_last_epoch", [({e: 0.5 for e in range(1, 9)}, None), ({e: 0.9 for e in range(1, 9)}, None)], 1, 8, None),
]


@pytest.mark.parametrize(("trials", "number", "epoch", "goes_on_to"), [c[1:] for c in IN_PLACE], ids=[c[0] for c in IN_PLACE])
def test_a_trial_the_scheduler_would_promote_at_once_goes_on_without_pausing(storage, tmp_path, trials, number, epoch, goes_on_to) -> None:
    """Exactly when ASHA would pick the trial the moment it paused at its rung (asha: rungs 1, 2, 4, 8)."""
    events: list = []
    lc = _study_with(storage, tmp_path, trials, events)
    launcher = _launcher(lc, budget=10)
    assert launcher.promote_in_place(number, epoch) == goes_on_to
    assert (("promoted", number) in events) == (goes_on_to is not None)
    assert paused_at(lc.study.trials[number]) is None  # the study is not touched: it never paused


def test_no_promotion_in_place_once_the_sweep_stops_or_without_promotion(storage, tmp_path) -> None:
    lc = _study_with(storage, tmp_path, [({1: 0.2}, 1), ({1: 0.9}, None)], [])
    assert Launcher(lc, SPACE, budget=10).promote_in_place(1, 1) is None  # a stop-only pruner: nothing pauses
    lc.abort("stopped")
    assert _launcher(lc, budget=10).promote_in_place(1, 1) is None


class _AnsweringPool(ScriptedPool):
    """Trials that report one epoch per poll and, at their rung, pause or go on as the driver's
    answer says (as TrialContext does); counts what each continuation cost."""

    def __init__(self, slots: int) -> None:
        super().__init__(slots, None)
        self.runs: dict[int, dict] = {}
        self.answers: dict[tuple[int, int], int | None] = {}
        self.segments = 0  # launches: fresh starts and continuations from a checkpoint

    def launch(self, number: int, params: dict, whole_gpu: bool = False, start: bytes | None = None, pause_after: int | None = None) -> None:
        first = 0 if start is None else int(start.decode().split("=")[1])
        self.runs[number] = {"x": params["x"], "epoch": first, "pause_after": pause_after, "placed": False}
        self.queues[number] = []
        self.segments += 1

    def hear(self, number: int, epoch: int, go_on_to: int | None = None) -> None:
        super().hear(number, epoch, go_on_to)
        self.answers[(number, epoch)] = go_on_to

    def poll(self, timeout: float) -> list:
        events = []
        for number, run in list(self.runs.items()):
            if number in self.stopped:
                del self.runs[number], self.queues[number]
                events.append(Ended(number, None))
                continue
            if not run["placed"]:
                run["placed"] = True
                events.append(Placed(number, {"host": "here"}))
                continue
            epoch = run["epoch"]
            if epoch and epoch == run["pause_after"]:  # the rung: the answer to its report decides
                go_on_to = self.answers.get((number, epoch))
                if go_on_to is None:
                    del self.runs[number], self.queues[number]
                    events.append(Paused(number, epoch, f"epoch={epoch}".encode()))
                    continue
                run["pause_after"] = go_on_to if go_on_to < EPOCHS else None
            if epoch == EPOCHS:
                del self.runs[number], self.queues[number]
                events.append(Ended(number, None))
                continue
            run["epoch"] = epoch + 1
            events.append(Reported(number, epoch + 1, {"val_accuracy": run["x"] * (epoch + 1) / EPOCHS}))
        return events


def test_promoted_in_place_the_sweep_ends_as_truthful_with_fewer_pauses(storage, tmp_path) -> None:
    events: list = []
    lc = _lifecycle(storage, tmp_path, events)
    pool = _AnsweringPool(2)
    drive(_launcher(lc, budget=12), lc, pool, poll_s=0)
    lc.end_paused()
    trials = lc.study.get_trials(deepcopy=False)
    assert len(trials) == 12 and {t.state for t in trials} <= {TrialState.COMPLETE, TrialState.PRUNED}
    assert all(_contiguous(t) for t in trials)
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    assert complete and all(max(t.intermediate_values) == EPOCHS for t in complete)
    in_place = [number for event, number in events if event == "promoted"]
    continued = [number for event, number in events if event == "continued"]
    assert in_place  # some promotions cost no pause and no rebuild
    assert pool.segments == 12 + len(continued)  # every promotion not in place was a launch from a checkpoint
    assert not any(paused_at(t) for t in trials) and not list((tmp_path / "checkpoints").glob("*"))


def test_a_driver_that_ends_leaves_paused_trials_to_another_live_driver_of_the_study(tmp_path) -> None:
    """Race 3 of issue 26: the first of two drivers to end pruned every paused trial of the study,
    including those the other would still promote. A driver that ends says so in its heartbeat
    record, and ends paused trials only when no other driver of the study is alive; the last does."""
    from hpo.storage import Heartbeat, Store, driver_records, open_storage

    url = str(tmp_path / "s.journal")
    storage = open_storage(url)
    first = _lifecycle(storage, tmp_path)
    second = Lifecycle(first.study, storage, first.rules, None, CheckpointStore(tmp_path / "checkpoints"))
    promotion = Promotion.from_config("asha", {"min_epochs": 1, "reduction_factor": 2}, EPOCHS, "maximize")
    lock = lambda: Store(url).lock("budget")  # noqa: E731 - the launchers' lock, as hpo run takes it
    launchers = [Launcher(lc, SPACE, budget=4, promotion=promotion, run_id=run, lock=lock)
                 for lc, run in ((first, "first"), (second, "second"))]
    launch = launchers[0].next()
    first.report(launch.number, 1, {"val_accuracy": 0.5})
    first.pause(launch.number, 1, b"state after epoch 1")
    beats = [Heartbeat(first.study, "first"), Heartbeat(first.study, "second")]
    for beat in beats:
        beat.beat()  # both drivers alive (this process, this host)
    assert launchers[0].end_sweep(beats[0], stale_after_s=60) == []  # the second may still promote it
    assert paused_at(first.study.trials[launch.number]) == 1
    assert driver_records(first.study)["first"]["ended"] is True
    assert launchers[1].end_sweep(beats[1], stale_after_s=60) == [launch.number]  # the last one ends it
    assert first.study.trials[launch.number].state == TrialState.PRUNED
