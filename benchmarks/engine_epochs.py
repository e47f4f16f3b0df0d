"""Epochs per second of one trial on digits for the default sweep's warm-start CNN.

Compares ``train.steps_per_execution`` and batch sizes side by side in one process.
Run: .venv/bin/python benchmarks/engine_epochs.py [--epochs 12]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=12)
    args = parser.parse_args()

    from hpo import TrialContext
    from hpo.config import load_sweep
    from hpo.data import load_dataset
    from hpo.engine import TrainPlan, train_trial

    sweep = load_sweep(Path(__file__).resolve().parents[1] / "sweeps" / "digits_cnn.yaml")
    data = load_dataset(sweep.config.data)
    base = {p.name: p.value for p in sweep.space if p.kind == "fixed"}
    params = {**base, **sweep.config.enqueue[0], "depth": 0, "conv_dropout": 0.0, "activation": "relu", "batch_norm": False}
    print(f"data: {data.summary()}; backend: {os.environ.get('KERAS_BACKEND', 'tensorflow')}")
    print(f"{'batch':>5} {'steps/exec':>10} {'first epoch s':>13} {'epochs/s after':>14} {'final val acc':>13}")
    for batch_size in (32, 64, 128):
        for spe in (1, 8, 32):
            config = sweep.config.model_copy(update={"train": sweep.config.train.model_copy(update={"steps_per_execution": spe, "epochs": args.epochs})})
            stamps: list[float] = []
            start = time.perf_counter()
            trial = TrialContext(0, {**params, "batch_size": batch_size}, data, 0, args.epochs,
                                 _sink=lambda e, m, s=stamps: s.append(time.perf_counter()))
            result = train_trial(TrainPlan.of(config), trial)
            rest = (stamps[-1] - stamps[0]) / (len(stamps) - 1)
            print(f"{batch_size:>5} {spe:>10} {stamps[0] - start:>13.2f} {1 / rest:>14.2f} {result.last['val_accuracy']:>13.3f}")


if __name__ == "__main__":
    main()
