"""What a reused trial process pays for Python's garbage collector with TensorFlow imported: the
same three-epoch CNN trials of the default sweep, the cleanup after each trial timed, with and
without ``gc.freeze()`` after the imports (what hpo's workers do). Each setting runs in a fresh
process. Run: .venv/bin/python benchmarks/worker_gc.py [--trials 4]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

_CHILD = textwrap.dedent("""
    import gc, json, sys, time
    from hpo import TrialContext
    from hpo.config import load_sweep
    from hpo.data import load_dataset
    from hpo.engine import TrainPlan, release_trial_state, train_trial
    freeze, trials = sys.argv[1] == "1", int(sys.argv[2])
    sweep = load_sweep("sweeps/digits_cnn.yaml")
    config = sweep.config.model_copy(update={"train": sweep.config.train.model_copy(update={"epochs": 3})})
    data = load_dataset(config.data)
    params = {**{p.name: p.value for p in sweep.space if p.kind == "fixed"}, **config.enqueue[0],
              "depth": 0, "conv_dropout": 0.0, "activation": "relu", "batch_norm": False}
    if freeze:
        gc.collect(); gc.freeze()
    rows = []
    for _ in range(trials):
        start = time.perf_counter()
        train_trial(TrainPlan.of(config), TrialContext(0, params, data, 0, 3), keep_model=True)
        trained = time.perf_counter()
        release_trial_state()
        rows.append({"train_s": trained - start, "cleanup_s": time.perf_counter() - trained})
    print(json.dumps({"tracked_objects": len(gc.get_objects()), "rows": rows}))
""")


def main(argv: list[str] | None = None) -> dict[str, dict]:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=4)
    args = parser.parse_args(argv)
    results = {}
    for label, freeze in (("no freeze", "0"), ("gc.freeze() after imports", "1")):
        out = subprocess.run([sys.executable, "-c", _CHILD, freeze, str(args.trials)], capture_output=True, text=True, cwd=REPO, check=True)
        results[label] = json.loads(out.stdout.strip().splitlines()[-1])
    print(f"{args.trials} trials of 3 epochs each (the first includes graph tracing); medians of the rest")
    print(f"{'worker':<28} {'train s/trial':>14} {'cleanup ms/trial':>17} {'objects the collector tracks':>29}")
    for label, result in results.items():
        rest = result["rows"][1:] or result["rows"]
        train = sorted(r["train_s"] for r in rest)[len(rest) // 2]
        cleanup = sorted(r["cleanup_s"] for r in rest)[len(rest) // 2]
        print(f"{label:<28} {train:>14.2f} {1000 * cleanup:>17.0f} {result['tracked_objects']:>29,}")
    return results


if __name__ == "__main__":
    main()
