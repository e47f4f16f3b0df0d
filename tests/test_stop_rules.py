"""``budget.stop_when``: a study that has stopped improving starts no new trial (issue 24's patience
rule). The rule on real frozen trials, the launcher driven by a scripted pool, and `hpo run`."""

from __future__ import annotations

import datetime
import textwrap

import optuna
import pytest
from optuna.trial import TrialState, create_trial

from hpo.executor import Launcher, Lifecycle, Rules
from hpo.executor._events import Ended, Reported
from hpo.executor._launch import spent_trials
from hpo.executor._loop import drive
from hpo.space import parse_space
from hpo.study import Patience
from tests.conftest import run_hpo, said
from tests.test_lifecycle import ScriptedPool

pytestmark = pytest.mark.joins_ray_head  # its sweeps join one `ray start` head (conftest.py)

START = datetime.datetime(2026, 1, 1)


def _finished(values: list[float | None], feasible: list[bool] | None = None) -> list[optuna.trial.FrozenTrial]:
    """Trials finished in this order: a value is COMPLETE, None is PRUNED."""
    trials = []
    for i, value in enumerate(values):
        state = TrialState.PRUNED if value is None else TrialState.COMPLETE
        trial = create_trial(state=state, value=value, intermediate_values={1: value or 0.0})
        trial.number, trial.datetime_complete = i, START + datetime.timedelta(seconds=i)
        if feasible is not None and not feasible[i]:
            trial.system_attrs["constraints"] = [1.0]
        trials.append(trial)
    return trials


RULES = [
    # (direction, patience, min_delta, values in the order they finished, whether the search is over)
    ("maximize", 3, 0.0, [0.5, 0.6, 0.6, 0.6], False),  # 3 since the last improvement: at the limit, not past
    ("maximize", 3, 0.0, [0.5, 0.6, 0.6, 0.6, 0.59], True),
    ("maximize", 3, 0.0, [0.5, 0.6, 0.6, 0.6, 0.61], False),  # improved again
    ("maximize", 2, 0.05, [0.5, 0.54, 0.53], True),  # +0.04 is within min_delta: no improvement
    ("maximize", 2, 0.05, [0.5, 0.56, 0.53], False),
    ("minimize", 2, 0.0, [1.0, 0.9, 0.95, 0.91], True),
    ("minimize", 2, 0.0, [1.0, 0.9, 0.95, 0.8], False),
    ("maximize", 2, 0.0, [0.5, None, None], True),  # pruned trials count as finished trials
    ("maximize", 2, 0.0, [None, None, None], False),  # no value yet: nothing to be patient about
]


@pytest.mark.parametrize(("direction", "patience", "min_delta", "values", "over"), RULES)
def test_patience_counts_finished_trials_since_the_last_real_improvement(direction, patience, min_delta, values, over) -> None:
    trials = _finished(values)
    rule = Patience(patience, min_delta, direction, "val_accuracy")
    assert (rule.reason(trials) is not None) is over


def test_an_infeasible_trial_never_improves_the_best_and_the_reason_names_the_rule() -> None:
    rule = Patience(2, 0.0, "maximize", "val_accuracy")
    trials = _finished([0.5, 0.9, 0.95], feasible=[True, False, False])
    reason = rule.reason(trials)
    assert reason is not None and "in the last 2 finished trials" in reason and "patience=2" in reason and "0.5" in reason


def test_the_sweep_stops_launching_when_it_stops_improving_and_says_what_it_spared() -> None:
    """Trials 0-1 improve, then every trial reaches 0.5 at best: with patience 3 the launcher
    starts no trial after the third finished without improvement; running ones finish."""
    storage = optuna.storages.InMemoryStorage()
    study = optuna.create_study(storage=storage, direction="maximize", sampler=optuna.samplers.RandomSampler(seed=0))
    events: list = []
    lifecycle = Lifecycle(study, storage, Rules(metric="val_accuracy", direction="maximize", max_epochs=2),
                          lambda notice: events.append(said(notice)))
    level = {0: 0.6, 1: 0.8}

    def script(number: int, params: dict, whole_gpu: bool) -> list:
        value = level.get(number, 0.5)
        return [Reported(number, 1, {"val_accuracy": value / 2}), Reported(number, 2, {"val_accuracy": value}),
                Ended(number, None)]

    launcher = Launcher(lifecycle, parse_space({"x": {"type": "float", "low": 0.0, "high": 1.0}}), budget=20,
                        stop_rule=Patience(3, 0.0, "maximize", "val_accuracy"))
    drive(launcher, lifecycle, ScriptedPool(2, script), poll_s=0)
    trials = study.trials
    assert all(t.state == TrialState.COMPLETE for t in trials) and len(trials) < 20
    assert ("stopped_early", -1) in events and lifecycle.stopped_early is not None
    stopped = study.user_attrs["hpo:stopped_early"]
    assert stopped["saved_trials"] == 20 - spent_trials(trials) and "no trial improved val_accuracy" in stopped["reason"]
    # no trial started after the rule fired: at most the one running beside the last finished one
    assert len(trials) <= 2 + 3 + 1


def test_a_multi_objective_sweep_refuses_the_patience_rule(tmp_path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(textwrap.dedent("""
        name: t
        objective: {goals: [{metric: val_accuracy, direction: maximize}, {metric: latency_ms, direction: minimize}]}
        sampler: {name: nsga2}
        pruner: {name: none}
        budget: {trials: 10, stop_when: {patience: 5}}
        space: {params: {learning_rate: {type: float, low: 0.001, high: 0.1}}}
    """))
    result = run_hpo("validate", str(path), cwd=tmp_path)
    assert result.returncode == 2 and "budget.stop_when watches one objective value" in result.stderr, result.stderr


def test_the_report_says_why_the_search_stopped() -> None:
    from hpo.results._report import _stopped_early_row

    study = optuna.create_study()
    assert _stopped_early_row(study) == []
    study.set_user_attr("hpo:stopped_early", {"reason": "no trial improved <m>", "saved_trials": 7})
    (row,) = _stopped_early_row(study)
    assert "no trial improved &lt;m&gt;" in row and "7 trials of the budget were not needed" in row


@pytest.mark.slow
def test_hpo_run_stops_a_sweep_that_stopped_improving(tmp_path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(textwrap.dedent(f"""
        name: p
        data: {{source: digits}}
        train: {{epochs: 3}}
        objective: {{metric: val_accuracy, function: "tests.cheap:objective"}}
        space: {{params: {{x: {{type: float, low: 0.29, high: 0.31}}, epochs: 3}}}}
        sampler: {{name: random, seed: 0}}
        pruner: {{name: none}}
        budget: {{trials: 40, stop_when: {{patience: 4, min_delta: 0.05}}}}
        resources: {{concurrency: 2}}
        results_dir: {tmp_path / "results"}
    """))
    result = run_hpo("run", str(path), cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "stopping: no trial improved val_accuracy by more than 0.05" in result.stdout
    from hpo.storage import open_storage

    study = optuna.load_study(study_name="p", storage=open_storage(str(tmp_path / "results" / "p" / "study.journal")))
    assert 5 <= len(study.trials) <= 7  # the first, 4 without improvement, and what ran beside them
    assert "stopped early" in (tmp_path / "results" / "p" / "report.html").read_text()


def _noise_record(values: list[float]) -> dict:
    return {"seeds": list(range(1, len(values))), "values": values}


def test_the_noise_is_measured_on_the_best_after_half_the_patience_then_on_incumbents_beyond_it() -> None:
    rule = Patience(4, 0.0, "maximize", "val_accuracy", noise_seeds=3)
    assert rule.measurement(_finished([0.5]), {}, set()) is None  # not yet: half the patience is 2 trials
    trials = _finished([0.5, 0.6])
    assert rule.measurement(trials, {}, set()) == (1, 1)
    assert rule.measurement(trials, {}, {(1, 1)}) == (1, 2)  # seed 1 runs: the next seed beside it
    assert rule.measurement(trials, {}, {(1, 1), (1, 2)}) is None
    measured = {1: _noise_record([0.6, 0.58, 0.62])}  # sd 0.02
    assert rule.measurement(trials, measured, set()) is None  # measured
    # a measurement under way is finished first, even once another trial leads
    assert rule.measurement(_finished([0.5, 0.6, 0.7]), {1: {"seeds": [1], "values": [0.6, 0.58]}}, set()) == (1, 2)
    # a new incumbent within the noise is no new incumbent; one beyond it is measured once it held for 2 trials
    assert rule.measurement(_finished([0.5, 0.6, 0.61, 0.5, 0.5]), measured, set()) is None
    assert rule.measurement(_finished([0.5, 0.6, 0.7, 0.5]), measured, set()) is None
    assert rule.measurement(_finished([0.5, 0.6, 0.7, 0.5, 0.5]), measured, set()) == (2, 1)
    assert rule.measurement(trials, {1: {"seeds": [], "values": [0.6], "failed": "lost"}}, set()) is None
    assert Patience(4, 0.0, "maximize", "val_accuracy").measurement(trials, {}, set()) is None  # no noise_seeds


NOISY = [
    # (min_delta, measured values of the incumbent's seeds, whether the search is over)
    (0.0, None, False),  # +0.01 every other trial: patience 3 never runs out
    (0.0, [0.60, 0.64, 0.56], True),  # seed sd 0.04: the +0.01 steps are noise, 3 trials without a real one
    (0.0, [0.60, 0.601, 0.599], False),  # seed sd 0.001: the steps are real
    (0.05, [0.60, 0.601, 0.599], True),  # min_delta above the noise: min_delta decides
]


@pytest.mark.parametrize(("min_delta", "seeds", "over"), NOISY)
def test_improvements_within_the_incumbents_seed_noise_do_not_count(min_delta, seeds, over) -> None:
    values = [0.60, 0.55, 0.61, 0.55, 0.62, 0.55, 0.63, 0.55]
    rule = Patience(3, min_delta, "maximize", "val_accuracy", noise_seeds=3)
    measured = {} if seeds is None else {0: _noise_record(seeds)}
    reason = rule.reason(_finished(values), measured)
    assert (reason is not None) is over
    if over and min_delta == 0.0:
        assert "by more than 0.04 (the seed noise of trial 0: sd of 3 seeds)" in reason, reason


def test_the_launcher_re_trains_the_incumbent_beside_the_search_and_stops_once_steps_are_noise() -> None:
    """Every trial beats the last by 0.002; re-trained, the first incumbent spreads by 0.03 over
    its seeds: the search stops after 4 trials within the noise, far short of its budget. The
    re-trainings run in slots of the pool but are never trials."""
    storage = optuna.storages.InMemoryStorage()
    study = optuna.create_study(storage=storage, direction="maximize", sampler=optuna.samplers.RandomSampler(seed=0))
    events: list = []
    lifecycle = Lifecycle(study, storage, Rules(metric="val_accuracy", direction="maximize", max_epochs=1),
                          lambda notice: events.append(notice))

    def script(number: int, params: dict, whole_gpu: bool) -> list:
        return [Reported(number, 1, {"val_accuracy": 0.5 + 0.002 * number}), Ended(number, None)]

    launcher = Launcher(lifecycle, parse_space({"x": {"type": "float", "low": 0.0, "high": 1.0}}), budget=40,
                        stop_rule=Patience(4, 0.0, "maximize", "val_accuracy", noise_seeds=3), train_seed=10)
    pool = ScriptedPool(2, script)
    pool.measurer = lambda number, params, seed: {"val_accuracy": {11: 0.53, 12: 0.47}[seed] + 0.002 * number}
    drive(launcher, lifecycle, pool, poll_s=0)
    trials = study.trials
    assert len(trials) < 15 and all(t.state == TrialState.COMPLETE for t in trials)
    (number, _), (again, _) = pool.measured
    assert [seed for _, seed in pool.measured] == [11, 12] and number == again  # seeds after train.seed
    noise = study.user_attrs["hpo:noise"][str(number)]
    assert noise["seeds"] == [1, 2] and noise["values"][0] == trials[number].value
    assert "the seed noise of trial" in study.user_attrs["hpo:stopped_early"]["reason"]
    measured = [n for n in events if type(n).__name__ == "NoiseMeasured"]
    assert [n.seed for n in measured] == [11, 12] and measured[-1].threshold == pytest.approx(0.03, abs=1e-9)
    # without the noise, every step counts: the same search runs its whole budget
    study2 = optuna.create_study(storage=storage, direction="maximize", sampler=optuna.samplers.RandomSampler(seed=0))
    lifecycle2 = Lifecycle(study2, storage, Rules(metric="val_accuracy", direction="maximize", max_epochs=1))
    launcher2 = Launcher(lifecycle2, parse_space({"x": {"type": "float", "low": 0.0, "high": 1.0}}), budget=40,
                         stop_rule=Patience(4, 0.0, "maximize", "val_accuracy"))
    drive(launcher2, lifecycle2, ScriptedPool(2, script), poll_s=0)
    assert len(study2.trials) == 40


def test_a_failed_noise_re_training_leaves_min_delta_in_charge_and_that_incumbent_is_not_asked_again() -> None:
    storage = optuna.storages.InMemoryStorage()
    study = optuna.create_study(storage=storage, direction="maximize", sampler=optuna.samplers.RandomSampler(seed=0))
    lifecycle = Lifecycle(study, storage, Rules(metric="val_accuracy", direction="maximize", max_epochs=1))

    def script(number: int, params: dict, whole_gpu: bool) -> list:
        return [Reported(number, 1, {"val_accuracy": 0.5 + 0.002 * number}), Ended(number, None)]

    launcher = Launcher(lifecycle, parse_space({"x": {"type": "float", "low": 0.0, "high": 1.0}}), budget=12,
                        stop_rule=Patience(4, 0.0, "maximize", "val_accuracy", noise_seeds=3))
    pool = ScriptedPool(2, script)
    pool.measurer = lambda number, params, seed: None
    drive(launcher, lifecycle, pool, poll_s=0)
    assert len(study.trials) == 12 and "hpo:stopped_early" not in study.user_attrs
    noise = study.user_attrs["hpo:noise"]
    assert all(record["failed"] == "it failed" and record["seeds"] == [] for record in noise.values())
    assert len(set(pool.measured)) == len(pool.measured) and {str(n) for n, _ in pool.measured} == set(noise)


def test_two_drivers_measuring_the_noise_at_once_keep_both_seeds(tmp_path) -> None:
    """Two drivers of one study record their noise re-trainings of the same incumbent at once: the
    second's record is written while the first has read ``hpo:noise`` and not yet written it. Both
    seeds are kept (the record is read and written under the storage's lock)."""
    import threading

    from hpo.executor._events import Measured
    from hpo.storage import Store

    journal = str(tmp_path / "s.journal")
    store = Store(journal)
    optuna.create_study(study_name="s", storage=store.open(), direction="maximize")
    space = parse_space({"x": {"type": "float", "low": 0.0, "high": 1.0}})

    def driver(storage) -> Launcher:
        study = optuna.load_study(study_name="s", storage=storage)
        lifecycle = Lifecycle(study, storage, Rules(metric="val_accuracy", direction="maximize", max_epochs=1))
        return Launcher(lifecycle, space, budget=10, lock=lambda: store.lock("budget"), train_seed=10,
                        stop_rule=Patience(4, 0.0, "maximize", "val_accuracy", noise_seeds=3))

    second = driver(store.open())
    other = threading.Thread(target=second.measured, args=(Measured(0, 12, {"val_accuracy": 0.4}),))

    class Interleaved(optuna.storages.JournalStorage):
        """The first driver's storage: the other driver measures right after this one's first read."""

        def get_study_user_attrs(self, study_id: int):
            attrs = super().get_study_user_attrs(study_id)
            if not other.is_alive() and other.ident is None:
                other.start()
                other.join(timeout=1)  # under the lock it waits for this driver; without, it is done
            return attrs

    first = driver(Interleaved(optuna.storages.journal.JournalFileBackend(journal)))
    trial = first._lifecycle.study.ask()
    first._lifecycle.study.tell(trial, 0.5)
    first.measured(Measured(0, 11, {"val_accuracy": 0.6}))
    other.join()
    noise = optuna.load_study(study_name="s", storage=store.open()).user_attrs["hpo:noise"]["0"]
    assert sorted(zip(noise["seeds"], noise["values"][1:], strict=True)) == [(1, 0.6), (2, 0.4)]


@pytest.mark.slow
def test_hpo_run_measures_the_seed_noise_beside_the_search_and_stops_within_it(tmp_path) -> None:
    """x moves the value by at most 0.005, a seed by 0.01: once the best is re-trained with two
    more seeds, no trial's step counts and the search stops after 4 more trials."""
    path = tmp_path / "n.yaml"
    path.write_text(textwrap.dedent(f"""
        name: n
        data: {{source: digits}}
        objective: {{metric: val_accuracy, function: "tests.cheap:seed_luck"}}
        space: {{params: {{x: {{type: float, low: 0.29, high: 0.31}}, sleep: 0.2}}}}
        sampler: {{name: random, seed: 0}}
        pruner: {{name: none}}
        budget: {{trials: 40, stop_when: {{patience: 4, noise_seeds: 3}}}}
        resources: {{concurrency: 2}}
        results_dir: {tmp_path / "results"}
    """))
    result = run_hpo("run", str(path), cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "re-trained with seed 1 for the seed noise (not a trial)" in result.stdout, result.stdout
    assert "(the seed noise of trial" in result.stdout, result.stdout
    from hpo.storage import open_storage

    study = optuna.load_study(study_name="n", storage=open_storage(str(tmp_path / "results" / "n" / "study.journal")))
    assert len(study.trials) < 12
    (record,) = study.user_attrs["hpo:noise"].values()
    assert record["seeds"] == [1, 2] and len(record["values"]) == 3
    assert record["values"][1] - record["values"][0] == pytest.approx(0.01)  # seed 1 vs the search's seed 0


def test_a_noise_re_training_never_scores_the_test_split_nor_sends_a_model() -> None:
    """During the search the test split stays untouched: the worker re-trains with the seed asked
    for and returns validation metrics only (scoring this trial function's "model" would fail)."""
    from hpo.config import SweepConfig
    from hpo.executor._worker import TrialWorker

    config = SweepConfig.model_validate(
        {"name": "w", "objective": {"metric": "val_accuracy", "function": "tests.cheap:with_model"}}
    )
    worker = TrialWorker(config.model_dump(), None)
    got = worker.final(0, {"x": 0.3}, seed=5, score=False)
    assert got == {"validation_metrics": {"val_accuracy": 0.55}, "test_metrics": {}, "model": None}
