"""Start-up: how long until hpo's first trial starts and reports its first epoch, against what Ray
itself needs (a bare ``ray.init()`` and one task, and one task that imports Keras), in one run.

Run: .venv/bin/python benchmarks/startup.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

_RAY_ONLY = textwrap.dedent("""
    import json, time
    start = time.perf_counter()
    import ray
    # "local": a fresh Ray, as hpo starts one, never a cluster `ray start` left on this machine
    ray.init(address="local", include_dashboard=False, log_to_driver=False)
    up = time.perf_counter()

    @ray.remote
    def nothing():
        return 1

    @ray.remote
    def with_keras():
        import keras
        return keras.__version__

    ray.get(nothing.remote())
    task = time.perf_counter()
    ray.get(with_keras.remote())
    keras_task = time.perf_counter()
    print(json.dumps({"ray_init_s": up - start, "plus_one_task_s": task - start, "plus_keras_task_s": keras_task - task + (up - start)}))
""")

_HPO = textwrap.dedent("""
    import json, sys, time
    from hpo.config import load_sweep
    from hpo.executor import run_sweep
    start = time.perf_counter()
    first = {}
    def listener(notice):
        first.setdefault(type(notice).__name__, time.perf_counter() - start)
    sweep = load_sweep("sweeps/digits_cnn.yaml").with_overrides(**{"budget.trials": 2, "train.epochs": 2, "results_dir": sys.argv[1]})
    outcome = run_sweep(sweep, listener=listener, new_study=True, evaluate=False)
    print(json.dumps({"first_trial_launched_s": first["TrialStarted"], "first_epoch_reported_s": first["EpochReported"], **outcome.timings}))
""")


def _child(code: str, *args: str) -> dict[str, float]:
    out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=REPO, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


_ROWS = (
    ("bare ray.init()", "ray", "ray_init_s"),
    ("ray.init() + one task", "ray", "plus_one_task_s"),
    ("ray.init() + a task importing Keras", "ray", "plus_keras_task_s"),
    ("hpo: Ray started", "hpo", "ray_start_s"),
    ("hpo: first trial launched (asked, sent to a worker)", "hpo", "first_trial_launched_s"),
    ("hpo: first trial started in its worker", "hpo", "first_trial_in_worker_s"),
    ("hpo: first epoch reported", "hpo", "first_epoch_reported_s"),
)


def _once() -> dict[str, dict[str, float]]:
    """One bare Ray run, then one hpo run, each in a fresh process; with both bounds."""
    ray = _child(_RAY_ONLY)
    with tempfile.TemporaryDirectory() as tmp:
        hpo = _child(_HPO, tmp)
    hpo["first_trial_in_worker_s"] = hpo["ray_start_s"] + hpo["first_trial_started_s"]
    bounds = {
        "launch_bound_s": max(3.0, ray["plus_one_task_s"] + 1.0),
        "epoch_bound_s": ray["plus_keras_task_s"] + 2.5,
    }
    return {"ray": ray, "hpo": hpo, "bounds": bounds}


def _spread(values: list[float]) -> str:
    return f"{statistics.median(values):6.2f} ({min(values):.2f}-{max(values):.2f})"


def main(repeat: int = 3) -> list[dict[str, dict[str, float]]]:
    runs = [_once() for _ in range(repeat)]
    print(f"seconds from the call (imports before it excluded), median (min-max) of {repeat} runs")
    for label, side, key in _ROWS:
        print(f"  {label:<52} {_spread([run[side][key] for run in runs])}")
    launched = sum(run["hpo"]["first_trial_launched_s"] <= run["bounds"]["launch_bound_s"] for run in runs)
    epoch = sum(run["hpo"]["first_epoch_reported_s"] <= run["bounds"]["epoch_bound_s"] for run in runs)
    print(f"first trial launched within max(3 s, ray.init + one task + 1 s) "
          f"[{_spread([run['bounds']['launch_bound_s'] for run in runs]).strip()}]: {launched} of {repeat} runs")
    print(f"first epoch within ray.init + Keras task + 2.5 s "
          f"[{_spread([run['bounds']['epoch_bound_s'] for run in runs]).strip()}]: {epoch} of {repeat} runs")
    return runs


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs of each (bare Ray, hpo), one after the other")
    main(parser.parse_args().repeat)
