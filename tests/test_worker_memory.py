"""A reused worker's memory stays flat: 60 trials of the built-in trainer in one process."""

from __future__ import annotations

from pathlib import Path

import pytest

from hpo.config import SweepConfig
from hpo.data import load_dataset
from hpo.executor._worker import TrialWorker

pytestmark = pytest.mark.slow

TRIALS = 60
WARM = 15
BOUND_MB = 100  # what 45 more trials may add once warm (the leak this guards against grew ~4 MB a trial: 180 MB)


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS in /proc/self/status")


def test_memory_stays_flat_over_60_reused_trials() -> None:
    config = SweepConfig.model_validate({
        "name": "leak", "data": {"source": "synthetic", "options": {"samples": 240, "features": 8, "classes": 3}},
        "train": {"epochs": 1}, "objective": {"metric": "val_accuracy"},
    })
    worker = TrialWorker(config.model_dump(mode="json"), load_dataset(config.data))
    samples = []
    for number in range(TRIALS):
        params = {"family": "mlp", "depth": 1 + number % 2, "units_0": 16 + number % 7, "units_1": 8, "batch_size": 64, "optimizer": "adam"}
        events = list(worker.run(number, params))
        assert events[-1]["kind"] == "end", events[-1]
        if number + 1 in (WARM, TRIALS):
            samples.append(_rss_mb())
    grown = samples[1] - samples[0]
    assert grown < BOUND_MB, f"RSS grew {grown:.0f} MB from trial {WARM} to {TRIALS} ({samples[0]:.0f} -> {samples[1]:.0f} MB)"
