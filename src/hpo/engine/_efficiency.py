"""What a model costs, measured while it trains: parameters, inference latency, seconds per
epoch, host memory. Reported like any metric, for multi-objective sweeps and constraints."""

from __future__ import annotations

import os
import resource
import statistics
import time

import keras
import numpy as np

_LATENCY_REPEATS = {1: 30, "eval": 7}  # timed calls after one untimed (tracing) call
_EVAL_BATCH = 256


def resident_mb() -> float:
    """This process's resident memory now (Linux), else its peak so far."""
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _median_ms(model: keras.Model, batch: np.ndarray, repeats: int) -> float:
    model.predict_on_batch(batch)  # traces the predict step for this shape
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        keras.ops.convert_to_numpy(model.predict_on_batch(batch))
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def latency(model: keras.Model, x: np.ndarray) -> dict[str, float]:
    """Median inference time of one sample (``latency_ms``) and of an evaluation batch of up to
    256 samples (``latency_batch_ms``), each over repeated timed calls."""
    return {
        "latency_ms": _median_ms(model, x[:1], _LATENCY_REPEATS[1]),
        "latency_batch_ms": _median_ms(model, x[:_EVAL_BATCH], _LATENCY_REPEATS["eval"]),
    }


class CostMeter(keras.callbacks.Callback):
    """Parameters, training seconds of the last epoch and the peak resident memory seen at epoch ends."""

    def __init__(self) -> None:
        super().__init__()
        self._epoch_start = 0.0
        self.peak_mb = resident_mb()

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._epoch_start = time.perf_counter()

    def measure(self) -> dict[str, float]:
        """This epoch's costs; called at its end, before validation."""
        self.peak_mb = max(self.peak_mb, resident_mb())
        return {
            "params": float(self.model.count_params()),
            "epoch_seconds": time.perf_counter() - self._epoch_start,
            "peak_memory_mb": self.peak_mb,
        }
