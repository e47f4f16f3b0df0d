"""The trial lifecycle, the launcher and the driver's loop, driven directly: no Ray, no training.

Each test feeds events in an order the executor can produce (a stop crossing a late result, an
error after a prune decision, a trial that ends silently, Ctrl+C in the middle of a report) and
checks what the study holds afterwards."""

from __future__ import annotations

import itertools
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from hpo.executor import FINISHED, HOLD, Launch, Launcher, Lifecycle, Rules, TrialComplete
from hpo.executor._events import Ended, Failed, Measured, Paused, Placed, Reported
from hpo.executor._launch import spent_trials
from hpo.executor._loop import LoopTimings, drive
from hpo.space import parse_space
from tests.conftest import said

SPACE = parse_space({"x": {"type": "float", "low": 0.0, "high": 1.0}})


@pytest.fixture(params=["memory", "journal"])
def storage(request, tmp_path: Path) -> optuna.storages.BaseStorage:
    if request.param == "memory":
        return optuna.storages.InMemoryStorage()
    return optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(tmp_path / "s.journal")))


def _lifecycle(storage, *, pruner=None, events=None, **rules) -> Lifecycle:
    study = optuna.create_study(storage=storage, direction=rules.get("direction", "maximize"),
                                pruner=pruner or optuna.pruners.NopPruner(), sampler=optuna.samplers.RandomSampler(seed=0))
    defaults = {"metric": "val_accuracy", "direction": "maximize", "max_epochs": 4}
    listener = (lambda notice: events.append(said(notice))) if events is not None else None
    return Lifecycle(study, storage, Rules(**{**defaults, **rules}), listener)


def _start(lifecycle: Lifecycle, x: float = 0.5) -> int:
    trial = lifecycle.study.ask()
    trial.suggest_float("x", 0.0, 1.0) if x is None else trial.suggest_float("x", x, x)
    lifecycle.start(trial, {"x": x})
    return trial.number


def _trial(lifecycle: Lifecycle, number: int) -> optuna.trial.FrozenTrial:
    return lifecycle.study.get_trials(deepcopy=False)[number]


def _acc(value: float) -> dict[str, float]:
    return {"val_accuracy": value, "val_loss": 1 - value}


# -- the lifecycle's transitions ------------------------------------------------------------


def test_trained_to_the_end_is_complete_with_the_last_epochs_value(storage) -> None:
    events: list = []
    lc = _lifecycle(storage, events=events)
    n = _start(lc)
    assert all(lc.report(n, e, _acc(0.1 * e)) for e in range(1, 5))
    lc.end(n)
    t = _trial(lc, n)
    assert t.state == TrialState.COMPLETE and t.value == pytest.approx(0.4)
    assert t.intermediate_values == pytest.approx({1: 0.1, 2: 0.2, 3: 0.3, 4: 0.4})
    assert t.user_attrs["hpo:epochs"] == 4 and t.user_attrs["hpo:val_metrics"] == pytest.approx(_acc(0.4))
    assert lc.counts == {"complete": 1, "pruned": 0, "failed": 0, "interrupted": 0} and not lc.live
    assert [e for e, _ in events] == ["started", "epoch", "epoch", "epoch", "epoch", "complete"]


def test_returned_final_metrics_override_the_last_epoch(storage) -> None:
    lc = _lifecycle(storage)
    n = _start(lc)
    lc.report(n, 1, _acc(0.5))
    lc.end(n, {"val_accuracy": 0.6, "params": 1000.0})
    t = _trial(lc, n)
    assert t.value == 0.6 and t.user_attrs["hpo:val_metrics"] == {"val_accuracy": 0.6, "val_loss": 0.5, "params": 1000.0}


def test_stop_then_a_late_result_keeps_the_pruned_state(storage) -> None:
    lc = _lifecycle(storage, pruner=optuna.pruners.ThresholdPruner(lower=0.5))
    n = _start(lc)
    assert lc.report(n, 1, _acc(0.2)) is False  # the pruner stops it at epoch 1
    assert lc.report(n, 2, _acc(0.9)) is False  # the worker's next epoch crossed the stop
    lc.end(n, _acc(0.9))
    t = _trial(lc, n)
    assert t.state == TrialState.PRUNED and t.intermediate_values == {1: 0.2} and t.value == 0.2
    assert t.user_attrs["hpo:epochs"] == 1 and lc.counts["pruned"] == 1 and lc.counts["complete"] == 0


def test_an_error_after_a_prune_decision_keeps_the_pruned_state(storage) -> None:
    lc = _lifecycle(storage, pruner=optuna.pruners.ThresholdPruner(lower=0.5), max_retries=3)
    n = _start(lc)
    lc.report(n, 1, _acc(0.2))
    lc.fail(n, "the worker running this trial was lost", retryable=True)
    assert _trial(lc, n).state == TrialState.PRUNED
    assert len(lc.study.trials) == 1  # nothing re-queued
    assert lc.counts == {"complete": 0, "pruned": 1, "failed": 0, "interrupted": 0}


def test_the_last_epoch_completes_even_when_the_pruner_would_stop_it(storage) -> None:
    lc = _lifecycle(storage, pruner=optuna.pruners.ThresholdPruner(lower=0.5), max_epochs=2)
    n = _start(lc)
    assert lc.report(n, 1, _acc(0.6))
    assert lc.report(n, 2, _acc(0.1))  # below the threshold, but trained to the end
    lc.end(n)
    assert _trial(lc, n).state == TrialState.COMPLETE


def test_a_trial_that_ends_silently_fails_with_the_reason(storage) -> None:
    lc = _lifecycle(storage)
    n = _start(lc)
    lc.end(n, None)
    t = _trial(lc, n)
    assert t.state == TrialState.FAIL and "ended without reporting any metric" in t.user_attrs["hpo:fail_reason"]


@pytest.mark.parametrize(("retryable", "max_retries", "requeued"), [(True, 1, True), (True, 0, False), (False, 3, False)],
                         ids=["worker_lost_retried", "no_retries_allowed", "config_error_never_retried"])
def test_failures_are_requeued_only_when_not_the_configurations_fault(storage, retryable, max_retries, requeued) -> None:
    lc = _lifecycle(storage, max_retries=max_retries)
    n = _start(lc, x=0.25)
    lc.report(n, 1, _acc(0.5))
    lc.fail(n, "boom", retryable=retryable)
    t = _trial(lc, n)
    assert t.state == TrialState.FAIL and t.user_attrs["hpo:fail_reason"] == "boom"
    waiting = lc.study.get_trials(states=(TrialState.WAITING,))
    assert bool(waiting) is requeued
    if requeued:
        assert waiting[0].user_attrs == {"hpo:retry_of": n, "hpo:attempt": 1}
        retry = lc.study.ask()
        assert retry.suggest_float("x", 0.0, 1.0) == 0.25  # the same configuration runs again


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_a_non_finite_objective_fails_at_that_epoch(storage, value) -> None:
    lc = _lifecycle(storage, max_retries=2)
    n = _start(lc)
    assert lc.report(n, 1, _acc(0.5))
    assert lc.report(n, 2, _acc(value)) is False
    t = _trial(lc, n)
    assert t.state == TrialState.FAIL and f"is {value} at epoch 2" in t.user_attrs["hpo:fail_reason"]
    assert not lc.study.get_trials(states=(TrialState.WAITING,))  # a non-finite objective is not retried


def test_a_missing_objective_metric_aborts_the_sweep_and_stops_the_others(storage) -> None:
    lc = _lifecycle(storage, max_retries=2)
    a, b = _start(lc), _start(lc)
    lc.report(b, 1, _acc(0.5))
    assert lc.report(a, 1, {"val_acc": 0.5, "val_loss": 0.5}) is False
    assert lc.abort_reason and "it reports val_acc, val_loss" in lc.abort_reason and lc.stopping
    ta, tb = _trial(lc, a), _trial(lc, b)
    assert ta.state == tb.state == TrialState.FAIL
    assert "stopped because the sweep was aborted" in tb.user_attrs["hpo:fail_reason"]
    assert not lc.study.get_trials(states=(TrialState.WAITING,)) and not lc.live


def test_an_abort_never_requeues_the_live_trials_it_fails(storage) -> None:
    lc = _lifecycle(storage, max_retries=3)
    a, b = _start(lc), _start(lc)
    lc.report(a, 1, _acc(0.5))
    lc.abort("the data went away")
    assert [t.state for t in lc.study.trials] == [TrialState.FAIL, TrialState.FAIL]
    assert not lc.study.get_trials(states=(TrialState.WAITING,)) and not lc.live
    assert all("the data went away" in _trial(lc, n).user_attrs["hpo:fail_reason"] for n in (a, b))


def test_consecutive_failures_abort_and_a_success_resets_the_count(storage) -> None:
    lc = _lifecycle(storage, max_consecutive_failures=2)
    lc.fail(_start(lc), "broken", retryable=False)
    n = _start(lc)
    lc.report(n, 1, _acc(0.5))
    lc.end(n)
    lc.fail(_start(lc), "broken", retryable=False)
    assert lc.abort_reason is None
    lc.fail(_start(lc), "broken", retryable=False)
    assert lc.abort_reason.startswith("2 trials failed in a row") and "last reason: broken" in lc.abort_reason


def test_interrupt_mid_report_leaves_nothing_running_and_requeues(storage) -> None:
    lc = _lifecycle(storage, max_retries=1)
    a, b = _start(lc), _start(lc)
    lc.report(a, 1, _acc(0.5))
    lc.interrupt()
    assert lc.report(b, 1, _acc(0.5)) is False  # a report that arrives during the shutdown
    assert not lc.study.get_trials(states=(TrialState.RUNNING,))
    assert {t.user_attrs["hpo:retry_of"] for t in lc.study.get_trials(states=(TrialState.WAITING,))} == {a, b}
    assert lc.interrupted and lc.stopping and lc.consecutive_failures == 0


@pytest.mark.parametrize(("direction", "values", "reached"), [("maximize", [0.5, 0.95], True), ("minimize", [0.5, 0.2], False), ("minimize", [0.5, 0.05], True)])
def test_the_target_value_stops_launching(storage, direction, values, reached) -> None:
    lc = _lifecycle(storage, direction=direction, target=0.9 if direction == "maximize" else 0.1, max_epochs=1)
    for value in values:
        n = _start(lc)
        lc.report(n, 1, _acc(value))
        lc.end(n)
    assert lc.target_reached is reached and lc.stopping is reached


@pytest.mark.parametrize(
    ("value", "feasible"), [(0.5, True), (0.50000001, False), (0.49, True)], ids=["at_the_bound", "past_it", "inside"]
)
def test_a_metric_exactly_at_its_bound_is_feasible(storage, value: float, feasible: bool) -> None:
    from hpo.config import parse_constraint

    lc = _lifecycle(storage, max_epochs=1, constraints=(parse_constraint("val_loss <= 0.5"),))
    events: list = []
    lc._listener = events.append
    n = _start(lc)
    lc.report(n, 1, {"val_accuracy": 0.5, "val_loss": value})
    lc.end(n)
    assert events[-1].feasible is feasible
    assert (_trial(lc, n).constraints["val_loss <= 0.5"] <= 0) is feasible
    from hpo.study import is_feasible

    assert is_feasible(_trial(lc, n)) is feasible


def test_a_constraint_on_a_metric_the_trial_never_reported_is_violated(storage) -> None:
    from hpo.config import parse_constraint

    lc = _lifecycle(storage, max_epochs=1, constraints=(parse_constraint("latency_ms <= 2"),))
    events: list = []
    lc._listener = events.append
    n = _start(lc)
    lc.report(n, 1, _acc(0.9))
    lc.end(n)
    assert events[-1].feasible is False and _trial(lc, n).constraints == {"latency_ms <= 2": 1.0}


@pytest.mark.parametrize("feasible", [True, False], ids=["feasible", "infeasible"])
def test_only_a_feasible_trial_reaching_the_target_stops_the_sweep(storage, feasible: bool) -> None:
    from hpo.config import parse_constraint

    lc = _lifecycle(storage, max_epochs=1, target=0.9, constraints=(parse_constraint("val_loss <= 0.5"),))
    n = _start(lc)
    lc.report(n, 1, {"val_accuracy": 0.95, "val_loss": 0.1 if feasible else 0.9})
    lc.end(n)
    assert lc.target_reached is feasible and lc.stopping is feasible


def test_placement_is_recorded(storage) -> None:
    lc = _lifecycle(storage)
    n = _start(lc)
    lc.placed(n, {"node": "abc", "host": "h", "pid": 7, "gpus": ["1"]})
    assert _trial(lc, n).user_attrs["hpo:placement"] == {"node": "abc", "host": "h", "pid": 7, "gpus": ["1"]}


# -- the launcher -----------------------------------------------------------------------------


def _launcher(lc: Lifecycle, **kwargs) -> Launcher:
    return Launcher(lc, SPACE, **{"budget": 3, **kwargs})


def test_the_launchers_running_budget_count_equals_a_count_from_scratch_at_every_step(storage) -> None:
    """BudgetTally reads only the trials not finished at its last read and the new ones: at every
    step of a study's life (trials asked, enqueued, finished, failed and retried, interrupted,
    carried over, another driver's) it must equal a count over all trials."""
    from hpo.executor._launch import BudgetCount, BudgetTally
    from hpo.study import fail_trial, interrupt_trial

    study = optuna.create_study(storage=storage, direction="maximize")
    tally = BudgetTally()
    steps = []

    def check() -> None:
        trials = study.get_trials(deepcopy=False)
        steps.append(tally.count(trials))
        assert steps[-1] == BudgetCount.of(trials), len(steps)

    check()
    running = [study.ask() for _ in range(3)]
    check()
    study.tell(running[0], 0.5)
    study.tell(running[1], state=TrialState.PRUNED)
    study.enqueue_trial({"x": 0.1})  # a warm start: waiting
    check()
    fail_trial(study, storage, running[2].number, "lost", retryable=True, max_retries=1)  # FAIL, a retry queued
    check()
    retry = study.ask()  # the retry runs
    check()
    interrupt_trial(study, storage, retry.number, "its worker was lost", max_interruptions=3)  # FAIL, queued again
    check()
    study.add_trial(optuna.trial.create_trial(value=0.9, user_attrs={"hpo:carried_from": {"study": "old", "trial": 0}}))
    other = study.ask()  # another driver's
    check()
    while study.get_trials(deepcopy=False, states=(TrialState.WAITING,)):
        study.tell(study.ask(), 0.6)  # the queued trials run
    study.tell(other, state=TrialState.FAIL)  # its own error, not retried
    check()
    assert [step.spent for step in steps] != [steps[0].spent] * len(steps) and any(step.waiting for step in steps)


def test_the_budget_counts_retries_once_and_waits_for_running_trials(storage) -> None:
    lc = _lifecycle(storage, max_retries=1)
    launcher = _launcher(lc, budget=2)
    first, second = launcher.next(), launcher.next()
    assert isinstance(first, Launch) and isinstance(second, Launch)
    assert launcher.next() is HOLD  # budget spent, but a running trial may still fail
    lc.fail(first.number, "lost", retryable=True)  # re-queued: the retry replaces it in the count
    retry = launcher.next()
    assert isinstance(retry, Launch) and retry.params == first.params
    for step in (second, retry):
        lc.report(step.number, 4, _acc(0.5))
        lc.end(step.number)
    assert launcher.next() is FINISHED


def test_a_failure_that_is_not_retried_counts_against_the_budget(storage) -> None:
    lc = _lifecycle(storage)
    launcher = _launcher(lc, budget=2)
    first, second = launcher.next(), launcher.next()
    lc.fail(first.number, "Keras rejected this configuration", retryable=False)
    assert launcher.next() is HOLD
    lc.report(second.number, 4, _acc(0.5))
    lc.end(second.number)
    assert launcher.next() is FINISHED and len(lc.study.trials) == 2


def test_the_sampler_start_up_phase_holds_new_trials(storage) -> None:
    lc = _lifecycle(storage)
    launcher = _launcher(lc, budget=10, startup_trials=2)
    a, b = launcher.next(), launcher.next()
    assert launcher.next() is HOLD  # two random trials are out; wait until they finish
    lc.report(a.number, 4, _acc(0.5))
    lc.end(a.number)
    assert launcher.next() is HOLD
    lc.report(b.number, 4, _acc(0.5))
    lc.end(b.number)
    assert isinstance(launcher.next(), Launch)


def test_the_deadline_and_an_abort_finish_the_launcher(storage) -> None:
    now = itertools.count(0.0, 5.0)
    lc = _lifecycle(storage)
    launcher = _launcher(lc, budget=100, timeout=15.0, clock=lambda: next(now))  # the clock starts at the first launch
    assert isinstance(launcher.next(), Launch) and isinstance(launcher.next(), Launch)
    assert launcher.next() is FINISHED
    lc2 = _lifecycle(optuna.storages.InMemoryStorage())
    lc2.abort("bad")
    assert _launcher(lc2).next() is FINISHED


def test_warm_starts_run_first(storage) -> None:
    lc = _lifecycle(storage)
    lc.study.enqueue_trial({"x": 0.123})
    step = _launcher(lc).next()
    assert step.params == {"x": 0.123}


# -- the loop, with a scripted in-process pool ------------------------------------------------


class ScriptedPool:
    """Runs each launched trial as a scripted list of events, one event per poll (the events a worker
    has sent; a script that runs out before its trial's end is a worker still training); records stops."""

    def __init__(self, slots: int, script) -> None:
        self.slots = slots
        self.script = script  # (number, params) -> list of events
        self.queues: dict[int, list] = {}
        self.stopped: list[int] = []
        self.heard: list[tuple[int, int]] = []  # (trial, epoch) reports the driver let go on
        self.kept_checkpoints: list[tuple[int, int]] = []  # (trial, epoch) checkpoints the driver keeps
        self.whole: list[int] = []  # trials launched on a whole GPU
        self.measurer = None  # (number, params, seed) -> final metrics or None: the noise re-trainings
        self.measuring: list[Measured] = []  # done at the next poll
        self.measured: list[tuple[int, int]] = []  # (trial, seed) re-trained for the noise
        self.polls = 0

    def free_slots(self) -> int:
        return self.slots - len(self.queues) - len(self.measuring)

    def measure(self, number: int, params: dict, seed: int) -> None:
        self.measured.append((number, seed))
        metrics = self.measurer(number, params, seed)
        self.measuring.append(Measured(number, seed, metrics, "" if metrics else "it failed"))

    def running(self) -> list[int]:
        return list(self.queues)

    def launch(self, number: int, params: dict, whole_gpu: bool = False, start: bytes | None = None, pause_after: int | None = None) -> None:
        if whole_gpu:
            self.whole.append(number)
        extra = (start, pause_after) if start is not None or pause_after is not None else ()
        self.queues[number] = [Placed(number, {"host": "here"}), *self.script(number, params, whole_gpu, *extra)]

    def stop(self, number: int) -> None:
        if number not in self.stopped:
            self.stopped.append(number)

    def hear(self, number: int, epoch: int, go_on_to: int | None = None) -> None:
        self.heard.append((number, epoch) if go_on_to is None else (number, epoch, go_on_to))

    def kept(self, number: int, epoch: int) -> None:
        self.kept_checkpoints.append((number, epoch))

    def poll(self, timeout: float) -> list:
        self.polls += 1
        events, self.measuring = list(self.measuring), []
        for number in [n for n, queue in self.queues.items() if queue]:
            event = self.queues[number].pop(0)
            events.append(event)
            if isinstance(event, (Ended, Paused, Failed)):
                del self.queues[number]
        return events


def _curve(number: int, params: dict, whole_gpu: bool = False) -> list:
    good = params["x"] > 0.5
    reports = [Reported(number, e, _acc((0.9 if good else 0.1) * e / 4)) for e in range(1, 5)]
    return [*reports, Ended(number, None)]


def test_the_loop_runs_the_budget_and_stops_the_workers_of_pruned_trials(storage) -> None:
    lc = _lifecycle(storage, pruner=optuna.pruners.ThresholdPruner(lower=0.1, n_warmup_steps=2))
    pool = ScriptedPool(2, _curve)
    drive(_launcher(lc, budget=8), lc, pool, poll_s=0)
    states = {t.number: t.state for t in lc.study.trials}
    assert len(states) == 8 and TrialState.RUNNING not in states.values()
    pruned = [n for n, s in states.items() if s == TrialState.PRUNED]
    assert pruned and sorted(pool.stopped) == sorted(pruned)
    for t in lc.study.trials:  # every pruned trial's curve ends where the pruner decided, not later
        if t.state == TrialState.PRUNED:
            assert max(t.intermediate_values) == 2


class _SlowPool(ScriptedPool):
    """Each poll takes ``POLL`` seconds of the loop's clock, as a worker's next event would; the
    clock moves only then (the loop's own work takes no scripted time)."""

    POLL = 0.25

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.now = 0.0

    def clock(self) -> float:
        return self.now

    def poll(self, timeout: float) -> list:
        self.now += self.POLL
        return super().poll(timeout)


def _polls(seconds: float, polls: int) -> bool:
    """Whether ``seconds`` of the scripted clock are exactly ``polls`` polls."""
    return seconds == pytest.approx(polls * _SlowPool.POLL)


def test_the_loop_accounts_the_slots_the_start_up_hold_and_the_spent_budget_leave_idle(storage) -> None:
    """Trial 0 ends 2 polls before trial 1: one slot is held back for those 2 polls (TPE's
    random start-up of 2 trials must finish first), then trial 2, the last, runs its 6 polls
    (placed, 4 reports, end) beside an idle slot."""

    def script(number: int, params: dict, whole_gpu: bool) -> list:
        return _curve(number, params)[2:] if number == 0 else _curve(number, params)

    lc = _lifecycle(storage)
    pool = _SlowPool(2, script)
    timings = LoopTimings(now=pool.clock)
    drive(_launcher(lc, budget=3, startup_trials=2), lc, pool, poll_s=0, timings=timings)
    assert [t.state for t in lc.study.trials] == [TrialState.COMPLETE] * 3
    assert _polls(timings.held_slot_s, 2), timings
    assert _polls(timings.drained_slot_s, 6), timings


def test_the_loop_accounts_a_pruned_trials_worker_until_it_has_stopped(storage) -> None:
    """Trial 0 is pruned at a report; its worker (scripted, it does not stop) still sends the rest
    of its four reports and its end, one per poll, before it is free."""

    def script(number: int, params: dict, whole_gpu: bool) -> list:
        return _curve(number, {"x": 0.9 if number else 0.1})

    lc = _lifecycle(storage, pruner=optuna.pruners.ThresholdPruner(lower=0.2, n_warmup_steps=2))
    pool = _SlowPool(2, script)
    timings = LoopTimings(now=pool.clock)
    drive(_launcher(lc, budget=2), lc, pool, poll_s=0, timings=timings)
    pruned, complete = lc.study.trials
    assert (pruned.state, complete.state) == (TrialState.PRUNED, TrialState.COMPLETE)
    pruned_at = max(pruned.intermediate_values)
    assert _polls(timings.stopping_slot_s, 4 - pruned_at + 1), timings
    # each report the trial goes on from is answered (a trial waits briefly for that); the pruned one is not
    assert [e for n, e in pool.heard if n == pruned.number] == list(range(1, pruned_at))
    assert [e for n, e in pool.heard if n == complete.number] == [1, 2, 3, 4]


def test_the_loop_fails_a_trial_whose_worker_is_lost_and_runs_its_retry(storage) -> None:
    lost = set()

    def script(number: int, params: dict, whole_gpu: bool) -> list:
        if number == 0 and number not in lost:
            lost.add(number)
            return [Reported(number, 1, _acc(0.5)), Failed(number, "the worker running this trial was lost", True)]
        return _curve(number, params)

    lc = _lifecycle(storage, max_retries=1)
    drive(_launcher(lc, budget=3), lc, ScriptedPool(2, script), poll_s=0)
    trials = lc.study.trials
    assert [t.state for t in trials].count(TrialState.FAIL) == 1 and len(trials) == 4
    retry = next(t for t in trials if t.user_attrs.get("hpo:retry_of") == 0)
    assert retry.state == TrialState.COMPLETE and retry.params == trials[0].params


def test_when_interrupted_the_loop_reads_what_the_workers_sent_and_returns(storage) -> None:
    """Interrupted after 3 polls (placed, epoch 1, epoch 2), with epochs 3 and 4 sent but unread and
    the trials still training: the loop launches nothing more, reads what was sent and returns."""

    def still_training(number: int, params: dict, whole_gpu: bool) -> list:
        return [Reported(number, e, _acc(e / 10)) for e in range(1, 5)]

    lc = _lifecycle(storage)
    pool = ScriptedPool(2, still_training)
    drive(_launcher(lc, budget=8), lc, pool, poll_s=0, interrupted=lambda: pool.polls >= 3)
    assert sorted(lc.live) == [0, 1] and len(lc.study.trials) == 2  # the caller (run_sweep) interrupts them next
    assert all(t.intermediate_values == {1: 0.1, 2: 0.2, 3: 0.3, 4: 0.4} for t in lc.study.trials)
    lc.interrupt()
    assert not lc.study.get_trials(states=(TrialState.RUNNING,))


@pytest.mark.parametrize(
    ("gpus_per_trial", "max_oom_retries", "whole"),
    [(0.5, 1, True), (0.25, 2, True), (0.5, 0, False), (1.0, 1, False), (0.0, 1, False)],
    ids=["share", "two_retries_but_one_whole_run", "no_oom_retries", "whole_gpu_already", "cpu"],
)
def test_out_of_memory_on_a_gpu_share_is_retried_once_on_a_whole_gpu(storage, gpus_per_trial, max_oom_retries, whole) -> None:
    def script(number: int, params: dict, whole_gpu: bool) -> list:
        if params["x"] > 0.5 and not whole_gpu:
            return [Reported(number, 1, _acc(0.5)), Failed(number, "RuntimeError: out of memory", retryable=False, oom=True)]
        return _curve(number, params)

    lc = _lifecycle(storage, gpus_per_trial=gpus_per_trial, max_oom_retries=max_oom_retries, max_consecutive_failures=20)
    pool = ScriptedPool(2, script)
    drive(_launcher(lc, budget=6), lc, pool, poll_s=0)
    trials = lc.study.trials
    ooms = [t for t in trials if t.state == TrialState.FAIL]
    assert ooms and not lc.live
    for t in ooms:
        retries = [r for r in trials if r.user_attrs.get("hpo:retry_of") == t.number]
        if whole:
            assert t.user_attrs["hpo:fail_reason"] == (
                f"RuntimeError: out of memory; it ran out of memory on a share of a GPU (gpus_per_trial={gpus_per_trial:g}): "
                f"queued again with a whole GPU (budget.max_oom_retries={max_oom_retries})")
            (retry,) = retries
            assert retry.state == TrialState.COMPLETE and retry.number in pool.whole and retry.params == t.params
        else:
            assert t.user_attrs["hpo:fail_reason"] == "RuntimeError: out of memory" and not retries
    assert sorted(pool.whole) == sorted(r.number for r in trials if r.user_attrs.get("hpo:whole_gpu"))
    assert len(trials) == (6 + len(ooms) if whole else 6)  # a whole-GPU retry replaces its trial in the budget


def test_out_of_memory_retries_on_whole_gpus_are_no_failures_in_a_row(storage) -> None:
    """Race 6 of issue 26: every trial of a packed sweep runs out of memory on its share; each is
    queued again with a whole GPU, so none is a failure in a row and the sweep goes on (it had
    aborted after max_consecutive_failures of them)."""

    def script(number: int, params: dict, whole_gpu: bool) -> list:
        if not whole_gpu:
            return [Failed(number, "RuntimeError: out of memory", retryable=False, oom=True)]
        return _curve(number, params)

    lc = _lifecycle(storage, gpus_per_trial=0.25, max_oom_retries=1, max_consecutive_failures=2)
    drive(_launcher(lc, budget=4), lc, ScriptedPool(2, script), poll_s=0)
    assert lc.abort_reason is None
    states = [t.state for t in lc.study.trials]
    assert states.count(TrialState.FAIL) == 4 and states.count(TrialState.COMPLETE) == 4


# -- several goals ----------------------------------------------------------------------------


def _non_dominated(points: dict[int, tuple[float, ...]], directions: list[str]) -> set[int]:
    """An independent Pareto front: the points no other point is at least as good as on every
    goal and better on one."""
    sign = [1 if d == "maximize" else -1 for d in directions]

    def dominates(a, b) -> bool:
        return all(s * x >= s * y for s, x, y in zip(sign, a, b)) and any(s * x > s * y for s, x, y in zip(sign, a, b))

    return {n for n, p in points.items() if not any(dominates(q, p) for m, q in points.items() if m != n)}


def _multi(storage, pruner, constraints=()):
    from hpo.config import parse_constraint

    study = optuna.create_study(storage=storage, directions=["maximize", "minimize"], pruner=pruner,
                                sampler=optuna.samplers.RandomSampler(seed=3))
    rules = Rules(metric="val_accuracy", direction="maximize", max_epochs=4,
                  goals=(("val_accuracy", "maximize"), ("cost", "minimize")),
                  constraints=tuple(parse_constraint(c) for c in constraints))
    return Lifecycle(study, storage, rules)


def _two_goals(number: int, params: dict, whole_gpu: bool = False) -> list:
    """Accuracy rises with x (and declines after epoch 1 below 0.5); the better the accuracy, the
    higher the cost (a trade-off)."""
    x = params["x"]
    reports = [Reported(number, e, {"val_accuracy": x / 4 * (e if x >= 0.5 else 1.1 - 0.1 * e)}) for e in range(1, 5)]
    return [*reports, Ended(number, {"val_accuracy": x, "cost": 100 * x**2 + 10 * (number % 3)})]


MULTI_PRUNERS = {
    "median": optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=1),
    "percentile": optuna.pruners.PercentilePruner(40.0, n_startup_trials=3, n_warmup_steps=1),
    "successive_halving": optuna.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=2),
    "threshold": optuna.pruners.ThresholdPruner(lower=0.1, n_warmup_steps=1),
    "patient": optuna.pruners.PatientPruner(optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=1), patience=0),
}


@pytest.mark.parametrize("name", MULTI_PRUNERS)
def test_a_multi_objective_study_is_pruned_on_the_watched_metric_and_keeps_its_true_front(storage, name) -> None:
    lc = _multi(storage, MULTI_PRUNERS[name])
    drive(_launcher(lc, budget=16), lc, ScriptedPool(2, _two_goals), poll_s=0)
    trials = lc.study.trials
    pruned = [t for t in trials if t.state == TrialState.PRUNED]
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    assert pruned and complete and len(trials) == 16 and lc.counts["pruned"] == len(pruned)
    for t in pruned:  # stopped early, on its val_accuracy curve, with no values of its own
        assert max(t.intermediate_values) < 4 and t.values is None
        assert t.intermediate_values[1] == pytest.approx(t.params["x"] / 4)
    for t in complete:
        metrics = t.user_attrs["hpo:val_metrics"]
        assert t.values == [metrics["val_accuracy"], metrics["cost"]]
    expected = _non_dominated({t.number: tuple(t.values) for t in complete}, ["maximize", "minimize"])
    from hpo.study import pareto_front

    assert {t.number for t in pareto_front(lc.study)} == expected


def test_constraints_are_recorded_and_an_infeasible_trial_is_never_on_the_front(storage) -> None:
    lc = _multi(storage, optuna.pruners.NopPruner(), constraints=("cost <= 40", "val_accuracy >= 0.2"))
    events: list = []
    lc._listener = events.append
    drive(_launcher(lc, budget=12), lc, ScriptedPool(2, _two_goals), poll_s=0)
    complete = lc.study.get_trials(states=(TrialState.COMPLETE,))
    feasible = {t.number for t in complete if t.user_attrs["hpo:val_metrics"]["cost"] <= 40 and t.params["x"] >= 0.2}
    assert feasible and len(feasible) < len(complete)  # the constraints cut some trials
    for t in complete:
        cost, acc = t.user_attrs["hpo:val_metrics"]["cost"], t.params["x"]
        assert t.constraints == pytest.approx({"cost <= 40": cost - 40, "val_accuracy >= 0.2": 0.2 - acc})
    told = {n.number: n.feasible for n in events if isinstance(n, TrialComplete)}
    assert {n for n, ok in told.items() if ok} == feasible
    from hpo.config import ObjectiveConfig
    from hpo.study import best_trial, is_feasible, pareto_front

    front = pareto_front(lc.study)
    assert {t.number for t in front} == _non_dominated({t.number: tuple(t.values) for t in complete if t.number in feasible}, ["maximize", "minimize"])
    assert all(is_feasible(t) for t in front)
    objective = ObjectiveConfig.model_validate({"goals": [{"metric": "val_accuracy", "direction": "maximize"}, {"metric": "cost", "direction": "minimize"}]})
    best = best_trial(lc.study, objective)
    assert best.number in feasible and best.values[0] == max(t.values[0] for t in front)


def test_in_a_single_objective_sweep_an_infeasible_trial_is_never_the_best(storage) -> None:
    from hpo.config import ObjectiveConfig, parse_constraint
    from hpo.study import best_trial, is_feasible, pareto_front

    lc = _lifecycle(storage, max_epochs=1, constraints=(parse_constraint("val_loss <= 0.5"),))
    objective = ObjectiveConfig.model_validate({"metric": "val_accuracy", "direction": "maximize"})
    n = _start(lc)
    lc.report(n, 1, {"val_accuracy": 0.99, "val_loss": 0.9})  # the highest value, infeasible
    lc.end(n)
    assert best_trial(lc.study, objective) is None and pareto_front(lc.study) == []
    for accuracy in (0.7, 0.8, 0.8):
        n = _start(lc)
        lc.report(n, 1, {"val_accuracy": accuracy, "val_loss": 0.2})
        lc.end(n)
    best = best_trial(lc.study, objective)
    assert best is not None and best.number == 2 and best.value == 0.8 and is_feasible(best)
    assert [t.number for t in pareto_front(lc.study)] == [2, 3]  # the feasible optimum's ties, by number


# -- interrupted is not failed ----------------------------------------------------------------


def _chain(lc: Lifecycle, number: int) -> list[optuna.trial.FrozenTrial]:
    """The trials that re-ran trial ``number``'s configuration, in order."""
    trials, chain = lc.study.get_trials(deepcopy=False), []
    while (nxt := next((t for t in trials if t.user_attrs.get("hpo:retry_of") == number), None)) is not None:
        chain.append(nxt)
        number = nxt.number
    return chain


def test_ctrl_c_requeues_the_running_trials_whatever_max_retries_says(storage) -> None:
    lc = _lifecycle(storage, max_retries=0)
    a, b = _start(lc), _start(lc)
    lc.report(a, 1, _acc(0.5))
    lc.interrupt()
    for number in (a, b):
        trial = _trial(lc, number)
        assert trial.state == TrialState.FAIL and trial.user_attrs["hpo:interrupted"] is True
        (again,) = _chain(lc, number)
        assert again.state == TrialState.WAITING and again.system_attrs["fixed_params"] == trial.params
        assert again.user_attrs.get("hpo:attempt", 0) == 0  # max_retries is for the trial's own errors
    assert lc.counts["interrupted"] == 2 and lc.counts["failed"] == 0 and lc.consecutive_failures == 0


def test_a_lost_worker_reruns_its_trial_at_once_and_it_is_no_failure(storage) -> None:
    def script(number: int, params: dict, whole_gpu: bool) -> list:
        if number == 0:
            return [Reported(number, 1, _acc(0.5)), Failed(number, "the worker running this trial was lost", True, interrupted=True)]
        return _curve(number, params)

    lc = _lifecycle(storage, max_retries=0, max_consecutive_failures=1)
    drive(_launcher(lc, budget=3), lc, ScriptedPool(2, script), poll_s=0)
    trials = lc.study.trials
    assert lc.abort_reason is None  # an interruption is no failure in a row
    assert [t.state for t in trials].count(TrialState.COMPLETE) == 3 and len(trials) == 4
    (again,) = _chain(lc, 0)
    assert again.state == TrialState.COMPLETE and again.params == trials[0].params
    assert spent_trials(trials) == 3  # the configuration counts once in the budget


def test_a_configuration_interrupted_more_than_max_interruptions_times_fails_for_good(storage) -> None:
    def script(number: int, params: dict, whole_gpu: bool) -> list:
        return [Failed(number, "the worker running this trial was lost: its process died", True, interrupted=True)]

    lc = _lifecycle(storage, max_retries=0, max_interruptions=2, max_consecutive_failures=10)
    drive(_launcher(lc, budget=1), lc, ScriptedPool(1, script), poll_s=0)
    trials = lc.study.trials
    assert [t.state for t in trials] == [TrialState.FAIL] * 3  # the first run and its 2 re-runs
    assert "interrupted 3 times" in trials[-1].user_attrs["hpo:fail_reason"]
    assert lc.counts == {"complete": 0, "pruned": 0, "failed": 1, "interrupted": 2}


class _StarvedPool(ScriptedPool):
    """A cluster whose capacity falls to zero once ``after`` trials were launched: no free slot,
    nothing running (every worker retired), as RayPool is after its last node was lost."""

    def __init__(self, size: int, script, after: int) -> None:
        super().__init__(size, script)
        self.after = after
        self.launched = 0
        self.polls = 0

    def launch(self, number: int, params: dict, *args) -> None:
        self.launched += 1
        super().launch(number, params, *args)

    def free_slots(self) -> int:
        return 0 if self.launched >= self.after else super().free_slots()

    def poll(self, timeout: float) -> list:
        self.polls += 1
        return super().poll(timeout)


def test_at_zero_capacity_the_sweeps_timeout_still_ends_it(storage) -> None:
    """Race 2 of issue 26: with every worker gone the loop never asked the launcher again, so
    budget.timeout never fired (and the driver spun). The timeout is on a scripted clock."""
    now = [0.0]
    lc = _lifecycle(storage)
    pool = _StarvedPool(2, _curve, after=2)
    launcher = _launcher(lc, budget=50, timeout=60.0, clock=lambda: now[0])

    def interrupted() -> bool:  # time passes with every turn of the loop; a safety stop far past the timeout
        now[0] += 1.0
        return pool.polls > 10_000

    drive(launcher, lc, pool, poll_s=0, interrupted=interrupted)
    assert pool.polls < 10_000, "the loop never noticed the sweep's timeout"
    assert launcher.out_of_time() and len(lc.study.trials) == 2
