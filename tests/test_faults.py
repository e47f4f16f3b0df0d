"""Faults done for real: SIGKILLed workers and drivers, Ctrl+C, two drivers resuming at once.
Each test checks the study afterwards, not only the exit code."""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from tests._s3 import BUCKET, s3_server
from tests.conftest import REPO, TREE_PATH, journal_study, subprocess_env

pytestmark = pytest.mark.slow


def _sweep(tmp_path: Path, function: str, *, trials: int = 8, concurrency: int = 2, max_retries: int = 1, sleep: float = 0.0,
           checkpoint: str = "") -> Path:
    logs = tmp_path / "logs"
    logs.mkdir(exist_ok=True)
    path = tmp_path / "f.yaml"
    path.write_text(textwrap.dedent(f"""
        name: f
        data: {{source: digits}}
        train: {{epochs: 6}}
        objective: {{metric: val_accuracy, function: "tests.cheap:{function}"}}
        space:
          params:
            x: {{type: float, low: 0.0, high: 1.0}}
            epochs: 6
            sleep: {sleep}
            log_dir: {logs}
        sampler: {{name: random, seed: 0}}
        pruner: {{name: none}}
        budget: {{trials: {trials}, max_retries: {max_retries}}}
        resources: {{concurrency: {concurrency}}}
        results_dir: {tmp_path / "results"}
    """) + (f"checkpoint: {{{checkpoint}}}\n" if checkpoint else ""))
    return path


def _study(tmp_path: Path) -> optuna.Study:
    return journal_study(tmp_path / "results" / "f" / "study.journal", "f")


def _hpo(*args: str) -> list[str]:
    return [str(Path(sys.executable).parent / "hpo"), *args]  # the console script a user runs


def _env() -> dict[str, str]:
    return subprocess_env(PYTHONPATH=TREE_PATH, NO_COLOR="1")  # with the head to join, where the test joins one


def _counted(study: optuna.Study) -> int:
    retried = {t.user_attrs.get("hpo:retry_of") for t in study.trials}
    return sum(1 for t in study.trials if t.state != TrialState.FAIL or t.number not in retried)


def test_worker_sigkill_interrupts_the_trial_and_it_runs_again(tmp_path) -> None:
    """A worker killed from under its trial is an interruption, not the trial's failure: it runs
    again although budget.max_retries is 0 (that is for the trial's own errors)."""
    path = _sweep(tmp_path, "killed_once", trials=4, concurrency=2, max_retries=0)
    result = subprocess.run(_hpo("run", str(path)), cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    study = _study(tmp_path)
    failed = study.get_trials(states=(TrialState.FAIL,))
    assert len(failed) == 4  # every configuration's first attempt was killed
    for t in failed:
        assert t.user_attrs["hpo:fail_reason"].startswith("the worker running this trial was lost: its process died (pid ")
        assert t.user_attrs["hpo:interrupted"] is True
        retries = [r for r in study.trials if r.user_attrs.get("hpo:retry_of") == t.number]
        assert len(retries) == 1 and retries[0].params == t.params and retries[0].state == TrialState.COMPLETE
    assert _counted(study) == 4  # the budget was finished: retries replace their killed attempts
    assert not study.get_trials(states=(TrialState.RUNNING, TrialState.WAITING))


def _wait_for(predicate, timeout: float, what: str) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def _trials(tmp_path: Path) -> list:
    """The study's trials so far; none before the driver has created it."""
    journal = tmp_path / "results" / "f" / "study.journal"
    if not journal.exists():
        return []
    try:
        return _study(tmp_path).trials
    except KeyError:  # the study is not created yet
        return []


def _states(tmp_path: Path) -> list[TrialState]:
    return [t.state for t in _trials(tmp_path)]


def _running_with_params(tmp_path: Path) -> bool:
    return any(t.state == TrialState.RUNNING and t.params for t in _trials(tmp_path))


def test_driver_sigkill_then_resume_keeps_finished_trials(tmp_path) -> None:
    path = _sweep(tmp_path, "slow", trials=8, concurrency=2, max_retries=0, sleep=0.4)
    driver = subprocess.Popen(_hpo("run", str(path)), cwd=tmp_path, env=_env(),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        # a running trial with its parameters written: killed between the ask and the sampling, a
        # trial has no configuration to run again (its re-run samples afresh; nothing was lost)
        _wait_for(lambda: _states(tmp_path).count(TrialState.COMPLETE) >= 2 and _running_with_params(tmp_path), 300,
                  "2 complete trials and 1 running with its parameters")
        driver.send_signal(signal.SIGKILL)
        driver.wait(timeout=30)
    finally:
        os.killpg(driver.pid, signal.SIGKILL) if driver.poll() is None else None
    before = {t.number: (t.state, t.value) for t in _study(tmp_path).trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)}
    stale = [t.number for t in _study(tmp_path).trials if t.state == TrialState.RUNNING]
    assert before and stale
    result = subprocess.run(_hpo("resume", str(path)), cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    assert "a dead driver left RUNNING" in result.stdout
    study = _study(tmp_path)
    after = {t.number: t for t in study.trials}
    for number, (state, value) in before.items():
        assert (after[number].state, after[number].value) == (state, value)  # nothing finished was lost
    for number in stale:  # interrupted, not failed: each configuration ran again, though max_retries is 0
        assert after[number].state == TrialState.FAIL and after[number].user_attrs["hpo:interrupted"] is True
        assert "stopped before the trial ended" in after[number].user_attrs["hpo:fail_reason"]
        (again,) = [t for t in study.trials if t.user_attrs.get("hpo:retry_of") == number]
        assert again.state in (TrialState.COMPLETE, TrialState.PRUNED)
        assert again.params == after[number].params or not after[number].params  # (none yet: sampled afresh)
    assert any(after[number].params for number in stale)  # at least the one waited for ran its configuration again
    assert not study.get_trials(states=(TrialState.RUNNING, TrialState.WAITING))
    finished = study.get_trials(states=(TrialState.COMPLETE, TrialState.PRUNED))
    assert len(finished) == 8 and _counted(study) == 8  # the whole budget ran; each configuration counts once
    assert len(study.trials) == 8 + len(stale)


@pytest.mark.parametrize("where", ["results", "s3"])
def test_a_killed_drivers_trials_continue_from_their_checkpoints_on_resume(tmp_path, where) -> None:
    """Trials checkpoint every 2 epochs, in the results folder or in an S3 bucket (a real
    S3-compatible server); the driver is SIGKILLed once a trial has saved one. Each trial it left
    RUNNING runs again from its last checkpoint: its re-run trains only the epochs after it, the
    study holds one curve per configuration with each epoch once, `hpo status` says where it
    resumed, and no checkpoint is left behind."""
    from hpo.executor._checkpoints import CheckpointStore

    with contextlib.ExitStack() as stack:
        if where == "s3":
            endpoint = stack.enter_context(s3_server())
            url = f"s3://{BUCKET}/sweeps"
            checkpoint = f"every_epochs: 2, path: '{url}', options: {{endpoint_url: '{endpoint}'}}"
            store = CheckpointStore(f"{url}/f", options={"endpoint_url": endpoint})
        else:
            checkpoint, store = "every_epochs: 2", CheckpointStore(tmp_path / "results" / "f" / "checkpoints")
        _killed_and_resumed_with_checkpoints(tmp_path, checkpoint, store)


def _killed_and_resumed_with_checkpoints(tmp_path: Path, checkpoint: str, store) -> None:
    path = _sweep(tmp_path, "checkpointing", trials=2, concurrency=2, max_retries=0, sleep=0.6, checkpoint=checkpoint)
    driver = subprocess.Popen(_hpo("run", str(path)), cwd=tmp_path, env=_env(),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)

    def saved() -> bool:
        trials = _study(tmp_path).trials if _states(tmp_path) else []
        return any(t.state == TrialState.RUNNING and t.user_attrs.get("hpo:checkpoint_epoch", 0) >= 2 for t in trials)

    try:
        _wait_for(saved, 300, "a running trial with a checkpoint")
        driver.send_signal(signal.SIGKILL)
        driver.wait(timeout=30)
    finally:
        os.killpg(driver.pid, signal.SIGKILL) if driver.poll() is None else None
    stale = {t.number: t.user_attrs.get("hpo:checkpoint_epoch", 0) for t in _study(tmp_path).trials if t.state == TrialState.RUNNING}
    saved = set(store.numbers())
    # Every checkpoint the study records is in the store; the store may hold one more, written just
    # before the kill and before the driver recorded its epoch: resume takes it (the file says its epoch).
    assert max(stale.values()) >= 2 and {n for n, e in stale.items() if e} <= saved <= set(stale)
    result = subprocess.run(_hpo("resume", str(path)), cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    study = _study(tmp_path)
    trained = [tuple(map(int, line.split())) for line in (tmp_path / "logs" / "epochs").read_text().splitlines()]
    resumed = {}
    for number, recorded in stale.items():
        (again,) = [t for t in study.trials if t.user_attrs.get("hpo:retry_of") == number]
        assert again.state == TrialState.COMPLETE and again.intermediate_values.keys() == set(range(1, 7))
        assert again.intermediate_values == pytest.approx({**study.trials[number].intermediate_values, **again.intermediate_values})
        epoch = 0
        if number in saved:  # from its checkpoint: never one older than the study recorded
            continued, epoch = again.user_attrs["hpo:resumed_from"]
            assert continued == number and epoch >= max(recorded, 2) and epoch % 2 == 0
            assert f"trial {again.number} continues interrupted trial {number} from its checkpoint after epoch {epoch}" in result.stdout
        else:
            assert "hpo:resumed_from" not in again.user_attrs
        resumed[number] = epoch
        ran = [e for n, e in trained if n == again.number]
        ran = ran[: next((i for i in range(1, len(ran)) if ran[i] <= ran[i - 1]), len(ran))]  # not the best's re-training
        assert ran == list(range(epoch + 1, 7))  # only what the checkpoint did not hold
    assert _counted(study) == 2 and not study.get_trials(states=(TrialState.RUNNING, TrialState.WAITING))
    assert store.numbers() == []
    shown = subprocess.run(_hpo("status", str(path)), cwd=tmp_path, env={**_env(), "COLUMNS": "300"}, capture_output=True,
                           text=True, timeout=120)
    number, epoch = max(resumed.items(), key=lambda item: item[1])
    assert f"6 (resumed after {epoch} of #{number})" in shown.stdout


def _make_stale(url: str, name: str, n: int) -> None:
    """A driver that asks trials, heartbeats as hpo does, then dies by SIGKILL."""
    from hpo.storage import Heartbeat, open_storage

    study = optuna.create_study(study_name=name, storage=open_storage(url))
    Heartbeat(study, "deadbeef").beat()
    for _ in range(n):
        trial = study.ask()
        trial.suggest_float("x", 0, 1)
        trial.set_user_attr("hpo:run", "deadbeef")
    os.kill(os.getpid(), signal.SIGKILL)


def _recover(url: str, name: str, start: multiprocessing.Event) -> None:
    from hpo.storage import Store
    from hpo.study import recover_stale_trials

    store = Store(url)
    storage = store.open()
    study = optuna.load_study(study_name=name, storage=storage)
    start.wait()
    recover_stale_trials(study, storage, store)


def test_two_drivers_recovering_at_once_do_not_double_fail_or_retry(storage_url: str, request) -> None:
    from hpo.storage import open_storage

    name = f"recover-{request.node.callspec.id}"
    ctx = multiprocessing.get_context("spawn")
    dying = ctx.Process(target=_make_stale, args=(storage_url, name, 5))
    dying.start()
    dying.join()
    assert dying.exitcode == -signal.SIGKILL
    start = ctx.Event()
    drivers = [ctx.Process(target=_recover, args=(storage_url, name, start)) for _ in range(2)]
    for d in drivers:
        d.start()
    time.sleep(1.0)
    start.set()
    for d in drivers:
        d.join(timeout=120)
        assert d.exitcode == 0
    study = optuna.load_study(study_name=name, storage=open_storage(storage_url))
    failed = study.get_trials(states=(TrialState.FAIL,))
    waiting = study.get_trials(states=(TrialState.WAITING,))
    assert sorted(t.number for t in failed) == [0, 1, 2, 3, 4]
    assert sorted(t.user_attrs["hpo:retry_of"] for t in waiting) == [0, 1, 2, 3, 4]  # one retry each, not two
    assert len(study.trials) == 10


def _as_from_a_terminal() -> None:
    """SIGINT as a command typed at a terminal has it: a suite run as a background job (``&`` in a
    script) has SIGINT ignored, and its subprocesses inherit that, so the driver would not hear a
    Ctrl+C sent before it installs its own handler."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _start_driver(tmp_path: Path, path: Path) -> tuple[subprocess.Popen, list[str]]:
    driver = subprocess.Popen(_hpo("run", str(path)), cwd=tmp_path, env=_env(), preexec_fn=_as_from_a_terminal,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    lines: list[str] = []
    threading.Thread(target=lambda: lines.extend(driver.stdout), daemon=True).start()
    return driver, lines


def _descendants(pid: int) -> dict[int, str]:
    """Every process below ``pid``, with its command name."""
    parents, names = {}, {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        name, rest = text.split("(", 1)[1].rsplit(")", 1)
        parents[int(stat.parent.name)], names[int(stat.parent.name)] = int(rest.split()[1]), name
    found, frontier = {}, {pid}
    while frontier:
        frontier = {p for p, parent in parents.items() if parent in frontier and p not in found}
        found.update({p: names[p] for p in frontier})
    return found


@pytest.mark.parametrize("presses", [1, 2], ids=["once", "twice"])
def test_ctrl_c_leaves_a_consistent_resumable_study(tmp_path, presses: int) -> None:
    path = _sweep(tmp_path, "slow", trials=6, concurrency=2, max_retries=0, sleep=0.5)
    driver, lines = _start_driver(tmp_path, path)
    try:
        _wait_for(lambda: _states(tmp_path).count(TrialState.COMPLETE) >= 1 and TrialState.RUNNING in _states(tmp_path), 300, "a running trial")
        for _ in range(presses):  # what a terminal's Ctrl+C sends: the whole process group
            os.killpg(driver.pid, signal.SIGINT)
            time.sleep(0.05)
        code = driver.wait(timeout=90)
    finally:
        if driver.poll() is None:
            os.killpg(driver.pid, signal.SIGKILL)
    time.sleep(0.5)
    output = "".join(lines)
    assert code == 130, output[-3000:]
    assert "hpo resume" in output and "Traceback" not in output, output[-3000:]
    study = _study(tmp_path)
    assert not study.get_trials(states=(TrialState.RUNNING,)), "a trial was left RUNNING"
    interrupted = [t for t in study.trials if t.state == TrialState.FAIL]
    assert interrupted and all(t.user_attrs["hpo:fail_reason"] == "the sweep was interrupted before this trial ended" for t in interrupted)
    assert all(t.user_attrs["hpo:interrupted"] is True for t in interrupted)
    waiting = study.get_trials(states=(TrialState.WAITING,))
    assert sorted(t.user_attrs["hpo:retry_of"] for t in waiting) == sorted(t.number for t in interrupted)  # max_retries is 0
    result = subprocess.run(_hpo("resume", str(path)), cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    study = _study(tmp_path)
    assert _counted(study) == 6 and not study.get_trials(states=(TrialState.RUNNING, TrialState.WAITING))
    retried = {t.user_attrs.get("hpo:retry_of"): t for t in study.trials if t.user_attrs.get("hpo:retry_of") is not None}
    assert all(retried[t.number].params == t.params for t in interrupted)


@pytest.mark.parametrize("when", ["start-up", "sigterm"])
def test_stopping_the_driver_early_or_by_sigterm_exits_130_with_nothing_running(tmp_path, when: str) -> None:
    path = _sweep(tmp_path, "slow", trials=12, concurrency=2, max_retries=0, sleep=0.5)
    driver, lines = _start_driver(tmp_path, path)
    try:
        if when == "start-up":  # the header is printed before Ray starts: no trial runs yet
            _wait_for(lambda: any(line.startswith("sweep f:") for line in lines), 120, "the sweep's header")
            # what the driver does with SIGINT when it is sent (ignored, blocked, caught), for the message below
            masks = [line for line in Path(f"/proc/{driver.pid}/status").read_text().splitlines() if line.startswith(("SigBlk", "SigIgn", "SigCgt"))]
            os.killpg(driver.pid, signal.SIGINT)
        else:  # a job scheduler's stop, sent to the driver alone
            _wait_for(lambda: TrialState.RUNNING in _states(tmp_path), 300, "a running trial")
            driver.send_signal(signal.SIGTERM)
        code = driver.wait(timeout=90)
    finally:
        if driver.poll() is None:
            os.killpg(driver.pid, signal.SIGKILL)
    output = "".join(lines)
    assert code == 130, (masks if when == "start-up" else [], output[:1500], output[-1500:])
    assert "hpo resume" in output and "Traceback" not in output
    assert TrialState.RUNNING not in _states(tmp_path)
    if when == "start-up":
        assert "started" not in output  # it stopped before launching anything


def test_a_worker_killed_from_outside_interrupts_its_trial_which_runs_again(tmp_path) -> None:
    path = _sweep(tmp_path, "slow", trials=4, concurrency=2, max_retries=0, sleep=0.5)
    driver, lines = _start_driver(tmp_path, path)
    try:
        def placed() -> list:
            return [t for t in _study(tmp_path).trials if t.state == TrialState.RUNNING and "hpo:placement" in t.user_attrs] if _states(tmp_path) else []

        _wait_for(lambda: bool(placed()), 300, "a running trial with its placement")
        victim = placed()[0]
        pid = victim.user_attrs["hpo:placement"]["pid"]
        assert pid in _descendants(driver.pid)  # a Ray worker process of this driver
        os.kill(pid, signal.SIGKILL)
        code = driver.wait(timeout=300)
    finally:
        if driver.poll() is None:
            os.killpg(driver.pid, signal.SIGKILL)
    assert code == 0, "".join(lines)[-3000:]
    study = _study(tmp_path)
    killed = study.trials[victim.number]
    assert killed.state == TrialState.FAIL
    assert killed.user_attrs["hpo:fail_reason"].startswith(f"the worker running this trial was lost: its process died (pid {pid} ")
    retry = [t for t in study.trials if t.user_attrs.get("hpo:retry_of") == victim.number]
    assert len(retry) == 1 and retry[0].state == TrialState.COMPLETE and retry[0].params == killed.params
    assert _counted(study) == 4 and not study.get_trials(states=(TrialState.RUNNING, TrialState.WAITING))


def test_losing_the_raylet_of_the_only_node_never_hangs_and_resume_finishes(tmp_path) -> None:
    """Ray ends a driver whose node's raylet is gone (or its workers carry on without it): either
    way the driver must end, and the next run recovers whatever it left RUNNING and finishes."""
    path = _sweep(tmp_path, "slow", trials=6, concurrency=2, max_retries=1, sleep=0.5)
    path.write_text(path.read_text().replace("resources: {concurrency: 2}", "resources: {concurrency: 2, worker_start_timeout: 20}"))
    driver, lines = _start_driver(tmp_path, path)
    try:
        _wait_for(lambda: TrialState.RUNNING in _states(tmp_path) and any("hpo:placement" in t.user_attrs for t in _study(tmp_path).trials), 300, "a running trial")
        processes = _descendants(driver.pid)
        raylet = [pid for pid, name in processes.items() if name == "raylet"]
        assert raylet, processes
        os.kill(raylet[0], signal.SIGKILL)
        code = driver.wait(timeout=300)
    finally:
        if driver.poll() is None:
            os.killpg(driver.pid, signal.SIGKILL)
    output = "".join(lines)
    assert code in (0, 1) and "Traceback" not in output, output[-3000:]
    result = subprocess.run(_hpo("resume", str(path)), cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    study = _study(tmp_path)
    assert _counted(study) == 6 and not study.get_trials(states=(TrialState.RUNNING, TrialState.WAITING))


def test_a_driver_on_another_host_is_recovered_only_after_its_heartbeat_goes_stale(tmp_path) -> None:
    from hpo.config import load_sweep
    from hpo.study import open_study

    path = _sweep(tmp_path, "objective", trials=3, concurrency=1, max_retries=0)
    path.write_text(path.read_text() + "recovery: {heartbeat_s: 5, stale_after_s: 30}\n")
    study = open_study(load_sweep(path))
    now = time.time()
    trials = {}
    for run, age in (("remote-dead", 120.0), ("remote-live", 1.0)):  # what two drivers on host "gpu-7" left
        study.set_user_attr(f"hpo:driver:{run}", {"host": "gpu-7", "pid": 4242, "time": now - age})
        trial = study.ask()
        trial.suggest_float("x", 0.0, 1.0)
        trial.set_user_attr("hpo:run", run)
        trials[run] = trial.number
    result = subprocess.run(_hpo("resume", str(path)), cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    after = _study(tmp_path).trials
    dead, live = after[trials["remote-dead"]], after[trials["remote-live"]]
    assert dead.state == TrialState.FAIL and "its driver (run remote-dead) stopped" in dead.user_attrs["hpo:fail_reason"]
    assert dead.user_attrs["hpo:interrupted"] is True
    assert live.state == TrialState.RUNNING  # its driver is alive: its trial is spared
    (again,) = [t for t in after if t.user_attrs.get("hpo:retry_of") == dead.number]
    assert again.state == TrialState.COMPLETE  # the dead driver's configuration ran again in this run
    assert len(after) == 4 and _counted(_study(tmp_path)) == 3  # the budget: the live trial, the re-run and one new
