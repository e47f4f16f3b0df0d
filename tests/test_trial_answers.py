"""A trial waits briefly after each report for the driver's answer (no Ray, no Keras): a stop
that arrives meanwhile stops it at that report; a driver slower than the wait's share of the
epoch costs the trial no more than that share; a trial reporting more often than every 0.2 s
does not wait."""

from __future__ import annotations

import threading
import time

import pytest

from hpo import TrialContext, TrialStopped
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


@pytest.mark.parametrize("where", ["last_epoch", "pause_epoch", "outside_a_sweep", "frequent_reports"])
def test_no_wait_where_nothing_is_saved_or_nobody_answers_in_time(where: str) -> None:
    context = _context(epochs=1 if where == "last_epoch" else 5)
    if where == "pause_epoch":
        context.pause_after = 1
    if where == "outside_a_sweep":
        context._awaits_answers = False
    if where == "frequent_reports":  # 0.19 s since the last report: a share of 9.5 ms, under the minimum
        context._reported_at = time.monotonic() - 0.19
    start = time.monotonic()
    context.report(1, {"val_accuracy": 0.5})
    assert time.monotonic() - start < 0.005
