"""The sweep's progress: a live table on a terminal, plain lines otherwise."""

from __future__ import annotations

import io

from hpo._progress import Progress
from hpo.executor import (
    EarlierRuns,
    ParamsUnread,
    TrialComplete,
    TrialFailedEnd,
    TrialInterrupted,
    TrialPruned,
    TrialStarted,
)


def test_live_progress_table() -> None:
    stream = io.StringIO()
    with Progress(4, "maximize", "val_accuracy", live=True, stream=stream) as progress:
        progress(TrialStarted(0, {}))
        progress(TrialStarted(1, {}))
        progress(TrialComplete(0, 0.9, 3, True, {}))
        progress(TrialPruned(1, 1, {}))
    text = stream.getvalue()
    assert "hpo sweep: val_accuracy (maximize)" in text
    assert "2/4" in text and "0.9000" in text


def test_plain_progress_lines() -> None:
    stream = io.StringIO()
    with Progress(2, "minimize", "val_loss", live=False, stream=stream) as progress:
        progress(TrialStarted(0, {}))
        progress(TrialComplete(0, 0.3, 5, True, {}))
        progress(TrialFailedEnd(1, "boom", 1))
    lines = stream.getvalue().splitlines()
    assert "trial 0 complete val_loss=0.3000 after 5 epochs" in lines[1]
    assert "trial 1 failed: boom" in lines[2] and "best 0.3000" in lines[2]


def test_progress_counts_earlier_runs_of_a_resumed_study() -> None:
    stream = io.StringIO()
    with Progress(10, "maximize", "val_accuracy", live=False, stream=stream) as progress:
        progress(EarlierRuns(6, 0.8))
        progress(TrialStarted(6, {}))
        progress(TrialComplete(6, 0.7, 2, True, {}))
    lines = stream.getvalue().splitlines()
    assert "6 trials finished in earlier runs" in lines[0]
    assert "done 7/10" in lines[-1] and "best 0.8000" in lines[-1]


def test_an_interrupted_trial_is_not_done_and_an_infeasible_one_is_never_the_best(capsys) -> None:
    stream = io.StringIO()
    with Progress(3, "maximize", "val_accuracy", live=False, stream=stream) as progress:
        progress(TrialStarted(0, {}))
        progress(TrialStarted(1, {}))
        progress(TrialInterrupted(0, "the worker running this trial was lost", 2))
        progress(TrialComplete(1, 0.99, 3, False, {}))
        progress(ParamsUnread(("dropuot",), 10))
    lines = stream.getvalue().splitlines()
    assert "trial 0 interrupted (the worker running this trial was lost); its configuration runs again" in lines[2]
    assert "done 0/3" in lines[2] and "running 1" in lines[2]
    assert "done 1/3" in lines[3] and "best -" in lines[3]
    assert "no finished trial's code read the space parameters dropuot (10 trials had them" in capsys.readouterr().err
