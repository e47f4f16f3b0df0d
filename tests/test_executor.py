"""The executor on cheap objectives (no Keras): states in storage for every sampler and pruner,
fake-GPU placement, start-up phase, resume, and the sweep-stopping rules."""

from __future__ import annotations

import json
import logging
import textwrap
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from hpo import SweepAborted
from hpo._errors import UsageError
from hpo.config import load_sweep
from hpo.executor import run_sweep
from tests.conftest import journal_study

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("executor")]  # one worker starts the module's Ray once


@pytest.fixture(scope="module", autouse=True)
def ray_cluster():
    """One local Ray for the module (started as hpo starts it), declaring 2 logical GPUs that do not exist."""
    from hpo.executor._ray import start_ray, stop_ray

    start_ray(None, num_cpus=4, num_gpus=2, modules=[str(Path(__file__).parent)])  # ships tests.cheap
    yield
    stop_ray()


def _sweep(tmp_path: Path, *, sampler: str = "random", pruner: str = "median", pruner_args: str = "{}",
           trials: int = 8, concurrency: int = 2, extra_params: str = "", extra: str = "", x: str = "{type: float, low: 0.0, high: 1.0}"):
    text = f"""
        name: cheap
        data: {{source: digits}}
        train: {{epochs: 6}}
        objective: {{metric: val_accuracy, direction: maximize, function: "tests.cheap:objective"}}
        space:
          params:
            x: {x}
            epochs: 6
            {extra_params}
        sampler: {{name: {sampler}, seed: 1}}
        pruner: {{name: {pruner}, args: {pruner_args}}}
        budget: {{trials: {trials}}}
        resources: {{concurrency: {concurrency}, cpus_per_trial: 1}}
        results_dir: {tmp_path / "results"}
        {extra}
    """
    path = tmp_path / "cheap.yaml"
    path.write_text(textwrap.dedent(text))
    return load_sweep(path)


def _fn(sweep, name: str):
    """The sweep with ``objective.function: tests.cheap:<name>``."""
    return sweep.with_overrides(**{"objective.function": f"tests.cheap:{name}"})


def _assert_states_consistent(study: optuna.Study) -> None:
    for t in study.trials:
        assert t.state in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL), t
        if t.state == TrialState.COMPLETE:
            # Never a partial curve told as COMPLETE: a complete trial reached the last epoch.
            assert max(t.intermediate_values) == 6 and t.value == t.intermediate_values[6]
        if t.state == TrialState.PRUNED:
            assert t.intermediate_values and max(t.intermediate_values) < 6
            assert t.value == t.intermediate_values[max(t.intermediate_values)]


PRUNERS = [
    ("median", "{n_startup_trials: 2}"),
    ("percentile", "{percentile: 50.0, n_startup_trials: 2}"),
    ("successive_halving", "{min_resource: 1, reduction_factor: 2}"),
    ("hyperband", "{min_resource: 1, reduction_factor: 2}"),
    ("patient", "{patience: 1, wrapped: {name: median, args: {n_startup_trials: 2}}}"),
    ("wilcoxon", "{p_threshold: 0.5, n_startup_steps: 1}"),
    ("threshold", "{lower: 0.45, n_warmup_steps: 1}"),
    ("none", "{}"),
]


@pytest.mark.parametrize(("pruner", "args"), PRUNERS, ids=[p for p, _ in PRUNERS])
def test_pruners_leave_correct_states(tmp_path, pruner: str, args: str) -> None:
    outcome = run_sweep(_fn(_sweep(tmp_path, pruner=pruner, pruner_args=args, trials=10), "objective"))
    study = outcome.study
    assert len(study.trials) == 10
    _assert_states_consistent(study)
    n_pruned = len(study.get_trials(states=(TrialState.PRUNED,)))
    if pruner == "none":
        assert n_pruned == 0
    elif pruner != "wilcoxon":  # Wilcoxon compares against the best trial's steps; it may keep all here
        assert n_pruned >= 1, [t.state for t in study.trials]
    assert outcome.counts["complete"] + outcome.counts["pruned"] == 10


def test_a_pruned_trial_stops_at_the_report_it_was_pruned_at(tmp_path) -> None:
    """The driver prunes at epoch 2 (after the pruner's warm-up) and the stop reaches the trial's
    worker: the study's curve ends at epoch 2 and the trial goes no further than the epoch it began
    meanwhile (of 6). It waits for the answer after each report, so on an idle machine it never
    begins epoch 3; how long it waits is the scripted-clock tests' (tests/test_trial_answers.py)
    and how long the answer takes benchmarks/stop_latency.py's, because under load (a second suite
    beside this one) the answer can come after the wait's share and epoch 3 begins by design."""
    logs = tmp_path / "logs"
    logs.mkdir()
    sweep = _sweep(tmp_path, pruner="threshold", pruner_args="{lower: 0.99, n_warmup_steps: 2}", trials=2,
                   extra_params=f"sleep: 2.0\n            log_dir: {logs}")
    study = run_sweep(_fn(sweep, "logs_epochs")).study
    assert [t.state for t in study.trials] == [TrialState.PRUNED] * 2
    for t in study.trials:
        assert sorted(t.intermediate_values) == [1, 2]
        assert (logs / f"{t.number}.txt").read_text().split() in (["1", "2"], ["1", "2", "3"])


def test_a_trial_functions_workers_import_no_framework(tmp_path) -> None:
    """A trial function that does not import Keras runs in workers that never import TensorFlow,
    Keras, JAX or torch (each costs seconds and hundreds of MB per worker)."""
    study = run_sweep(_fn(_sweep(tmp_path, pruner="none", trials=2), "frameworks"), evaluate=False).study
    for trial in study.trials:
        metrics = trial.user_attrs["hpo:val_metrics"]
        assert [metrics[f"{name}_loaded"] for name in ("tensorflow", "keras", "jax", "torch")] == [0.0] * 4


SAMPLERS = ["tpe", "random", "cmaes", "gp", "qmc", "grid"]


@pytest.mark.parametrize("sampler", SAMPLERS)
def test_samplers_run_to_budget(tmp_path, sampler: str) -> None:
    if sampler == "gp":
        pytest.importorskip("torch")
    x = "{type: float, low: 0.0, high: 1.0, step: 0.25}" if sampler == "grid" else "{type: float, low: 0.0, high: 1.0}"
    outcome = run_sweep(_fn(_sweep(tmp_path, sampler=sampler, trials=8, x=x), "objective"))
    study = outcome.study
    expected = 5 if sampler == "grid" else 8  # the grid has 5 points and ends the sweep when exhausted
    assert len(study.trials) == expected
    _assert_states_consistent(study)
    assert study.best_trial.value > 0
    numbers = [t.number for t in study.trials]
    assert sorted(numbers) == list(range(expected))
    if sampler == "grid":
        assert sorted(t.params["x"] for t in study.trials) == [0.0, 0.25, 0.5, 0.75, 1.0]


def test_fake_gpus_four_trials_at_once_two_per_device(tmp_path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    sweep = _sweep(tmp_path, trials=8, concurrency=4, pruner="none", extra_params=f"log_dir: {logs}\n            sleep: 0.5")
    sweep = sweep.with_overrides(**{"resources.gpus_per_trial": 0.5})
    run_sweep(_fn(sweep, "recording"), evaluate=False)  # no final re-training: it would log a ninth run
    records = [json.loads(p.read_text()) for p in logs.iterdir()]
    assert len(records) == 8
    assert {r["cuda"] for r in records} <= {"0", "1"}
    # At the busiest moment four trials overlapped, two on each logical GPU.
    best = max(records, key=lambda r: sum(o["start"] <= r["start"] < o["end"] for o in records))
    overlapping = [o for o in records if o["start"] <= best["start"] < o["end"]]
    assert len(overlapping) == 4
    assert sorted(o["cuda"] for o in overlapping) == ["0", "0", "1", "1"]


@pytest.mark.parametrize("max_oom_retries", [1, 0])
def test_a_trial_out_of_memory_on_a_gpu_share_is_retried_alone_on_a_whole_gpu(tmp_path, max_oom_retries) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    sweep = _sweep(tmp_path, trials=8, concurrency=4, pruner="none", extra_params=f"log_dir: {logs}\n            sleep: 0.3")
    sweep = sweep.with_overrides(**{"resources.gpus_per_trial": 0.5, "budget.max_oom_retries": max_oom_retries})
    study = run_sweep(_fn(sweep, "oom_on_a_share"), evaluate=False).study
    _assert_states_consistent(study)
    ooms = [t for t in study.trials if t.state == TrialState.FAIL]
    assert ooms, [t.params for t in study.trials]  # x > 0.6 runs out of memory on half a GPU
    retries = {t.user_attrs.get("hpo:retry_of"): t for t in study.trials if "hpo:retry_of" in t.user_attrs}
    for t in ooms:
        reason = t.user_attrs["hpo:fail_reason"]
        assert reason.startswith("RuntimeError: RESOURCE_EXHAUSTED: OOM when allocating tensor"), reason
        if max_oom_retries == 0:
            assert "whole GPU" not in reason and t.number not in retries
            continue
        assert reason.endswith("it ran out of memory on a share of a GPU (gpus_per_trial=0.5): queued again with a whole GPU (budget.max_oom_retries=1)")
        retry = retries[t.number]
        assert retry.state == TrialState.COMPLETE and retry.params == t.params and retry.user_attrs["hpo:whole_gpu"] is True
        assert retry.user_attrs["hpo:val_metrics"]["gpu_share"] == 1.0
    records = [json.loads(p.read_text()) for p in logs.iterdir()]
    whole = [r for r in records if r["share"] == 1.0]
    assert len(whole) == (len(ooms) if max_oom_retries else 0)
    for r in whole:  # alone on its GPU while it ran
        assert not [o for o in records if o is not r and o["cuda"] == r["cuda"] and o["start"] < r["end"] and r["start"] < o["end"]]
    assert sum(t.state == TrialState.COMPLETE for t in study.trials) == (8 if max_oom_retries else 8 - len(ooms))


def test_startup_phase_does_not_overshoot(tmp_path) -> None:
    sweep = _sweep(tmp_path, sampler="tpe", trials=8, concurrency=3, extra_params="sleep: 0.05")
    sweep = sweep.with_overrides(**{"sampler.args": {"n_startup_trials": 4}})
    study = run_sweep(_fn(sweep, "objective")).study
    trials = sorted(study.trials, key=lambda t: t.number)
    fourth_done = sorted(t.datetime_complete for t in trials[:4])[-1]
    for t in trials[4:]:
        assert t.datetime_start >= fourth_done, "a TPE trial started before the random start-up trials finished"


def test_a_trial_is_created_only_once_its_worker_is_up(tmp_path) -> None:
    """The workers import the trial function's module (a second each here) before they can run a
    trial; a trial given to a booting worker would sit RUNNING meanwhile, and with K workers booting
    at once on a few cores that is most of a short sweep. Each trial starts after its worker
    finished importing (an ordering, not a duration)."""
    import datetime

    logs = tmp_path / "logs"
    logs.mkdir()
    sweep = _sweep(tmp_path, trials=4, concurrency=2, extra_params=f"log_dir: {logs}")
    study = run_sweep(sweep.with_overrides(**{"objective.function": "tests.booting:objective"})).study
    imported = {record["pid"]: record["imported_at"]
                for record in (json.loads(path.read_text()) for path in logs.glob("*.json"))}
    assert len(study.trials) == 4 and imported
    for trial in study.trials:
        ready = datetime.datetime.fromtimestamp(imported[trial.user_attrs["hpo:placement"]["pid"]])
        assert trial.datetime_start >= ready, (trial.number, trial.datetime_start, ready)


def test_a_worker_that_never_starts_is_given_no_trial_and_stops_the_sweep_after_the_start_timeout() -> None:
    from hpo.executor._ray import RayPool

    pool = RayPool(1, cpus=64, gpus=0, sweep_config={"name": "x"}, data=None, start_timeout=2.0)  # 64 CPUs: never placed
    with pytest.raises(SweepAborted, match=r"no trial worker started within \d+ s \(resources.worker_start_timeout=2\); .*ray status"):
        for _ in range(20):
            assert pool.free_slots() == 0  # no trial is created for it
            pool.poll(0.5)
    pool.close()


def test_trials_share_worker_processes_as_threads_when_asked(tmp_path) -> None:
    """resources.trials_per_worker: 2 runs four slots in two worker processes, two trials at a time
    in each (each in its own thread), with whole curves and consistent states."""
    logs = tmp_path / "logs"
    logs.mkdir()
    sweep = _sweep(tmp_path, trials=8, concurrency=4, pruner="none", extra_params=f"log_dir: {logs}\n            sleep: 0.4")
    sweep = sweep.with_overrides(**{"resources.trials_per_worker": 2})
    study = run_sweep(_fn(sweep, "recording"), evaluate=False).study
    _assert_states_consistent(study)
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 8
    assert all(sorted(t.intermediate_values) == [1, 2, 3, 4, 5, 6] for t in study.trials)
    records = [json.loads(p.read_text()) for p in logs.iterdir()]
    pids = {t.user_attrs["hpo:placement"]["pid"] for t in study.trials}
    assert len(pids) == 2 and {r["pid"] for r in records} == pids  # two processes ran all eight trials
    best = max(records, key=lambda r: sum(o["start"] <= r["start"] < o["end"] for o in records))
    overlapping = [o["pid"] for o in records if o["start"] <= best["start"] < o["end"]]
    assert sorted(overlapping.count(pid) for pid in pids) == [2, 2]  # at the busiest moment, two in each


def test_a_killed_shared_worker_interrupts_every_trial_in_it_and_each_runs_again(tmp_path) -> None:
    """Two trials share one worker process; the first attempt of each configuration kills the
    process. Every trial in it is interrupted (not failed by its own code) and runs again in a new
    worker, never in the dead one, and the budget is finished."""
    logs = tmp_path / "logs"
    logs.mkdir()
    sweep = _sweep(tmp_path, trials=4, concurrency=2, pruner="none", extra_params=f"log_dir: {logs}")
    sweep = sweep.with_overrides(**{"resources.trials_per_worker": 2, "budget.max_retries": 0})
    study = run_sweep(_fn(sweep, "killed_once"), evaluate=False).study
    failed = study.get_trials(states=(TrialState.FAIL,))
    assert failed and all(t.user_attrs["hpo:interrupted"] is True for t in failed)
    assert all(t.user_attrs["hpo:fail_reason"].startswith("the worker running this trial was lost") for t in failed)
    for t in failed:
        retries = [r for r in study.trials if r.user_attrs.get("hpo:retry_of") == t.number]
        assert len(retries) == 1 and retries[0].params == t.params
    complete = study.get_trials(states=(TrialState.COMPLETE,))
    assert len(complete) == 4 and not study.get_trials(states=(TrialState.RUNNING, TrialState.WAITING))
    died = {}  # a killed worker's pid: when the driver learnt of it
    for t in failed:
        if "hpo:placement" in t.user_attrs:
            pid = t.user_attrs["hpo:placement"]["pid"]
            died[pid] = min(died.get(pid, t.datetime_complete), t.datetime_complete)
    for t in complete:  # nothing started in a worker after it died
        pid = t.user_attrs["hpo:placement"]["pid"]
        assert pid not in died or t.datetime_start < died[pid], (t.number, pid)


def test_a_shared_worker_known_dead_is_never_given_to_a_slot_again() -> None:
    """Two trials run in one worker process, which is killed. The slot whose loss the driver reads
    first is given a worker while the other trial still looks RUNNING in the dead one: it must be a
    new worker, not the dead one with a free place (that would cost a ping, or a relaunch, each)."""
    import os
    import signal

    from hpo.executor._events import Failed, Placed
    from hpo.executor._ray import RayPool

    config = {"name": "x", "objective": {"metric": "val_accuracy", "function": "tests.cheap:reports_then_holds"}}
    pool = RayPool(2, cpus=1, gpus=0, sweep_config=config, data=None, answers_reports=False, per_worker=2)
    try:
        while pool.free_slots() < 2:
            pool.poll(0.5)
        dead = pool._slots[0].actor
        assert pool._slots[1].actor == dead  # one worker for both slots
        for number in (0, 1):
            pool.launch(number, {"reports": 0})
        placed: dict[int, Placed] = {}
        while len(placed) < 2:
            placed.update({e.number: e for e in pool.poll(1.0) if isinstance(e, Placed)})
        assert placed[0].placement["pid"] == placed[1].placement["pid"]
        os.kill(placed[0].placement["pid"], signal.SIGKILL)
        failed: list[Failed] = []
        while len(failed) < 2:
            failed += [e for e in pool.poll(1.0) if isinstance(e, Failed)]
            assert all(slot.actor != dead for slot in pool._slots if slot.number is None)
        assert all(f.interrupted for f in failed)
    finally:
        pool.close()


@pytest.mark.parametrize(
    ("objective", "resources", "told"),
    [
        ('function: "tests.cheap:objective"', "{concurrency: 20, cpus_per_trial: 0.2}", True),
        ('function: "tests.cheap:objective"', "{concurrency: 16, cpus_per_trial: 0.2}", False),  # 4 per CPU
        ('function: "tests.cheap:objective"', "{concurrency: 20, cpus_per_trial: 0.2, trials_per_worker: 3}", False),
        ('function: "tests.cheap:objective"', "{concurrency: 20, cpus_per_trial: 0.2, gpus_per_trial: 0.1}", False),
        ("", "{concurrency: 20, cpus_per_trial: 0.2}", False),  # the built-in trainer owns its process
    ],
    ids=["function-20", "function-16", "function-shared", "function-gpu", "builtin"],
)
def test_a_trial_functions_many_worker_processes_per_cpu_are_told_the_trials_per_worker_to_set(
    objective, resources, told, tmp_path, caplog
) -> None:
    """The module's Ray has 4 CPUs: 20 slots of one trial each are 20 processes, more than 4 per
    CPU, and the warning names the setting that runs them in 7 (3 trials each)."""
    from hpo.executor._run import _warn_about_worker_processes

    path = tmp_path / "w.yaml"
    lines = [
        "name: w",
        "data: {source: digits}",
        f"objective: {{metric: val_accuracy, {objective}}}" if objective else "",
        "space: {params: {dropout: {type: float, low: 0.0, high: 0.5}}}",
        "budget: {trials: 20}",
        f"resources: {resources}",
        f"results_dir: {tmp_path / 'results'}",
    ]
    path.write_text("\n".join(lines) + "\n")
    sweep = load_sweep(path)
    with caplog.at_level(logging.WARNING, logger="hpo.executor._run"):
        _warn_about_worker_processes(sweep, sweep.config.resources.concurrency)
    said = [r.getMessage() for r in caplog.records]
    if not told:
        assert not said
        return
    assert len(said) == 1
    assert "start 20 Ray worker processes on the cluster's 4 CPUs" in said[0]
    assert "resources.trials_per_worker: 3 (or --trials-per-worker 3)" in said[0]


def test_shared_workers_are_whole_workers_the_cluster_can_hold() -> None:
    """A worker asks for all its trials' CPUs: only whole workers count (the module's Ray has 4 CPUs)."""
    from hpo.executor._ray import fitting_slots

    assert fitting_slots(8, 1.0, 0.0) == 4
    assert fitting_slots(8, 1.0, 0.0, per_worker=2) == 4
    assert fitting_slots(8, 1.0, 0.0, per_worker=3) == 3  # one worker of 3 CPUs; a second would not fit
    assert fitting_slots(64, 0.125, 0.0, per_worker=16) == 32  # two workers of 2 CPUs
    with pytest.raises(UsageError, match=r"a worker of resources.trials_per_worker=8 trials needs 8 CPUs .* lower"):
        fitting_slots(8, 1.0, 0.0, per_worker=8)


def test_a_lost_nodes_other_trials_keep_what_their_workers_sent_before_the_loss() -> None:
    """A node is lost with three trials on it. The driver learns it from one trial's worker, and
    the others fail at once too (their own workers' deaths would come later); what their workers
    had already sent and the driver had not read yet (here a report; as well a checkpoint) is read
    first, not dropped, and a trial that had ended keeps its end. Their slots get new workers.
    (The loss itself is the cluster tests'; here the pool is told of it.)"""
    import ray

    from hpo.executor._events import Failed, Placed, Reported
    from hpo.executor._ray import RayPool

    config = {"name": "x", "objective": {"metric": "val_accuracy", "function": "tests.cheap:reports_then_holds"}}
    pool = RayPool(3, cpus=1, gpus=0, sweep_config=config, data=None, answers_reports=False)
    try:
        while pool.free_slots() < 3:
            pool.poll(0.5)
        # trial 0 holds at once; trial 1 reports epoch 1, then holds; trial 2 ends at once
        for number, params in ((0, {"reports": 0}), (1, {"reports": 1}), (2, {"reports": 0, "hold": False})):
            pool.launch(number, params)
        streams = [slot.stream for slot in pool._slots]
        assert len(ray.wait(streams, num_returns=3, timeout=60)[0]) == 3  # each start reached the driver
        placed = {event.number: event for event in pool.poll(0)}  # a poll reads one event per trial: the starts
        assert sorted(placed) == [0, 1, 2] and all(isinstance(event, Placed) for event in placed.values())
        for slot in pool._slots:  # what trials 1 and 2 sent next reached the driver too, unread
            assert slot.number == 0 or ray.wait([slot.stream], num_returns=1, timeout=60)[0], slot.number
        events = pool._node_lost(placed[1].placement["node"], "the node was lost")
        said = [(type(event).__name__, event.number) for event in events]
        assert said == [("Failed", 0), ("Reported", 1), ("Failed", 1), ("Ended", 2)], said
        assert isinstance(events[1], Reported) and events[1].epoch == 1
        assert all(event.interrupted for event in events if isinstance(event, Failed)) and pool.running() == []
        assert pool.free_slots() == 0  # the ended trial's slot too: its worker went with the node
    finally:
        pool.close()


def test_resume_continues_and_changed_space_is_refused(tmp_path) -> None:
    first = run_sweep(_fn(_sweep(tmp_path, trials=4), "objective"))
    second = run_sweep(_fn(_sweep(tmp_path, trials=6), "objective"))
    assert first.study.study_name == second.study.study_name == "cheap"
    assert len(second.study.trials) == 6
    again = run_sweep(_fn(_sweep(tmp_path, trials=6), "objective"))
    assert len(again.study.trials) == 6  # budget already spent: nothing new
    changed = _sweep(tmp_path, trials=6, x="{type: float, low: 0.0, high: 2.0}")
    with pytest.raises(UsageError, match=r"(?s)different search space:\n  x: high 1.0 -> 2.0\n.*--carry-over.*--new-study"):
        run_sweep(_fn(changed, "objective"))
    fresh = run_sweep(_fn(changed, "objective"), new_study=True)
    assert fresh.study.study_name == "cheap-2" and len(fresh.study.trials) == 6
    old = journal_study(tmp_path / "results" / "cheap" / "study.journal", "cheap")
    assert len(old.trials) == 6  # the old study is untouched


def test_misspelled_metric_aborts_with_available_metrics(tmp_path) -> None:
    sweep = _sweep(tmp_path, trials=8, concurrency=1)
    with pytest.raises(SweepAborted, match=r"^objective metric 'val_accuracy' is not reported by the trial; it reports val_acc, val_loss\. Set objective\.metric"):
        run_sweep(_fn(sweep, "wrong_metric"))
    study = journal_study(tmp_path / "results" / "cheap" / "study.journal", "cheap")
    assert [t.state for t in study.trials] == [TrialState.FAIL]  # no further trials launched


def test_consecutive_failures_stop_the_sweep(tmp_path) -> None:
    sweep = _sweep(tmp_path, trials=20, concurrency=1).with_overrides(**{"budget.max_consecutive_failures": 3})
    with pytest.raises(SweepAborted, match=r"3 trials failed in a row .*model code is broken"):
        run_sweep(_fn(sweep, "broken"))


def test_nan_objective_fails_the_trial(tmp_path) -> None:
    outcome = run_sweep(_fn(_sweep(tmp_path, trials=2, concurrency=1), "nan_metric"))
    trials = outcome.study.trials
    assert [t.state for t in trials] == [TrialState.FAIL, TrialState.FAIL]
    assert outcome.counts == {"complete": 0, "pruned": 0, "failed": 2, "interrupted": 0}
    for t in trials:
        assert t.user_attrs["hpo:fail_reason"] == (
            "objective metric 'val_accuracy' is nan at epoch 1; a non-finite objective fails the trial"
        )


def test_timeout_stops_launching(tmp_path) -> None:
    sweep = _sweep(tmp_path, trials=1000, extra_params="sleep: 0.3").with_overrides(**{"budget.timeout": 8.0})
    outcome = run_sweep(_fn(sweep, "objective"))
    trials = outcome.study.trials
    assert 2 <= len(trials) < 1000
    assert all(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in trials)
    first = min(t.datetime_start for t in trials)
    assert all((t.datetime_start - first).total_seconds() < 8.0 + 2.0 for t in trials)  # none started after the timeout


def test_target_value_ends_the_sweep_early(tmp_path) -> None:
    sweep = _sweep(tmp_path, trials=200, pruner="none", extra="enqueue: [{x: 0.3}]").with_overrides(**{"budget.target": 0.95})
    outcome = run_sweep(_fn(sweep, "objective"))
    study = outcome.study
    assert study.trials[0].params == {"x": 0.3}  # the warm start ran first and reaches the target
    hit = min(t.datetime_complete for t in study.trials if t.value is not None and t.value >= 0.95)
    assert len(study.trials) < 200
    assert all(t.datetime_start <= hit for t in study.trials)  # nothing launched after the target was reached


def test_enqueue_command_runs_first(tmp_path) -> None:
    from tests.conftest import run_hpo

    sweep = _sweep(tmp_path, trials=3)
    bad = run_hpo("enqueue", str(sweep.path), "x=7", cwd=tmp_path)
    assert bad.returncode == 2 and "x=7 is outside [0, 1]" in bad.stderr
    good = run_hpo("enqueue", str(sweep.path), "x=0.123", cwd=tmp_path)
    assert good.returncode == 0, good.stderr
    study = run_sweep(_fn(sweep, "objective")).study
    assert study.trials[0].params == {"x": 0.123} and len(study.trials) == 3


def test_sweep_and_resume_on_every_storage(tmp_path, storage_url: str) -> None:
    sweep = _sweep(tmp_path, trials=6).with_overrides(storage=storage_url)
    first = run_sweep(_fn(sweep, "objective"))
    _assert_states_consistent(first.study)
    second = run_sweep(_fn(sweep.with_overrides(**{"budget.trials": 8}), "objective"))
    assert second.study.study_name == first.study.study_name
    assert sorted(t.number for t in second.study.trials) == list(range(8))
    _assert_states_consistent(second.study)
    from tests._postgres import PASSWORD

    assert PASSWORD not in second.storage  # the outcome (printed by `hpo run`) masks it


def test_workers_that_cannot_start_stop_the_sweep_with_their_error() -> None:
    from hpo.executor._ray import RayPool

    pool = RayPool(1, cpus=1, gpus=0, sweep_config={"name": "x", "unknown_key": 1}, data=None)
    pool.launch(0, {"x": 0.5})
    with pytest.raises(SweepAborted, match=r"the trial workers cannot start: .*ValidationError: 1 validation error for SweepConfig"):
        deadline = 60
        while deadline:
            pool.poll(1.0)
            deadline -= 1
    pool.close()


def test_a_worker_that_never_starts_stops_the_sweep_after_the_start_timeout() -> None:
    from hpo.executor._ray import RayPool

    pool = RayPool(1, cpus=64, gpus=0, sweep_config={"name": "x"}, data=None, start_timeout=2.0)  # 64 CPUs: never placed
    pool.launch(0, {"x": 0.5})
    with pytest.raises(SweepAborted, match=r"trial 0 waited \d+ s for a Ray worker to start \(resources.worker_start_timeout=2\); .*ray status"):
        for _ in range(20):
            pool.poll(0.5)
    pool.close()


def _data_files(tmp_path: Path, kind: str) -> dict:
    """A small learnable data set written as a user would have it: csv, npz or a folder of images."""
    import numpy as np

    rng = np.random.default_rng(0)
    y = np.repeat([0, 1, 2], 40)
    if kind == "image_folder":
        from PIL import Image

        for label in range(3):
            folder = tmp_path / "images" / f"class_{label}"
            folder.mkdir(parents=True)
            for i in range(40):
                pixels = rng.random((8, 8)) * 60 + 60 * label
                Image.fromarray(pixels.astype(np.uint8)).save(folder / f"{i}.png")
        return {"source": "image_folder", "path": str(tmp_path / "images")}
    x = rng.normal(size=(120, 4)) + y[:, None]
    if kind == "csv":
        import pandas as pd

        pd.DataFrame({**{f"f{i}": x[:, i] for i in range(4)}, "label": np.array(["a", "b", "c"])[y]}).to_csv(tmp_path / "d.csv", index=False)
        return {"source": "csv", "path": str(tmp_path / "d.csv"), "target": "label"}
    np.savez(tmp_path / "d.npz", x=x, y=y)
    return {"source": "npz", "path": str(tmp_path / "d.npz")}


@pytest.mark.parametrize("kind", ["csv", "npz", "image_folder"])
def test_file_data_through_a_whole_sweep(tmp_path, kind: str) -> None:
    import yaml

    data = _data_files(tmp_path, kind)
    path = tmp_path / "files.yaml"
    path.write_text(yaml.safe_dump({
        "name": "files", "data": {**data, "options": {"image_size": 8}} if kind == "image_folder" else data,
        # 10 epochs of 3 batches: enough to learn it, whatever the order of the batches
        "train": {"epochs": 10}, "objective": {"metric": "val_accuracy"},
        "space": {"params": {"family": "mlp", "depth": 1, "units_0": {"type": "int", "low": 8, "high": 16},
                             "optimizer": "adam", "learning_rate": 0.01, "batch_size": 32, "normalization": "standard"}},
        "sampler": {"name": "random", "seed": 0}, "pruner": {"name": "none"},
        # one worker: one TensorFlow import (two at once is not what this checks)
        "budget": {"trials": 2}, "resources": {"concurrency": 1}, "results_dir": str(tmp_path / "results"),
    }))
    outcome = run_sweep(load_sweep(path))
    assert [t.state for t in outcome.study.trials] == [TrialState.COMPLETE] * 2
    assert outcome.final["test_metrics"]["test_accuracy"] > 0.5  # learnable, and scored on its held-out split
    assert outcome.final["model"][:2] == b"PK"  # a .keras archive came back from the worker
