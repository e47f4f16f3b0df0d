"""Start-up: how long until hpo's first trial starts and reports its first epoch, against what Ray
itself needs (a bare ``ray.init()`` and one task, and one task that imports Keras), in one run.

Run: .venv/bin/python benchmarks/startup.py
"""

from __future__ import annotations

import json
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
    ray.init(include_dashboard=False, log_to_driver=False)
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
    def listener(event, number, detail):
        first.setdefault(event, time.perf_counter() - start)
    sweep = load_sweep("sweeps/digits_cnn.yaml").with_overrides(**{"budget.trials": 2, "train.epochs": 2, "results_dir": sys.argv[1]})
    outcome = run_sweep(sweep, listener=listener, new_study=True, evaluate=False)
    print(json.dumps({"first_trial_launched_s": first["started"], "first_epoch_reported_s": first["epoch"], **outcome.timings}))
""")


def _child(code: str, *args: str) -> dict[str, float]:
    out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=REPO, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> dict[str, dict[str, float]]:
    ray = _child(_RAY_ONLY)
    with tempfile.TemporaryDirectory() as tmp:
        hpo = _child(_HPO, tmp)
    print("seconds from the call (imports before it excluded)")
    print(f"  bare ray.init()                                  {ray['ray_init_s']:6.2f}")
    print(f"  ray.init() + one task                            {ray['plus_one_task_s']:6.2f}")
    print(f"  ray.init() + a task importing Keras              {ray['plus_keras_task_s']:6.2f}")
    print(f"  hpo: Ray started                                 {hpo['ray_start_s']:6.2f}")
    print(f"  hpo: first trial launched (asked, sent to a worker) {hpo['first_trial_launched_s']:6.2f}")
    print(f"  hpo: first trial started in its worker           {hpo['ray_start_s'] + hpo['first_trial_started_s']:6.2f}")
    print(f"  hpo: first epoch reported                        {hpo['first_epoch_reported_s']:6.2f}")
    budget = max(3.0, ray["plus_one_task_s"] + 1.0)
    print(f"first trial launched within max(3 s, ray.init + one task + 1 s) = {budget:.2f} s: {hpo['first_trial_launched_s'] <= budget}")
    epoch_budget = ray["plus_keras_task_s"] + 2.5
    print(f"first epoch within ray.init + Keras task + 2.5 s = {epoch_budget:.2f} s: {hpo['first_epoch_reported_s'] <= epoch_budget}")
    return {"ray": ray, "hpo": hpo}


if __name__ == "__main__":
    main()
