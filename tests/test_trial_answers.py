"""A trial waits briefly after each report for the driver's answer (no Ray, no Keras, no wall
clock): a stop that arrives meanwhile stops it at that report; a driver slower than the wait's
share of the epoch costs the trial no more than that share; a trial reporting more often than
every 0.2 s does not wait. The clock is scripted and the waits are recorded, so what is checked is
how long the trial *would* wait, never how long a loaded machine took."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

from hpo import TrialContext, TrialStopped, _constants
from hpo._constants import ANSWER_WAIT_MAX_S, ANSWER_WAIT_MIN_S, ANSWER_WAIT_SHARE
from hpo._trial import Answers

EPOCH_S = 2.0  # the scripted time since the last report: a wait of up to 5% of it, 0.1 s
BUDGET_S = ANSWER_WAIT_SHARE * EPOCH_S


class _Clock:
    """Time that moves only when a test moves it."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class _Driver(Answers):
    """Answers whose wait records (epoch, timeout) and lets the scripted driver answer during it,
    then checks the answer without blocking: whether the report was heard (or stopped) in time."""

    def __init__(self, reply: Callable[[Answers], None] | None = None) -> None:
        super().__init__()
        self.reply = reply
        self.waits: list[tuple[int, float]] = []
        self.answered: list[bool] = []

    def wait(self, epoch: int, timeout: float) -> None:
        self.waits.append((epoch, timeout))
        if self.reply is not None:
            self.reply(self)
        super().wait(epoch, 0)
        self.answered.append(self._heard >= epoch or self.stopped.is_set())


def _context(reply: Callable[[Answers], None] | None = None, epochs: int = 5) -> tuple[TrialContext, _Driver, _Clock]:
    clock, driver = _Clock(), _Driver(reply)
    context = TrialContext(0, {}, None, 0, epochs, _answers=driver, _awaits_answers=True, _clock=clock)
    context._reported_at = clock.now - EPOCH_S
    return context, driver, clock


@pytest.mark.parametrize(("answer", "stopped"), [("hear", False), ("stop", True)], ids=["go_on", "pruned"])
def test_a_report_waits_its_share_for_the_answer_and_a_stop_ends_the_trial_there(answer: str, stopped: bool) -> None:
    context, driver, _ = _context(lambda a: a.hear(1) if answer == "hear" else a.stop())
    if stopped:
        with pytest.raises(TrialStopped):
            context.report(1, {"val_accuracy": 0.5})
    else:
        context.report(1, {"val_accuracy": 0.5})
    assert driver.waits == [(1, pytest.approx(BUDGET_S))] and driver.answered == [True]


def test_the_wait_is_a_share_of_the_time_since_the_last_report_and_never_more_than_the_cap() -> None:
    context, driver, clock = _context(epochs=9)
    context.report(1, {"val_accuracy": 0.5})  # 2 s after the last report
    clock.now += 60.0
    context.report(2, {"val_accuracy": 0.5})  # a minute later: the share would be 3 s
    assert driver.waits == [(1, pytest.approx(BUDGET_S)), (2, pytest.approx(min(ANSWER_WAIT_MAX_S, 3.0)))]
    assert driver.answered == [False, False]


def test_an_answer_to_an_earlier_report_does_not_count_for_this_one() -> None:
    context, driver, clock = _context()
    driver.hear(1)
    context.report(1, {"val_accuracy": 0.5})
    clock.now += EPOCH_S
    context.report(2, {"val_accuracy": 0.6})
    assert [epoch for epoch, _ in driver.waits] == [1, 2]
    assert driver.answered == [True, False]  # epoch 1 heard already; epoch 2 not: it waits out its share


@pytest.mark.parametrize("where", ["last_epoch", "outside_a_sweep", "frequent_reports"])
def test_no_wait_where_nothing_is_saved_or_nobody_answers_in_time(where: str) -> None:
    context, driver, clock = _context(epochs=1 if where == "last_epoch" else 5)
    if where == "outside_a_sweep":
        context._awaits_answers = False
    if where == "frequent_reports":  # just under the minimum's share since the last report
        context._reported_at = clock.now - ANSWER_WAIT_MIN_S / ANSWER_WAIT_SHARE * 0.95
    context.report(1, {"val_accuracy": 0.5})
    assert driver.waits == []


def test_a_stop_before_the_report_raises_without_reporting() -> None:
    sent: list[int] = []
    context, driver, _ = _context()
    context._sink = lambda epoch, metrics: sent.append(epoch)
    driver.stop()
    with pytest.raises(TrialStopped):
        context.report(1, {"val_accuracy": 0.5})
    assert sent == [] and driver.waits == []


RUNG_CASES = [
    # (what the driver answers after the rung report at epoch 2 of 9, pause_after afterwards, whether it stops)
    ("pause", lambda a: a.hear(2), 2, False),
    ("next_rung", lambda a: a.hear(2, 6), 6, False),
    ("to_the_end", lambda a: a.hear(2, 9), None, False),
    ("stop", lambda a: a.stop(), 2, True),
    ("no_answer", None, 2, False),
]


@pytest.mark.parametrize(
    ("answer", "pause_after", "stopped"), [c[1:] for c in RUNG_CASES], ids=[c[0] for c in RUNG_CASES]
)
def test_at_its_rung_a_trial_waits_for_whether_it_pauses_or_goes_on(answer, pause_after, stopped) -> None:
    """At the rung the trial waits for the driver however short its epochs (pausing costs more
    than the wait); promoted at once, it goes on to the next rung (or to the end) instead."""
    context, driver, clock = _context(epochs=9)
    context.pause_after = 2
    driver.hear(1)
    context.report(1, {"val_accuracy": 0.4})
    clock.now += 0.1  # frequent reports: an ordinary report would not wait
    driver.reply = answer
    if stopped:
        with pytest.raises(TrialStopped):
            context.report(2, {"val_accuracy": 0.5})
    else:
        context.report(2, {"val_accuracy": 0.5})
    assert driver.waits[-1] == (2, _constants.RUNG_ANSWER_WAIT_S)
    assert context.pause_after == pause_after


def test_a_waiting_report_wakes_when_another_thread_answers() -> None:
    """The real wait: the driver's answer, from the thread that receives it, ends the wait at once
    (the timeout is far beyond what the test allows the wait to take)."""
    answers = Answers()
    done = threading.Event()

    def waiter() -> None:
        answers.wait(3, timeout=600)
        done.set()

    thread = threading.Thread(target=waiter, daemon=True)
    thread.start()
    answers.hear(2)  # an earlier epoch does not end it
    assert not done.wait(0.05)
    answers.hear(3)
    assert done.wait(60)


@pytest.mark.parametrize("epochs", [[1, 1], [2, 1], [True], [0]], ids=["repeated", "backwards", "bool", "zero"])
def test_epochs_must_be_whole_numbers_from_1_that_increase(epochs: list) -> None:
    from hpo._errors import TrialFailed

    context, _, _ = _context()
    context._awaits_answers = False
    *before, bad = epochs
    for epoch in before:
        context.report(epoch, {"val_accuracy": 0.5})
    with pytest.raises(TrialFailed, match="1-based epochs that increase"):
        context.report(bad, {"val_accuracy": 0.5})


WAITS_SEEN: list[bool] = []


def records_whether_it_waits(trial: TrialContext) -> None:
    """A trial function (named by the sweep below) that notes whether its reports wait for answers."""
    WAITS_SEEN.append(trial._awaits_answers)
    trial.report(1, {"val_accuracy": 0.5})


@pytest.mark.parametrize(("pruner", "waits"), [("none", False), ("median", True), ("asha", True)])
def test_a_sweeps_trials_wait_for_answers_only_where_its_driver_gives_them(pruner: str, waits: bool, tmp_path) -> None:
    """Without a pruner the driver sends no answer per report (RayPool.hear, from the same
    PrunerConfig.answers_reports), so a worker's trial must not wait for one."""
    from hpo.config import load_sweep
    from hpo.executor._worker import TrialWorker

    path = tmp_path / "s.yaml"
    path.write_text(
        "name: s\ndata: {source: digits}\ntrain: {epochs: 3}\n"
        "objective: {metric: val_accuracy, function: 'tests.test_trial_answers:records_whether_it_waits'}\n"
        f"space: {{params: {{x: {{type: float, low: 0.0, high: 1.0}}}}}}\npruner: {{name: {pruner}}}\n"
    )
    sweep = load_sweep(path)
    assert sweep.config.pruner.answers_reports is waits
    WAITS_SEEN.clear()
    events = list(TrialWorker(sweep.config.model_dump(mode="json"), None).run(0, {"x": 0.5}))
    assert [event["kind"] for event in events] == ["start", "report", "end"] and WAITS_SEEN == [waits]
