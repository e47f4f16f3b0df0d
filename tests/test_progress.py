"""The sweep's progress: a live table on a terminal, plain lines otherwise."""

from __future__ import annotations

import io

from hpo._progress import Progress


def test_live_progress_table() -> None:
    stream = io.StringIO()
    with Progress(4, "maximize", "val_accuracy", live=True, stream=stream) as progress:
        progress("started", 0, {})
        progress("started", 1, {})
        progress("complete", 0, {"value": 0.9, "epochs": 3})
        progress("pruned", 1, {"epochs": 1})
    text = stream.getvalue()
    assert "hpo sweep: val_accuracy (maximize)" in text
    assert "2/4" in text and "0.9000" in text


def test_plain_progress_lines() -> None:
    stream = io.StringIO()
    with Progress(2, "minimize", "val_loss", live=False, stream=stream) as progress:
        progress("started", 0, {})
        progress("complete", 0, {"value": 0.3, "epochs": 5})
        progress("failed", 1, {"reason": "boom"})
    lines = stream.getvalue().splitlines()
    assert "trial 0 complete val_loss=0.3000 after 5 epochs" in lines[1]
    assert "trial 1 failed: boom" in lines[2] and "best 0.3000" in lines[2]


def test_progress_counts_earlier_runs_of_a_resumed_study() -> None:
    stream = io.StringIO()
    with Progress(10, "maximize", "val_accuracy", live=False, stream=stream) as progress:
        progress("resumed", -1, {"finished": 6, "best": 0.8})
        progress("started", 6, {})
        progress("complete", 6, {"value": 0.7, "epochs": 2})
    lines = stream.getvalue().splitlines()
    assert "6 trials finished in earlier runs" in lines[0]
    assert "done 7/10" in lines[-1] and "best 0.8000" in lines[-1]
