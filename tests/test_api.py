"""The Python API (`hpo.run`, `hpo.load`) and shell completion."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from optuna.trial import TrialState

import hpo
from tests.conftest import TREE_PATH


def _sweep(tmp_path: Path) -> Path:
    path = tmp_path / "api.yaml"
    path.write_text(textwrap.dedent(f"""
        name: api
        data: {{source: digits}}
        train: {{epochs: 4}}
        objective: {{metric: val_accuracy, function: "tests.cheap:objective"}}
        space: {{params: {{x: {{type: float, low: 0.0, high: 1.0}}, epochs: 4}}}}
        sampler: {{name: random, seed: 0}}
        budget: {{trials: 6}}
        results_dir: {tmp_path / "results"}
    """))
    return path


def test_unknown_settings_are_refused_before_anything_runs(tmp_path) -> None:
    with pytest.raises(hpo.UsageError, match="unknown setting trails; use one of trials, timeout"):
        hpo.run(_sweep(tmp_path), trails=3)


@pytest.mark.slow
def test_a_sweep_runs_from_python_and_reads_back(tmp_path) -> None:
    result = hpo.run(_sweep(tmp_path), trials=4, progress=False)
    assert [t.state for t in result.study.trials].count(TrialState.RUNNING) == 0 and len(result.study.trials) == 4
    assert result.folder == tmp_path / "results" / "api" and (result.folder / "report.html").exists()
    assert result.best is not None and result.front == [result.best]
    assert list(result.trials["number"]) == [0, 1, 2, 3] and result.outcome.counts["complete"] + result.outcome.counts["pruned"] == 4
    again = hpo.load(_sweep(tmp_path))
    assert again.best.number == result.best.number and again.outcome is None
    # a Sweep built in code, overrides by dotted key: continues the same study to 6 trials
    sweep = hpo.load_sweep(_sweep(tmp_path))
    more = hpo.run(sweep, overrides={"budget.trials": 6}, progress=False)
    assert len(more.study.trials) == 6 and more.study.study_name == "api"


@pytest.mark.slow
def test_runs_in_one_process_pay_rays_start_once_unless_they_ship_other_modules(tmp_path) -> None:
    """A notebook: the second `hpo.run` reuses the local Ray the first kept; a sweep whose trial
    function lives in a module the kept Ray does not ship gets a fresh Ray (and its module reaches
    the workers), and after the user edits that module the next run trains the edited code;
    `hpo.stop_ray()` stops it, and leaves a Ray the caller started alone."""
    (tmp_path / "mine.py").write_text("from tests.cheap import objective as mine\n")
    other = tmp_path / "other.yaml"
    other.write_text(_sweep(tmp_path).read_text().replace("tests.cheap:objective", "mine:mine").replace("name: api", "name: other"))
    script = textwrap.dedent(f"""
        import ray, hpo
        first = hpo.run({str(_sweep(tmp_path))!r}, trials=2, progress=False)
        assert ray.is_initialized()
        node = ray.get_runtime_context().get_node_id()
        second = hpo.run({str(_sweep(tmp_path))!r}, trials=4, progress=False)
        same = ray.get_runtime_context().get_node_id() == node
        third = hpo.run({str(other)!r}, trials=2, progress=False)
        fresh = ray.get_runtime_context().get_node_id() != node
        print(first.outcome.ray, second.outcome.ray, third.outcome.ray, same, fresh, len(third.study.trials))
        # the user edits their module: the next run on the kept Ray trains the edited code
        open("mine.py", "w").write("def mine(trial):\\n    trial.report(1, {{'val_accuracy': 0.75}})\\n")
        fourth = hpo.run({str(other)!r}, trials=3, progress=False)
        print(fourth.outcome.ray, fourth.study.trials[-1].value)
        hpo.stop_ray()
        print(ray.is_initialized())
        ray.init(address="local", include_dashboard=False)  # the caller's own Ray: hpo.stop_ray leaves it
        hpo.stop_ray()
        print(ray.is_initialized())
    """)
    result = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=600,
                            env={**os.environ, "PYTHONPATH": f"{TREE_PATH}:{tmp_path}"})
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    assert result.stdout.split()[-10:] == ["started", "reused", "started", "True", "True", "2", "reused", "0.75", "False", "True"]


@pytest.mark.slow
def test_the_next_sweep_of_a_process_trains_in_the_warm_workers_the_last_one_left(tmp_path) -> None:
    """A notebook's next `hpo.run` of a built-in-trainer sweep runs its trials in the workers the
    last one left up (TensorFlow imported), with its own data and settings; a warm worker that died
    meanwhile is replaced; a sweep of another shape gets new workers, and so does every sweep that
    runs the user's code (a warm worker would not import an edited module afresh)."""

    def sweep(name: str, data: str = "digits", epochs: int = 1, cpus: float = 1.0, concurrency: int = 2,
              function: str | None = None) -> Path:
        path = tmp_path / f"{name}.yaml"
        objective = {"digits": "", "diabetes": "objective: {metric: val_mse, direction: minimize}"}[data]
        if function:
            objective = f'objective: {{metric: val_accuracy, function: "{function}"}}'
        path.write_text(textwrap.dedent(f"""
            name: {name}
            data: {{source: {data}}}
            train: {{epochs: {epochs}}}
            space: {{params: {{learning_rate: {{type: float, low: 0.01, high: 0.1}}}}}}
            sampler: {{name: random, seed: 0}}
            pruner: {{name: none}}
            budget: {{trials: 2}}
            resources: {{concurrency: {concurrency}, cpus_per_trial: {cpus}}}
            results_dir: {tmp_path / "results"}
        """) + objective + "\n")
        return path

    def pids(result: hpo.SweepResult) -> set[int]:
        assert [t.state for t in result.study.trials] == [TrialState.COMPLETE] * 2
        return {t.user_attrs["hpo:placement"]["pid"] for t in result.study.trials}

    first = hpo.run(sweep("a"), progress=False)
    warm = pids(first)
    assert len(warm) == 2
    second = hpo.run(sweep("b", data="diabetes", epochs=2), progress=False)  # regression: other data, other metrics
    assert second.outcome.ray == "reused" and pids(second) == warm
    assert all(sorted(t.intermediate_values) == [1, 2] for t in second.study.trials) and second.best.value > 0
    lost = min(warm)
    os.kill(lost, signal.SIGKILL)
    third = hpo.run(sweep("c"), progress=False)
    assert pids(third) & warm == warm - {lost} and lost not in pids(third)
    other_shape = hpo.run(sweep("d", cpus=0.5, concurrency=1), progress=False)
    assert not pids(other_shape) & pids(third)

    functions = hpo.run(sweep("e", function="tests.cheap:objective"), progress=False)
    again = hpo.run(sweep("f", function="tests.cheap:objective"), progress=False)
    assert again.outcome.ray == "reused" and not pids(again) & pids(functions)


def test_completion_offers_commands_sweep_files_and_parameter_names(tmp_path) -> None:
    (tmp_path / "sweeps").mkdir()
    _sweep(tmp_path).rename(tmp_path / "sweeps" / "api.yaml")

    def complete(words: str) -> list[str]:
        env = {**os.environ, "_HPO_COMPLETE": "complete_bash", "COMP_WORDS": words, "COMP_CWORD": str(len(words.split()) - (0 if words.endswith(" ") else 1))}
        out = subprocess.run([str(Path(sys.executable).parent / "hpo")], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60)
        return out.stdout.split()

    assert {"run", "resume", "status", "best"} <= set(complete("hpo "))
    assert complete("hpo run sw") == ["sweeps/api.yaml"]
    assert complete("hpo enqueue sweeps/api.yaml e") == ["epochs="]
