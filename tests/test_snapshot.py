"""Read commands reuse the finished sweep's trials table while the journal is unchanged, and read
the study live as soon as it changes (a resumed or running sweep)."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from hpo.config import load_sweep
from hpo.results import write_exports
from hpo.study import open_study
from tests.conftest import MINIMAL_SWEEP, run_hpo


@pytest.fixture
def finished(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(MINIMAL_SWEEP + f"results_dir: {tmp_path / 'results'}\n")
    sweep = load_sweep(path)
    study = open_study(sweep)
    for value in (0.2, 0.9, 0.5):
        trial = study.ask()
        sweep.space.sample(trial)
        trial.set_user_attr("hpo:val_metrics", {"val_accuracy": value, "val_loss": 1 - value})
        study.tell(trial, value)
    write_exports(sweep, study)
    return path, sweep, study


def _numbers(path) -> list[int]:
    result = run_hpo("status", str(path), "--format", "json", cwd=path.parent)
    assert result.returncode == 0, result.stderr
    return [row["number"] for row in json.loads(result.stdout)]


def test_the_table_is_reused_while_the_journal_is_unchanged_and_dropped_when_it_changes(finished) -> None:
    path, sweep, study = finished
    table = sweep.results_dir / "trials.parquet"
    frame = pd.read_parquet(table)
    frame[frame.number != 0].to_parquet(table, index=False)  # only the snapshot lacks trial 0 now
    assert _numbers(path) == [1, 2]  # read from the snapshot: the journal was not replayed
    trial = study.ask()  # the study moves on (a resumed sweep): the journal grows
    sweep.space.sample(trial)
    study.tell(trial, 0.1)
    assert _numbers(path) == [0, 1, 2, 3]  # read live


def test_best_from_the_snapshot_matches_best_from_the_study(finished) -> None:
    path, sweep, study = finished
    from_snapshot = json.loads(run_hpo("best", str(path), "--format", "json", cwd=path.parent).stdout)
    (sweep.results_dir / ".trials.parquet.json").unlink()  # no snapshot: the study is read
    live = json.loads(run_hpo("best", str(path), "--format", "json", cwd=path.parent).stdout)
    assert from_snapshot["trial"] == live["trial"] == 1
    for key in ("objective", "params", "validation_metrics", "test_metrics", "study"):
        assert from_snapshot[key] == live[key], key
