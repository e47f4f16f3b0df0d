"""A trial waits briefly after each report for the driver's answer (no Ray, no Keras): a stop
that arrives meanwhile stops it at that report; a driver slower than the wait's share of the
epoch costs the trial no more than that share; a trial reporting more often than every 0.2 s
does not wait."""

from __future__ import annotations

import threading
import time

import pytest

from hpo import TrialContext, TrialStopped, _constants
from hpo._constants import ANSWER_WAIT_SHARE
from hpo._trial import Answers

EPOCH_S = 2.0  # the pretended time since the last report: a wait of up to 5% of it, 0.1 s
BUDGET_S = ANSWER_WAIT_SHARE * EPOCH_S


def _context(epochs: int = 5) -> TrialContext:
    answers = Answers()  # as TrialWorker.run builds it
    context = TrialContext(0, {}, None, 0, epochs, _answers=answers, _awaits_answers=True)
    context._reported_at = time.monotonic() - EPOCH_S
    return context


def _later(seconds: float, action) -> None:
    threading.Timer(seconds, action).start()


@pytest.mark.parametrize(
    ("answer", "stopped"),
    [("hear", False), ("stop", True)],
    ids=["go_on", "pruned"],
)
def test_a_report_returns_as_soon_as_the_driver_answers(answer: str, stopped: bool) -> None:
    context = _context()
    _later(0.02, lambda: context._answers.hear(1) if answer == "hear" else context._answers.stop())
    start = time.monotonic()
    if stopped:
        with pytest.raises(TrialStopped):
            context.report(1, {"val_accuracy": 0.5})
    else:
        context.report(1, {"val_accuracy": 0.5})
    assert 0.015 <= time.monotonic() - start < BUDGET_S


def test_without_an_answer_a_report_waits_only_its_share_of_the_epoch() -> None:
    context = _context()
    start = time.monotonic()
    context.report(1, {"val_accuracy": 0.5})
    assert BUDGET_S * 0.9 <= time.monotonic() - start < BUDGET_S + 0.05


def test_an_answer_to_an_earlier_report_does_not_count_for_this_one() -> None:
    context = _context()
    context._answers.hear(1)
    context.report(1, {"val_accuracy": 0.5})  # heard already: no wait
    context._reported_at = time.monotonic() - EPOCH_S
    start = time.monotonic()
    context.report(2, {"val_accuracy": 0.6})
    assert time.monotonic() - start >= BUDGET_S * 0.9


@pytest.mark.parametrize("where", ["last_epoch", "outside_a_sweep", "frequent_reports"])
def test_no_wait_where_nothing_is_saved_or_nobody_answers_in_time(where: str) -> None:
    context = _context(epochs=1 if where == "last_epoch" else 5)
    if where == "outside_a_sweep":
        context._awaits_answers = False
    if where == "frequent_reports":  # 0.19 s since the last report: a share of 9.5 ms, under the minimum
        context._reported_at = time.monotonic() - 0.19
    start = time.monotonic()
    context.report(1, {"val_accuracy": 0.5})
    assert time.monotonic() - start < 0.005


RUNG_CASES = [
    # (what the driver answers after the rung report at epoch 2 of 9, pause_after afterwards, whether it stops)
    ("pause", lambda a: a.hear(2), 2, False),
    ("next_rung", lambda a: a.hear(2, 6), 6, False),
    ("to_the_end", lambda a: a.hear(2, 9), None, False),
    ("stop", lambda a: a.stop(), 2, True),
]


@pytest.mark.parametrize(("answer", "pause_after", "stopped"), [c[1:] for c in RUNG_CASES], ids=[c[0] for c in RUNG_CASES])
def test_at_its_rung_a_trial_waits_for_whether_it_pauses_or_goes_on(answer, pause_after, stopped, monkeypatch) -> None:
    """At the rung the trial waits for the driver however short its epochs (pausing costs more
    than the wait); promoted at once, it goes on to the next rung (or to the end) instead."""
    monkeypatch.setattr(_constants, "RUNG_ANSWER_WAIT_S", 2.0)
    context = _context(epochs=9)
    context.pause_after = 2
    context.report(1, {"val_accuracy": 0.4})
    context._reported_at = time.monotonic() - 0.1  # frequent reports: an ordinary report would not wait
    _later(0.05, lambda: answer(context._answers))
    start = time.monotonic()
    if stopped:
        with pytest.raises(TrialStopped):
            context.report(2, {"val_accuracy": 0.5})
    else:
        context.report(2, {"val_accuracy": 0.5})
    assert 0.04 <= time.monotonic() - start < 1.0
    assert context.pause_after == pause_after


def test_without_an_answer_at_its_rung_a_trial_pauses_after_the_wait(monkeypatch) -> None:
    monkeypatch.setattr(_constants, "RUNG_ANSWER_WAIT_S", 0.1)
    context = _context(epochs=9)
    context.pause_after = 1
    start = time.monotonic()
    context.report(1, {"val_accuracy": 0.5})
    assert 0.09 <= time.monotonic() - start < 0.5 and context.pause_after == 1
