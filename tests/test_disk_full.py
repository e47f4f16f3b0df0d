"""A journal on a disk that fills up for a while (issue 26): a write cut off leaves the journal as
it was, the driver rides the outage out like a database restart, and nothing in the study is lost
or corrupted. Real filesystems: a small tmpfs, really full."""

from __future__ import annotations

import errno
import subprocess
import threading
import time
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from hpo.storage import Store, check_journal_tail
from tests._disk import fill, small_disk
from tests.test_faults import _env, _hpo, _wait_for
from tests.test_storage_restart import EPOCHS, _sweep

pytestmark = pytest.mark.joins_ray_head  # its sweeps join one `ray start` head (conftest.py)


def test_a_write_cut_off_by_a_full_disk_leaves_the_journal_whole_and_a_retry_lands(tmp_path) -> None:
    with small_disk(tmp_path / "disk") as disk:
        journal = disk / "study.journal"
        study = optuna.create_study(study_name="s", storage=Store(str(journal)).open())
        study.set_user_attr("before", 1)
        size = journal.stat().st_size
        filler = fill(disk, leave=2048)
        with pytest.raises(OSError) as raised:
            study.set_user_attr("big", "x" * 20_000)  # more than the room left: part of it was written
        assert raised.value.errno == errno.ENOSPC
        assert journal.stat().st_size == size  # cut back: no part of a record
        check_journal_tail(journal)  # appending stays allowed
        filler.unlink()
        study.set_user_attr("big", "x" * 20_000)  # the retry, once there is room
        again = optuna.load_study(study_name="s", storage=Store(str(journal)).open())
        assert again.user_attrs == {"before": 1, "big": "x" * 20_000}


def test_a_full_disk_is_an_outage_the_store_rides_out(tmp_path) -> None:
    """Through the driver's store (the outage policy): the call waits until there is room."""
    with small_disk(tmp_path / "disk") as disk:
        journal = disk / "study.journal"
        study = optuna.create_study(study_name="s", storage=Store(str(journal), outage_s=60).open())
        filler = fill(disk, leave=0)
        threading.Timer(1.5, filler.unlink).start()
        started = time.monotonic()
        study.set_user_attr("during", "y" * 10_000)
        assert time.monotonic() - started >= 1.0  # it waited for the room
        assert optuna.load_study(study_name="s", storage=Store(str(journal)).open()).user_attrs == {"during": "y" * 10_000}


@pytest.mark.slow
def test_a_sweep_whose_journal_disk_fills_up_for_a_while_loses_no_report(tmp_path) -> None:
    with small_disk(tmp_path / "disk", size="16m") as disk:
        journal = disk / "study.journal"  # the study on the small disk, the rest of the results beside it
        path = _sweep(tmp_path, str(journal), outage_s=120)

        def reporting() -> bool:
            if not journal.exists():
                return False
            trials = optuna.load_study(study_name="pg", storage=Store(str(journal)).open()).trials
            return sum(t.state == TrialState.RUNNING and bool(t.intermediate_values) for t in trials) >= 2

        driver = subprocess.Popen(_hpo("run", str(path)), cwd=tmp_path, env=_env(), stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True, start_new_session=True)
        try:
            _wait_for(reporting, 300, "two trials reporting")
            filler = fill(disk, leave=0)
            time.sleep(5)  # the disk is full: the trials go on training, their reports wait
            filler.unlink()
            output, _ = driver.communicate(timeout=600)
        finally:
            if driver.poll() is None:
                driver.kill()
        assert driver.returncode == 0, output[-4000:]
        assert "unreachable" in output and "reachable again" in output, output[-3000:]
        check_journal_tail(journal)
        trials = optuna.load_study(study_name="pg", storage=Store(str(journal)).open()).trials
        assert [t.state for t in trials] == [TrialState.COMPLETE] * 4  # none failed, none interrupted
        assert all(sorted(t.intermediate_values) == list(range(1, EPOCHS + 1)) for t in trials)  # every report, once
