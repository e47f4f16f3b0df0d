"""Every benchmark script runs end to end on a tiny setting and prints its table (the numbers
themselves live in docs/benchmarks.md, never in assertions)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import REPO, TREE_PATH

pytestmark = pytest.mark.slow

BENCH = REPO / "benchmarks"

# (script and tiny arguments, a line its table must print)
CASES = [
    (["overhead.py", "--trials", "6"], "ms/trial"),
    (["big_study.py", "--trials", "300"], "export"),
    (["study_size.py", "--sizes", "20", "--trials", "6", "--last", "3", "--sampler", "tpe"], "hpo's own share ms"),
    (["metrics_cost.py", "--repeats", "3"], "scikit-learn"),
    (["engine_epochs.py", "--epochs", "2"], "epoch"),
    (["checkpoint_cost.py", "--epochs", "3"], "pack+write ms"),
    (["repeat_runs.py", "--runs", "1", "--code", "function"], "| function | kept | 1 | started |"),
    (["worker_gc.py", "--trials", "2"], "cleanup"),
    (["stop_latency.py", "--trials", "2"], "stop->released"),
    (["startup.py", "--repeat", "1"], "first epoch"),
    (["throughput.py", "--slots", "2", "--trials", "6", "--reports", "2", "--sleep", "0.05", "--samplers", "random",
      "--peers", "hpo", "hpo-shared", "optuna-journal", "--per-worker", "2"], "hpo-shared (2 per worker)"),
    (["throughput_cpu.py", "--slots", "2", "--trials", "4", "--reports", "2", "--sleep", "0.05"], "| trial workers |"),
    (["ray_worker_cost.py", "--slots", "2", "--idle-s", "1", "--calls", "2"], "| idle workers' CPU (cores) |"),
    (["cpu_by_process.py", "--", sys.executable, "-c", "[sum(range(10**6)) for _ in range(60)]"], "| other |"),
    (["finish.py", "--sweeps", "breast_cancer_mlp", "--seeds", "0", "--trials", "3", "--epochs", "1", "--top-k", "2",
      "--finish-seeds", "2", "--patience", "2"], "single-run best not best by mean"),
    (["gpu_packing.py", "--packing", "1", "--trials", "1", "--epochs", "1", "--samples", "300", "--size", "8"], "trials_per_hour"),
]


@pytest.mark.parametrize(("args", "expected"), CASES, ids=[case[0][0] for case in CASES])
def test_benchmark_script_runs_tiny(args, expected, tmp_path) -> None:
    env = {**os.environ, "PYTHONPATH": TREE_PATH}
    result = subprocess.run([sys.executable, str(BENCH / args[0]), *args[1:]], cwd=tmp_path, capture_output=True,
                            text=True, timeout=600, env=env)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert expected in result.stdout, result.stdout[-3000:]


def test_gpu_sweep_runs_hpo_on_a_logical_gpu_and_reads_the_study_back(tmp_path) -> None:
    """Without a GPU, Ray is given a logical one: the trials train on the CPU, but hpo packs and
    places them exactly as on a GPU host, and the table is read from the study the run left."""
    sweep = (REPO / "sweeps" / "digits_cnn.yaml").read_text()
    tiny = tmp_path / "tiny.yaml"
    tiny.write_text(sweep.replace("epochs: 12", "epochs: 1").replace("../search_spaces/", f"{REPO / 'search_spaces'}/")
                    .replace("finish:\n  top_k: 3\n  seeds: 3\n", ""))
    rows_path = tmp_path / "rows.json"
    result = subprocess.run(
        [sys.executable, str(BENCH / "gpu_sweep.py"), "--sweep", str(tiny), "--packing", "2", "--trials", "3",
         "--out", str(tmp_path / "out"), "--json", str(rows_path)],
        cwd=tmp_path, capture_output=True, text=True, timeout=600,
        env={**os.environ, "PYTHONPATH": TREE_PATH, "RAY_OVERRIDE_RESOURCES": '{"GPU": 1}'},
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    (row,) = json.loads(rows_path.read_text())
    assert (row["per_gpu"], row["concurrency"], row["complete"] + row["pruned"], row["epochs"]) == (2, 2, 3, 3)
    assert row["on_gpu"] == 3 and row["gpu_ids"] == ["0"]  # every trial's worker held a share of GPU 0
    assert row["most_at_once"] == 2 and 0 < row["slots_busy"] <= 1
    assert "| 2 | 2 |" in result.stdout


def test_compare_runs_every_peer_tiny_and_writes_its_table(tmp_path) -> None:
    out = tmp_path / "compare.json"
    plot = tmp_path / "plot.png"
    result = subprocess.run(
        [sys.executable, str(BENCH / "compare.py"), "--seeds", "0", "--trials", "2", "--epochs", "2",
         "--peers", "optuna", "optuna-par", "ray-tune", "hpo", "hpo-asha", "--asha-trials", "2", "--json", str(out), "--plot", str(plot)],
        cwd=BENCH / "compare", capture_output=True, text=True, timeout=900, env={**os.environ, "PYTHONPATH": TREE_PATH},
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    runs = json.loads(out.read_text())["runs"]
    assert set(runs) == {"optuna", "optuna-par", "ray-tune", "hpo", "hpo-asha"}
    for peer, (run,) in runs.items():
        assert len(run["trials"]) == 2, (peer, run["trials"])  # the same budget for every peer
        assert f"| {peer} |" in result.stdout
    assert "hpo's time, median over seeds" in result.stdout
    assert plot.stat().st_size > 0


@pytest.mark.parametrize("code", ["builder-compiles", "function"])
def test_compare_trains_the_users_compiled_builder_and_function_the_same_in_every_peer(code, monkeypatch) -> None:
    """compare.py's --code modes: the sweep names the user's code, which imports, and the model the
    peers train is the one the user's builder compiled (its own optimizer, Keras' defaults)."""
    import importlib

    monkeypatch.syspath_prepend(str(BENCH / "compare"))
    monkeypatch.syspath_prepend(str(BENCH))
    compare = importlib.import_module("compare")
    from hpo.config import check_references

    sweep = compare._sweep(BENCH / "compare" / "digits_cnn9.yaml", 0, 2, 1, code)
    check_references(sweep)
    assert sweep.config.model.builder == "model:build_compiled"
    assert sweep.config.objective.function == ("model:train" if code == "function" else None)
    data = compare._data(sweep)
    params = sweep.space.configuration({"filters_0": 8, "filters_1": 8, "kernel_size": 3, "units": 16, "dropout": 0.0,
                                        "learning_rate": 0.01, "momentum": 0.5, "decay_rate": 0.9, "batch_size": 64})
    model = compare._model(sweep, params, data)
    schedule = model.optimizer.learning_rate if callable(model.optimizer.learning_rate) else model.optimizer._learning_rate
    assert schedule.staircase and model.steps_per_execution == 1  # the user's compile (hpo's decays smoothly), kept


@pytest.mark.parametrize("code", ["function", "builtin"])
def test_repeat_runs_sweeps_are_valid(code, tmp_path, monkeypatch) -> None:
    """The tiny run above times trial-function sweeps only (no TensorFlow in its workers); the
    built-in trainer's sweep of repeat_runs.py is checked here as hpo loads it (its warm workers:
    test_api.py)."""
    import importlib

    monkeypatch.syspath_prepend(str(BENCH))
    repeat_runs = importlib.import_module("repeat_runs")
    from hpo.config import load_sweep

    sweep = load_sweep(repeat_runs._sweep(tmp_path, code))
    assert sweep.config.budget.trials == 4 and sweep.config.resources.concurrency == 2
    assert (sweep.config.objective.function is None) == (code == "builtin")


@pytest.mark.parametrize("seed", [0, 3, 7])
def test_chaos_draws_each_fault_kind_once_before_any_again_whatever_is_possible(seed, monkeypatch) -> None:
    """chaos.py's order of faults follows the seed, not the run's timing: a kind that cannot happen
    at the moment (a node joining when two run) keeps its turn, and each kind comes once before any
    comes again (a run drawing from what was possible met 2 kinds in 4 faults)."""
    import importlib
    import random

    monkeypatch.syspath_prepend(str(BENCH))
    chaos = importlib.import_module("chaos")
    kinds = set(chaos.KINDS)
    without_join = kinds - {"node_join"}

    def order(possible: list[set[str]]) -> list[str]:
        bag = chaos.FaultBag(random.Random(seed))
        return [bag.take(p) for p in possible]

    free = order([kinds] * 12)
    assert sorted(free[:6]) == sorted(free[6:]) == sorted(kinds)  # shuffles of every kind, one after another
    free = free[:6]
    held = order([without_join] * 5 + [kinds])
    assert held == [k for k in free if k != "node_join"] + ["node_join"]  # passed over, then its turn
    assert len(set(order([{"driver_kill", "ctrl_c"}] * 2 + [kinds] * 4))) == 6


def test_throughput_splits_the_idle_slot_time_into_ramp_between_and_tail(monkeypatch) -> None:
    """throughput.py's breakdown of the time over the floor, on trials with known start and end
    times (2 slots): one slot idle for 0.5 s before both first run, none between, one idle for the
    0.2 s after the last trial started and another ended."""
    import datetime as dt
    import importlib

    import optuna

    monkeypatch.syspath_prepend(str(BENCH))
    throughput = importlib.import_module("throughput")
    study = optuna.create_study()
    zero = dt.datetime(2026, 1, 1)
    for start, end in [(0.0, 1.0), (0.5, 1.5), (1.0, 2.0), (1.5, 2.2)]:
        study.add_trial(optuna.trial.FrozenTrial(
            number=0, state=optuna.trial.TrialState.COMPLETE, value=1.0, values=None, params={}, distributions={},
            user_attrs={}, system_attrs={}, intermediate_values={}, trial_id=0,
            datetime_start=zero + dt.timedelta(seconds=start), datetime_complete=zero + dt.timedelta(seconds=end)))
    idle = throughput._idle(throughput._timed(study), 2)
    assert idle == pytest.approx({"ramp": 0.5, "between": 0.0, "tail": 0.2})
