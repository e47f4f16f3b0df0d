"""What periodic checkpoints cost the built-in trainer per epoch, side by side in one process.

For the default sweep's warm-start CNN on digits and a wider MLP, it trains one trial three ways:
``fit`` once (no checkpoint section), epoch by epoch (what a ``checkpoint`` section switches on),
and epoch by epoch with a checkpoint after every epoch (``every_epochs: 1``: the state captured,
packed as the worker sends it and written atomically as the driver keeps it). It prints seconds
per epoch after the first, the checkpoint's size and the time to pack and write one.

Run: .venv/bin/python benchmarks/checkpoint_cost.py [--epochs 8]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

ROOT = Path(__file__).resolve().parents[1]


def _epoch_seconds(config: Any, params: dict[str, Any], data: Any, epochs: int, mode: str, folder: Path) -> tuple[float, int, float]:
    """Seconds per epoch after the first; with checkpoints, the last one's bytes and the mean
    seconds to pack and write one."""
    from hpo import TrialContext
    from hpo.engine import TrainPlan, release_trial_state, train_trial
    from hpo.executor._checkpoints import CheckpointStore

    store = CheckpointStore(folder)
    stamps: list[float] = []
    sizes: list[int] = []
    writes: list[float] = []

    def keep(epoch: int, state: Any) -> None:
        start = time.perf_counter()
        sizes.append(len(data_bytes := state.to_bytes()))
        store.save(0, data_bytes)
        writes.append(time.perf_counter() - start)

    context = TrialContext(0, dict(params), data, 0, epochs, checkpoint_every=1 if mode == "checkpoint" else None,
                           _sink=lambda e, m: stamps.append(time.perf_counter()), _save_sink=keep)
    train_trial(TrainPlan.of(config), context, resumable=mode != "fit")
    release_trial_state()
    per_epoch = (stamps[-1] - stamps[0]) / (len(stamps) - 1)
    return per_epoch, (sizes[-1] if sizes else 0), (sum(writes) / len(writes) if writes else 0.0)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=8)
    args = parser.parse_args()

    from hpo.config import load_sweep
    from hpo.data import load_dataset

    sweep = load_sweep(ROOT / "sweeps" / "digits_cnn.yaml")
    config = sweep.config.model_copy(update={"train": sweep.config.train.model_copy(update={"epochs": args.epochs})})
    data = load_dataset(config.data)
    base = {p.name: p.value for p in sweep.space if p.kind == "fixed"}
    cnn = {**base, **sweep.config.enqueue[0], "depth": 0, "conv_dropout": 0.0, "activation": "relu", "batch_norm": False,
           "batch_size": 64}
    mlp = {**base, "family": "mlp", "depth": 2, "units_0": 512, "units_1": 256, "dropout_0": 0.2, "dropout_1": 0.2,
           "batch_norm": True, "optimizer": "adam", "learning_rate": 0.001, "batch_size": 64}
    print(f"data: {data.summary()}; backend: {os.environ.get('KERAS_BACKEND', 'tensorflow')}; {args.epochs} epochs")
    print(f"| model | fit once s/epoch | epoch by epoch s/epoch | + checkpoint every epoch s/epoch | checkpoint KiB | pack+write ms |")
    print("|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as folder:
        for name, params in (("warm-start CNN", cnn), ("MLP 512-256", mlp)):
            fit, _, _ = _epoch_seconds(config, params, data, args.epochs, "fit", Path(folder))
            by_epoch, _, _ = _epoch_seconds(config, params, data, args.epochs, "by_epoch", Path(folder))
            saving, size, write = _epoch_seconds(config, params, data, args.epochs, "checkpoint", Path(folder))
            print(f"| {name} | {fit:.3f} | {by_epoch:.3f} | {saving:.3f} | {size / 1024:.0f} | {1000 * write:.1f} |")


if __name__ == "__main__":
    main()
