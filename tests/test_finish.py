"""The finish (issue 24): the top candidates re-trained with several seeds, their spread, the
choice by mean, and the test split of the selected configuration only. The statistics and the
choice on real frozen trials; `hpo run --finish` end to end with a trial function whose single-run
best is lucky, and with the built-in Keras trainer (test scores, the kept model)."""

from __future__ import annotations

import io
import json
import math
import textwrap
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState, create_trial
from rich.console import Console

from hpo._errors import ConfigError, UsageError
from hpo.cli._finish import print_finish
from hpo.cli._run import _finish_flag
from hpo.config import ObjectiveConfig, load_sweep
from hpo.results import FinishRun, describes, summarize_finish, top_candidates
from hpo.results._finish import spread
from hpo.results._report import _finish_section
from tests.conftest import journal_study, run_hpo

pytestmark = pytest.mark.joins_ray_head  # its sweeps join one `ray start` head (conftest.py)

MAXIMIZE = ObjectiveConfig(metric="val_accuracy", direction="maximize")
MINIMIZE = ObjectiveConfig(metric="val_loss", direction="minimize")


def _trial(number: int, value: float, x: float, feasible: bool = True) -> optuna.trial.FrozenTrial:
    trial = create_trial(
        state=TrialState.COMPLETE,
        value=value,
        params={"x": x},
        distributions={"x": optuna.distributions.FloatDistribution(0, 1)},
    )
    trial.number = number
    if not feasible:
        trial.system_attrs["constraints"] = [0.5]
    return trial


def _runs(values: dict[int, list[float]], metric: str = "val_accuracy") -> list[FinishRun]:
    """Runs of each trial with seeds 0, 1, ...; test scores that differ from the validation ones."""
    return [
        FinishRun(number, seed, {metric: value, "other": 1.0}, {"test_accuracy": value - 0.1}, 2.0)
        for number, seeds in values.items()
        for seed, value in enumerate(seeds)
    ]


def test_the_spread_is_the_mean_the_sample_deviation_and_a_students_t_interval() -> None:
    got = spread([1.0, 2.0, 3.0])
    half = 4.302652729911275 / math.sqrt(3)  # t(0.975, 2 degrees of freedom) * sd / sqrt(n), sd = 1
    assert got["mean"] == 2.0 and got["std"] == 1.0 and got["values"] == [1.0, 2.0, 3.0]
    assert got["low"] == pytest.approx(2.0 - half) and got["high"] == pytest.approx(2.0 + half)
    assert spread([0.5, 0.5])["low"] == spread([0.5, 0.5])["high"] == 0.5


CHOICES = [
    # (objective, single-run values by trial number, seeds' values by trial, selected, differs, kept seed)
    (MAXIMIZE, {0: 0.875, 1: 0.75, 2: 0.5}, {0: [0.875, 0.5, 0.375], 1: [0.75, 0.5, 0.625], 2: [0.5, 0.5, 0.5]},
     1, True, 2),  # the lucky single run loses by mean; seed 2 is exactly at its mean
    (MAXIMIZE, {0: 0.875, 1: 0.75}, {0: [0.875, 0.625], 1: [0.75, 0.625]}, 0, False, 0),  # seeds equally near: the first
    (MAXIMIZE, {0: 0.875, 1: 0.75}, {0: [0.5, 0.75], 1: [0.75, 0.5]}, 0, False, 0),  # equal means: the better rank
    (MINIMIZE, {3: 0.125, 5: 0.25}, {3: [0.125, 0.5], 5: [0.25, 0.25]}, 5, True, 0),  # minimize: the lower mean
]


@pytest.mark.parametrize(("objective", "single", "seeds", "selected", "differs", "kept"), CHOICES)
def test_the_selected_configuration_is_the_best_by_mean_and_its_model_the_seed_nearest_the_mean(
    objective, single, seeds, selected, differs, kept
) -> None:
    candidates = [_trial(n, v, x=n / 10) for n, v in single.items()]
    summary = summarize_finish(candidates, _runs(seeds, objective.metric), objective)
    assert summary["selected"] == selected and summary["differs"] is differs
    assert summary["single_run_best"] == candidates[0].number and summary["model_seed"] == kept
    assert summary["seeds"] == list(range(len(seeds[candidates[0].number]))) and summary["metric"] == objective.metric
    rows = {row["trial"]: row for row in summary["candidates"]}
    for number, values in seeds.items():
        assert rows[number]["validation"][objective.metric]["values"] == values
        assert rows[number]["single_run_value"] == single[number]
    # only the selected configuration's test scores are kept: nothing can be chosen on the test split
    assert summary["test"]["test_accuracy"]["values"] == [v - 0.1 for v in seeds[selected]]
    assert "test" not in json.dumps(summary["candidates"])
    assert summary["trial_seconds"] == 2.0 * sum(len(v) for v in seeds.values())


def test_a_candidate_whose_re_training_lacks_the_watched_metric_is_an_error_not_a_silent_choice() -> None:
    runs = [FinishRun(0, 0, {"val_loss": 0.1}, {}, 1.0), FinishRun(0, 1, {"val_loss": 0.2}, {}, 1.0)]
    with pytest.raises(ValueError, match="did not report 'val_accuracy'"):
        summarize_finish([_trial(0, 0.9, 0.1)], runs, MAXIMIZE)


def test_the_candidates_are_the_best_feasible_distinct_configurations() -> None:
    trials = [
        _trial(0, 0.90, x=0.1),
        _trial(1, 0.95, x=0.2),
        _trial(2, 0.99, x=0.3, feasible=False),  # best value, but infeasible: never a candidate
        _trial(3, 0.93, x=0.2),  # the same configuration as trial 1: counted once, at its best
        _trial(4, 0.80, x=0.4),
    ]
    pruned = create_trial(state=TrialState.PRUNED, value=None, intermediate_values={1: 0.999})
    pruned.number = 5
    assert [t.number for t in top_candidates([*trials, pruned], MAXIMIZE, 3)] == [1, 0, 4]
    assert [t.number for t in top_candidates(trials, MAXIMIZE, 10)] == [1, 0, 4]  # fewer than K exist
    assert [t.number for t in top_candidates(trials, ObjectiveConfig(metric="val_accuracy", direction="minimize"), 2)] == [4, 0]


@pytest.mark.parametrize(("value", "expected"), [("3x4", {"top_k": 3, "seeds": 4}), (" 2 X 5 ", {"top_k": 2, "seeds": 5}), (None, None)])
def test_the_finish_flag_reads_k_by_s(value, expected) -> None:
    assert _finish_flag(value) == expected


@pytest.mark.parametrize("value", ["3", "3x", "x4", "3x4x5", "three"])
def test_a_malformed_finish_flag_says_the_form(value) -> None:
    with pytest.raises(UsageError, match=r"--finish takes the top K and the seeds as KxS, e.g. --finish 3x4"):
        _finish_flag(value)


@pytest.mark.parametrize(
    ("finish", "message"),
    [
        ("{top_k: 3, seeds: 1}", "finish.seeds: Input should be greater than or equal to 2, but got 1 (fix: set it to a value >= 2)"),
        ("{top_k: 0}", "finish.top_k: Input should be greater than or equal to 1, but got 0 (fix: set it to a value >= 1)"),
        ("{top_k: 3, sedes: 2}", "finish.sedes: unknown key 'sedes' (did you mean 'seeds'?) (fix: allowed keys here: top_k, seeds)"),
    ],
)
def test_a_bad_finish_section_names_the_key_the_rule_and_the_fix(tmp_path, finish, message) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(f"name: s\nspace: {{params: {{x: {{type: float, low: 0, high: 1}}}}}}\nfinish: {finish}\n")
    with pytest.raises(ConfigError) as caught:
        load_sweep(path)
    assert f"s.yaml:3: {message}" in str(caught.value), str(caught.value)


def _lucky_summary() -> dict:
    candidates = [_trial(0, 0.99, 0.1), _trial(1, 0.98, 0.3)]
    return summarize_finish(candidates, _runs({0: [0.99, 0.90], 1: [0.98, 0.97]}), MAXIMIZE)


def test_best_json_written_by_a_finish_stays_current_while_its_single_run_best_is_the_studys_best() -> None:
    summary = {"study": "s", "trial": 1, "finish": _lucky_summary()}  # selected 1, single-run best 0
    assert describes(summary, "s", 0) and not describes(summary, "s", 1) and not describes(summary, "t", 0)
    assert describes({"study": "s", "trial": 1}, "s", 1)  # without a finish: the re-trained trial itself


def test_the_table_and_the_report_show_each_candidate_the_choice_and_the_selected_test_split_only() -> None:
    finish = _lucky_summary()
    buffer = io.StringIO()
    print_finish(finish, Console(file=buffer, width=200, color_system=None))
    shown = buffer.getvalue()
    assert "finish: val_accuracy of the top 2 re-trained with seeds 0, 1" in shown
    assert "the selected configuration (trial 1) is not the single-run best (trial 0)" in shown
    assert "0.975 ± 0.0071" in shown and "selected" in shown
    assert "test split, trial 1's 2 seeds only (used for nothing above)" in shown and "  accuracy 0.875 ± " in shown
    page = "".join(_finish_section(finish))
    assert "Finish: the top 2 configurations re-trained with seeds 0, 1" in page
    assert "The selected configuration (#1) is not the single-run best (#0)" in page
    assert "Saved model: seed 0" in page and "outside the budget" in page


def _lucky_sweep(
    tmp_path: Path,
    objective: str = '{metric: val_accuracy, function: "tests.cheap:seed_luck"}',
    sampler: str = "{name: random, seed: 0}",
) -> Path:
    logs = tmp_path / "log"
    logs.mkdir()
    path = tmp_path / "f.yaml"
    path.write_text(textwrap.dedent(f"""
        name: f
        data: {{source: digits}}
        objective: {objective}
        space: {{params: {{x: {{type: float, low: 0.0, high: 1.0}}, sleep: 0.3, log_dir: {logs}}}}}
        enqueue: [{{x: 0.1}}, {{x: 0.3}}, {{x: 0.5}}]
        sampler: {sampler}
        pruner: {{name: none}}
        budget: {{trials: 3}}
        resources: {{concurrency: 2}}
        results_dir: {tmp_path / "results"}
    """))
    return path


@pytest.mark.slow
def test_hpo_run_finish_re_trains_the_top_in_parallel_and_selects_by_mean_not_by_luck(tmp_path) -> None:
    """x = 0.1 is the best single run only by seed 0's luck; re-trained with seeds 0-2, x = 0.3 is
    selected. The re-trainings ran on both workers at once, and are no trials of the study."""
    path = _lucky_sweep(tmp_path)
    searched = run_hpo("run", str(path), cwd=tmp_path)  # the search, its best re-trained once
    assert searched.returncode == 0 and "finish:" not in searched.stdout, searched.stdout[-3000:] + searched.stderr
    # the finish asked for on the spent study: no new trial, the top 3 re-trained with 3 seeds each
    result = run_hpo("run", str(path), "--finish", "3x3", cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "the selected configuration (trial 1) is not the single-run best (trial 0)" in result.stdout
    folder = tmp_path / "results" / "f"
    study = journal_study(folder / "study.journal", "f")
    assert len(study.trials) == 3 and study.best_trial.number == 0  # the search's own best is unchanged
    best = json.loads((folder / "best.json").read_text())
    finish = best["finish"]
    assert best["trial"] == 1 and best["params"]["x"] == 0.3 and finish == study.user_attrs["hpo:finish"]
    assert finish["selected"] == 1 and finish["single_run_best"] == 0 and finish["differs"] is True
    assert [row["trial"] for row in finish["candidates"]] == [0, 1, 2] and finish["seeds"] == [0, 1, 2]
    lucky = finish["candidates"][0]["validation"]["val_accuracy"]["values"]
    assert lucky[0] == pytest.approx(1.0) and max(lucky[1:]) < 0.85  # seed 0 re-trains the search's run
    assert best["retrained_validation_metrics"]["val_accuracy"] == pytest.approx(
        finish["candidates"][1]["validation"]["val_accuracy"]["mean"]
    )
    runs = sorted((json.loads(p.read_text()) for p in (tmp_path / "log").iterdir()), key=lambda r: r["start"])
    retrained = runs[4:]  # after the search's 3 trials and the best's re-training: 3 configurations x 3 seeds
    assert sorted((r["x"], r["seed"]) for r in retrained) == [(x, s) for x in (0.1, 0.3, 0.5) for s in (0, 1, 2)]
    overlapping = any(
        a["pid"] != b["pid"] and a["start"] < b["end"] and b["start"] < a["end"] for a in retrained for b in retrained
    )
    assert overlapping  # on both workers at once
    shown = run_hpo("best", str(path), cwd=tmp_path)
    assert shown.returncode == 0 and "selected configuration (finish), trial 1" in shown.stdout, shown.stdout
    assert "Finish: the top 3 configurations" in (folder / "report.html").read_text()
    again = run_hpo("run", str(path), "--finish", "3x3", cwd=tmp_path)  # nothing left: the finish is kept
    assert again.returncode == 0 and "nothing left to run" in again.stdout, again.stdout + again.stderr
    assert len(list((tmp_path / "log").iterdir())) == 13
    assert json.loads((folder / "best.json").read_text())["finish"] == finish


@pytest.mark.slow
def test_the_finish_of_a_multi_objective_sweep_ranks_on_prune_on_and_keeps_the_front(tmp_path) -> None:
    goals = "[{metric: val_accuracy, direction: maximize}, {metric: cost, direction: minimize}]"
    path = _lucky_sweep(
        tmp_path,
        objective=f'{{function: "tests.cheap:seed_luck_cost", goals: {goals}, prune_on: val_accuracy}}',
        sampler="{name: nsga2, seed: 0}",
    )
    result = run_hpo("run", str(path), "--finish", "2x3", "--save", "front", cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    folder = tmp_path / "results" / "f"
    finish = json.loads((folder / "best.json").read_text())["finish"]
    assert finish["metric"] == "val_accuracy" and [row["trial"] for row in finish["candidates"]] == [0, 1]
    assert finish["selected"] == 1 and finish["differs"] is True
    front = json.loads((folder / "pareto.json").read_text())["front"]
    assert {entry["trial"] for entry in front} >= {0}  # the single-run best's own re-training is its front entry
    shown = run_hpo("best", str(path), cwd=tmp_path)
    assert shown.returncode == 0 and "Pareto front" in shown.stdout and "of the top 2 re-trained" in shown.stdout, shown.stdout
    assert "test (not used for selection)" in shown.stdout


@pytest.mark.slow
def test_the_finish_with_the_builtin_trainer_scores_the_selected_seeds_on_test_and_saves_the_kept_seeds_model(tmp_path) -> None:
    path = tmp_path / "k.yaml"
    path.write_text(textwrap.dedent(f"""
        name: k
        data: {{source: digits}}
        train: {{epochs: 2}}
        space:
          params:
            family: mlp
            depth: 1
            units: {{type: categorical, choices: [8, 32]}}
            learning_rate: {{type: float, low: 0.003, high: 0.03, log: true}}
            optimizer: adam
        sampler: {{name: random, seed: 1}}
        pruner: {{name: none}}
        budget: {{trials: 3}}
        finish: {{top_k: 2, seeds: 2}}
        resources: {{concurrency: 2}}
        results_dir: {tmp_path / "results"}
    """))
    result = run_hpo("run", str(path), cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    folder = tmp_path / "results" / "k"
    best = json.loads((folder / "best.json").read_text())
    finish = best["finish"]
    # The same configuration with the search's seed (0) trains to the same value in another worker
    # process: a candidate's re-training with seed 0 is its search run again, exactly.
    for candidate in finish["candidates"]:
        again = candidate["validation"]["val_accuracy"]["values"][finish["seeds"].index(0)]
        assert again == pytest.approx(candidate["single_run_value"], abs=1e-9), candidate["trial"]
    test = finish["test"]["test_accuracy"]
    assert len(test["values"]) == 2 and test["low"] <= test["mean"] <= test["high"]
    assert best["test_metrics"]["test_accuracy"] == pytest.approx(test["mean"])
    kept = finish["seeds"].index(finish["model_seed"])
    import keras

    from hpo.config import load_sweep as load
    from hpo.data import load_dataset
    from hpo.engine import evaluate_on_test

    model = keras.models.load_model(folder / "best_model.keras")
    data = load_dataset(load(path).config.data)
    assert evaluate_on_test(model, data)["test_accuracy"] == pytest.approx(test["values"][kept], abs=1e-6)
