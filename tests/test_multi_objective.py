"""Several goals and constraints: the sweep file's rules, and whole sweeps through the CLI (the
Pareto front in `hpo best`, pareto.json, the report, saved front models)."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from hpo._errors import ConfigError
from hpo.config import load_sweep
from tests.conftest import journal_study, run_hpo
from tests.test_lifecycle import _non_dominated

pytestmark = pytest.mark.joins_ray_head  # its sweeps join one `ray start` head (conftest.py)

GOALS = """
objective:
  - {metric: val_accuracy, direction: maximize}
  - {metric: params, direction: minimize}
"""


def _write(tmp_path: Path, objective: str = GOALS, extra: str = "") -> Path:
    path = tmp_path / "m.yaml"
    path.write_text(textwrap.dedent("""
        name: m
        data: {source: digits}
        train: {epochs: 3}
        space:
          params:
            learning_rate: {type: float, low: 0.001, high: 0.1, log: true}
    """) + textwrap.dedent(objective) + textwrap.dedent(extra))
    return path


def test_a_list_of_goals_is_a_multi_objective_sweep_watching_the_first_or_prune_on(tmp_path) -> None:
    objective = load_sweep(_write(tmp_path)).config.objective
    assert objective.multi and [(g.metric, g.direction) for g in objective.targets] == [("val_accuracy", "maximize"), ("params", "minimize")]
    assert (objective.metric, objective.direction) == ("val_accuracy", "maximize")
    mapping = """
        objective:
          goals: [{metric: val_accuracy, direction: maximize}, {metric: latency_ms, direction: minimize}]
          prune_on: latency_ms
          constraints: ["params <= 2e5", "val_accuracy >= 0.5"]
    """
    objective = load_sweep(_write(tmp_path, mapping)).config.objective
    assert (objective.metric, objective.direction) == ("latency_ms", "minimize")
    assert [(c.metric, c.op, c.bound) for c in objective.parsed_constraints()] == [("params", "<=", 200000.0), ("val_accuracy", ">=", 0.5)]
    assert objective.metrics_used() == ["val_accuracy", "latency_ms", "params"]


@pytest.mark.parametrize(
    ("objective", "extra", "message"),
    [
        ("objective: {goals: [{metric: val_accuracy, direction: maximize}, {metric: params, direction: minimize}], prune_on: val_loss}",
         "", "`prune_on` must name one of the goals (val_accuracy, params), but got 'val_loss'"),
        ("objective: {metric: val_loss, goals: [{metric: val_accuracy, direction: maximize}, {metric: params, direction: minimize}]}",
         "", "with `goals`, `metric` is the goal pruning watches ('val_accuracy'), but got 'val_loss'"),
        ("objective: [{metric: params, direction: minimize}, {metric: params, direction: maximize}]",
         "", "each goal's metric must be different, but got ['params', 'params']"),
        ("objective: {goals: [{metric: val_accuracy, direction: maximize}, {metric: params, direction: minimize}], constraints: ['params < 5']}",
         "", "a constraint must read 'METRIC <= NUMBER' or 'METRIC >= NUMBER', but got 'params < 5'"),
        (GOALS, "sampler: {name: cmaes}\n", "sampler 'cmaes' cannot optimize several goals (2 given) (fix: use one of tpe, random, gp, qmc, grid, nsga2, nsga3"),
        (GOALS, "pruner: {name: hyperband}\n", "pruner 'hyperband' cannot prune one goal of a multi-objective study"),
        (GOALS, "pruner: {name: patient, args: {wrapped: {name: wilcoxon}}}\n", "pruner 'wilcoxon' cannot prune one goal of a multi-objective study"),
        (GOALS, "budget: {target: 0.9}\n", "budget.target stops at one objective value, but the sweep has 2 goals (got target=0.9)"),
        ("objective: [{metric: val_accuracy, direction: maximize}, {metric: latncy_ms, direction: minimize}]",
         "", "but got 'latncy_ms' (did you mean 'latency_ms'?)"),
        ("objective: {metric: val_accuracy, constraints: ['parms <= 10']}", "", "but got 'parms' (did you mean 'params'?)"),
    ],
    ids=["prune_on_not_a_goal", "metric_and_goals_disagree", "same_metric_twice", "bad_constraint", "cmaes",
         "hyperband", "wilcoxon_wrapped", "target", "unknown_goal_metric", "unknown_constraint_metric"],
)
def test_a_multi_objective_mistake_is_a_clear_error_at_validate(tmp_path, objective, extra, message) -> None:
    path = _write(tmp_path, objective, extra)
    with pytest.raises(ConfigError) as info:
        load_sweep(path)
    assert message in str(info.value) and "m.yaml" in str(info.value)


def _cheap_sweep(tmp_path: Path) -> Path:
    path = tmp_path / "mo.yaml"
    path.write_text(textwrap.dedent(f"""
        name: mo
        data: {{source: digits}}
        train: {{epochs: 6}}
        objective:
          goals: [{{metric: val_accuracy, direction: maximize}}, {{metric: cost, direction: minimize}}]
          prune_on: val_accuracy
          constraints: ["cost <= 20"]
          function: "tests.cheap:two_goals"
        space: {{params: {{x: {{type: float, low: 0.0, high: 1.0}}, epochs: 6}}}}
        sampler: {{name: nsga2, seed: 0, args: {{population_size: 6}}}}
        pruner: {{name: median, args: {{n_startup_trials: 4, n_warmup_steps: 2}}}}
        budget: {{trials: 18}}
        resources: {{concurrency: 2}}
        results_dir: {tmp_path / "results"}
    """))
    return path


@pytest.mark.slow
def test_a_multi_objective_sweep_through_the_cli_prunes_and_finds_the_front(tmp_path) -> None:
    path = _cheap_sweep(tmp_path)
    run = run_hpo("run", str(path))
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    study = journal_study(tmp_path / "results" / "mo" / "study.journal", "mo")
    states = [t.state.name for t in study.trials]
    assert len(states) == 18 and "PRUNED" in states and "RUNNING" not in states  # pruned on val_accuracy
    complete = [t for t in study.trials if t.state.name == "COMPLETE"]
    feasible = {t.number: tuple(t.values) for t in complete if t.values[1] <= 20}
    assert 0 < len(feasible) < len(complete)
    expected = sorted(_non_dominated(feasible, ["maximize", "minimize"]))
    best = run_hpo("best", str(path), "--format", "json")
    assert best.returncode == 0, best.stderr
    front = json.loads(best.stdout)
    assert [e["trial"] for e in front["front"]] == expected
    for entry in front["front"]:
        assert entry["values"] == {"val_accuracy": feasible[entry["trial"]][0], "cost": feasible[entry["trial"]][1]}
        assert entry["constraints"]["cost <= 20"] <= 0
    saved = json.loads((tmp_path / "results" / "mo" / "pareto.json").read_text())
    assert [e["trial"] for e in saved["front"]] == expected and saved["constraints"] == ["cost <= 20"]
    table = run_hpo("best", str(path))
    assert f"Pareto front of study mo: {len(expected)} trials meeting cost <= 20" in table.stdout
    status = run_hpo("status", str(path), "--limit", "0")
    infeasible = [t.number for t in complete if t.number not in feasible]
    assert status.stdout.count("COMPLETE (infeasible)") == len(infeasible)
    report = (tmp_path / "results" / "mo" / "report.html").read_text()
    assert f"<h2>Pareto front ({len(expected)} trials)</h2>" in report and "Pareto front: val_accuracy vs cost" in report
    assert "infeasible trials (never best): " + ", ".join(f"#{n}" for n in infeasible) in report
    assert (tmp_path / "results" / "mo" / "pareto_front.png").stat().st_size > 0


@pytest.mark.slow
def test_the_builtin_trainer_measures_costs_and_save_front_keeps_each_front_model(tmp_path) -> None:
    path = tmp_path / "k.yaml"
    path.write_text(textwrap.dedent(f"""
        name: k
        data: {{source: digits}}
        train: {{epochs: 2}}
        objective:
          - {{metric: val_accuracy, direction: maximize}}
          - {{metric: params, direction: minimize}}
          - {{metric: latency_ms, direction: minimize}}
        space:
          params:
            family: mlp
            depth: 1
            units: {{type: categorical, choices: [8, 64]}}
            learning_rate: 0.01
            optimizer: adam
        sampler: {{name: random, seed: 0}}
        pruner: {{name: none}}
        budget: {{trials: 3}}
        resources: {{concurrency: 1}}
        results_dir: {tmp_path / "results"}
    """))
    run = run_hpo("run", str(path), "--save", "front", cwd=tmp_path)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    folder = tmp_path / "results" / "k"
    study = journal_study(folder / "study.journal", "k")
    for t in study.trials:
        metrics = t.user_attrs["hpo:val_metrics"]
        assert metrics["params"] == (64 * 8 + 8 + 8 * 10 + 10 if t.params["units"] == 8 else 64 * 64 + 64 + 64 * 10 + 10)
        assert 0 < metrics["latency_ms"] < 1000 and 0 < metrics["latency_batch_ms"] < 5000
        assert metrics["epoch_seconds"] > 0 and metrics["peak_memory_mb"] > 50
        assert t.values == [metrics["val_accuracy"], metrics["params"], metrics["latency_ms"]]
    front = json.loads((folder / "pareto.json").read_text())["front"]
    assert front
    import keras

    for entry in front:  # each front trial re-trained, scored on the test split, its model standing alone
        assert entry["model"] == f"front/trial_{entry['trial']}.keras" and set(entry["test_metrics"]) >= {"test_accuracy"}
        model = keras.saving.load_model(folder / entry["model"])
        assert model.count_params() == entry["validation_metrics"]["params"]
    saved = (folder / "pareto.json").read_bytes()
    for again in (["--save", "front"], []):  # the budget is spent: the front and its models stay as they are
        rerun = run_hpo("run", str(path), *again, cwd=tmp_path)
        assert rerun.returncode == 0 and "nothing left to run" in rerun.stdout, rerun.stdout[-2000:] + rerun.stderr[-2000:]
        assert (folder / "pareto.json").read_bytes() == saved and all((folder / e["model"]).exists() for e in front)
    assert "--save front saves a multi-objective sweep's Pareto front" in run_hpo(
        "run", str(_write(tmp_path, "objective: {metric: val_accuracy}")), "--save", "front", cwd=tmp_path).stderr
