"""How long a stopped trial holds its worker: from the stop (raised where hpo's trainer raises it,
at a report or at a batch) until its state is released, with Keras's own numpy input pipeline
(tf.data, autotuned) and with hpo's (``hpo.engine._batches.tf_batches``, not autotuned), side by
side, alternating, in ``--workers`` processes training at once (as a sweep's workers do; the
stall shows under contention); and each pipeline's time per epoch.

Run: .venv/bin/python benchmarks/stop_latency.py [--trials 20] [--workers 2]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


class _Stop(Exception):
    pass


def measure(trials: int, offset: int) -> dict[str, dict[str, list[float]]]:
    """Stop ``trials`` trials with each pipeline in this process; seconds per stop and per epoch."""
    import keras

    from hpo.config import load_sweep
    from hpo.data import load_dataset
    from hpo.engine import build_model, build_optimizer, freeze_imports, release_trial_state
    from hpo.engine._batches import tf_batches

    sweep = load_sweep(Path(__file__).resolve().parents[1] / "sweeps" / "digits_cnn.yaml")
    data = load_dataset(sweep.config.data)
    base = {p.name: p.value for p in sweep.space if p.kind == "fixed"}
    params = {**base, **sweep.config.enqueue[0], "depth": 0, "conv_dropout": 0.0, "activation": "relu", "batch_norm": False}
    batch = int(params["batch_size"])
    steps = -(-len(data.y_train) // batch)
    freeze_imports()  # as in hpo's workers

    class StopAt(keras.callbacks.Callback):
        """Stops at epoch 2's report (``batch`` None) or at a batch of epoch 3, as the pruner's stop lands."""

        def __init__(self, batch: int | None) -> None:
            super().__init__()
            self.batch, self.epoch, self.began, self.epoch_s, self.raised = batch, 0, 0.0, [], 0.0

        def on_epoch_begin(self, epoch, logs=None):
            self.epoch, self.began = epoch, time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.epoch_s.append(time.perf_counter() - self.began)
            if self.batch is None and epoch == 1:
                self.raised = time.perf_counter()
                raise _Stop

        def on_train_batch_end(self, batch, logs=None):
            if self.batch is not None and self.epoch == 2 and batch >= self.batch:
                self.raised = time.perf_counter()
                raise _Stop

    results: dict[str, dict[str, list[float]]] = {"keras numpy (autotuned)": {"stop": [], "epoch": []}, "hpo tf_batches": {"stop": [], "epoch": []}}
    for i in range(offset, offset + trials):
        where = None if i % 2 == 0 else (i * 7) % steps  # at the report, or at some batch
        for name, result in results.items():
            keras.utils.set_random_seed(i)
            model = build_model(sweep.config.model.builder, params, data.input_shape, data.n_classes, seed=i)
            model.compile(optimizer=build_optimizer(params, steps, 12), loss="sparse_categorical_crossentropy", steps_per_execution=8)
            stop = StopAt(where)
            try:
                if name.startswith("hpo"):
                    model.fit(tf_batches(data.x_train, data.y_train, batch, i), epochs=12, verbose=0, callbacks=[stop], shuffle=False)
                else:
                    model.fit(data.x_train, data.y_train, batch_size=batch, epochs=12, verbose=0, callbacks=[stop])
            except _Stop:
                pass
            del model
            release_trial_state()
            result["stop"].append(time.perf_counter() - stop.raised)
            result["epoch"] += stop.epoch_s[1:]  # the first epoch traces
    return results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=20, help="stopped trials per pipeline and worker")
    parser.add_argument("--workers", type=int, default=2, help="processes stopping trials at once")
    parser.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        print(json.dumps(measure(args.trials, args.child * args.trials)))
        return
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parents[1]), os.environ.get("PYTHONPATH", "")])}
    children = [subprocess.Popen([sys.executable, __file__, "--trials", str(args.trials), "--child", str(k)], stdout=subprocess.PIPE, text=True, env=env)
                for k in range(args.workers)]
    results: dict[str, dict[str, list[float]]] = {}
    for child in children:
        out, _ = child.communicate()
        if child.returncode:
            raise SystemExit(f"a worker failed (exit {child.returncode})")
        for name, result in json.loads(out.strip().splitlines()[-1]).items():
            for key, values in result.items():
                results.setdefault(name, {}).setdefault(key, []).extend(values)
    print(f"{args.trials} stopped trials per pipeline in each of {args.workers} workers at once "
          "(default sweep's warm-start CNN, digits), seconds")
    print(f"{'pipeline':<26} {'stop->released median':>22} {'p90':>7} {'max':>7} {'epoch median':>13}")
    for name, result in results.items():
        stops = sorted(result["stop"])
        p90 = stops[min(len(stops) - 1, int(0.9 * len(stops)))]
        print(f"{name:<26} {statistics.median(stops):22.3f} {p90:7.3f} {stops[-1]:7.3f} {statistics.median(result['epoch']):13.3f}")


if __name__ == "__main__":
    main()
