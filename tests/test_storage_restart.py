"""A PostgreSQL server stopped and started under a running sweep (issue 26): within
``recovery.storage_outage_s`` the driver rides it out and the trials lose no report; past it the
driver stops with exit 1 and a one-line message naming the storage (password masked), and
`hpo resume` finishes the sweep once the server is back."""

from __future__ import annotations

import subprocess
import textwrap
import time
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from tests._postgres import PASSWORD, PostgresServer
from tests.test_faults import _env, _hpo, _wait_for

pytestmark = [pytest.mark.slow, pytest.mark.joins_ray_head]  # its sweeps join one `ray start` head (conftest.py)

EPOCHS = 8


@pytest.fixture
def server():
    server = PostgresServer()
    try:
        yield server
    finally:
        server.close()


def _sweep(tmp_path: Path, url: str, outage_s: float) -> Path:
    path = tmp_path / "pg.yaml"
    path.write_text(textwrap.dedent(f"""
        name: pg
        data: {{source: digits}}
        train: {{epochs: {EPOCHS}}}
        objective: {{metric: val_accuracy, function: "tests.cheap:slow"}}
        space:
          params:
            x: {{type: float, low: 0.0, high: 1.0}}
            epochs: {EPOCHS}
            sleep: 0.5
        sampler: {{name: random, seed: 0}}
        pruner: {{name: none}}
        budget: {{trials: 4}}
        resources: {{concurrency: 2}}
        storage: "{url}"
        recovery: {{storage_outage_s: {outage_s}}}
        results_dir: {tmp_path / "results"}
    """))
    return path


def _trials(url: str) -> list[optuna.trial.FrozenTrial]:
    try:
        return optuna.load_study(study_name="pg", storage=url).trials
    except Exception:  # noqa: BLE001 - the study or the server is not there yet: nothing to see
        return []


def _two_running(url: str) -> bool:
    return sum(t.state == TrialState.RUNNING and bool(t.intermediate_values) for t in _trials(url)) >= 2


def _run_through_an_outage(server: PostgresServer, path: Path, outage_s: float | None) -> tuple[int, str]:
    """`hpo run` stopped in its stride: once two trials report, the server stops; it starts again
    after ``outage_s`` seconds (None: once the driver has ended). The driver's exit code and output."""
    driver = subprocess.Popen(_hpo("run", str(path)), cwd=path.parent, env=_env(), stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        _wait_for(lambda: _two_running(server.url), 300, "two trials reporting")
        server.stop()
        if outage_s is not None:
            time.sleep(outage_s)  # the outage: the trials go on training, their reports wait
            server.start()
        output, _ = driver.communicate(timeout=600)
    finally:
        if driver.poll() is None:
            driver.kill()
    return driver.returncode, output


def test_a_database_restart_within_the_window_loses_no_report(server: PostgresServer, tmp_path: Path) -> None:
    code, output = _run_through_an_outage(server, _sweep(tmp_path, server.url, outage_s=120), outage_s=8)
    assert code == 0, output[-4000:]
    assert "unreachable" in output and "reachable again" in output and PASSWORD not in output
    trials = _trials(server.url)
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 4  # none failed, none interrupted
    assert all(sorted(t.intermediate_values) == list(range(1, EPOCHS + 1)) for t in trials)  # every report, once


def test_past_the_window_the_driver_stops_and_resume_finishes(server: PostgresServer, tmp_path: Path) -> None:
    path = _sweep(tmp_path, server.url, outage_s=4)
    code, output = _run_through_an_outage(server, path, outage_s=None)
    assert code == 1, output[-4000:]
    assert "postgres:***@127.0.0.1" in output and "was unreachable for" in output and "hpo resume" in output, output[-3000:]
    assert PASSWORD not in output and "Traceback" not in output
    server.start()
    resumed = subprocess.run(_hpo("resume", str(path)), cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    trials = _trials(server.url)
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    assert len(complete) == 4 and all(sorted(t.intermediate_values) == list(range(1, EPOCHS + 1)) for t in complete)
    assert all(t.user_attrs.get("hpo:interrupted") for t in trials if t.state == TrialState.FAIL)
    assert not [t for t in trials if t.state == TrialState.RUNNING]
