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
