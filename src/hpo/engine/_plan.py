"""What the built-in trainer reads of a sweep: its data, model and train sections, nothing else."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from hpo.config import DataConfig, ModelConfig, TrainConfig

if TYPE_CHECKING:
    from hpo.config import SweepConfig

_LATENCY_METRICS = frozenset({"latency_ms", "latency_batch_ms"})


@dataclass(frozen=True)
class TrainPlan:
    """The sections a trial trains by: ``data`` (loaded when the trial is not handed its data),
    ``model`` (the builder), ``train`` (epochs, seed, steps per execution, verbosity), and whether
    the objective asks for inference latency, which is measured after training only then."""

    data: DataConfig
    model: ModelConfig
    train: TrainConfig
    measure_latency: bool = False

    @classmethod
    def of(cls, config: SweepConfig) -> TrainPlan:
        """The plan of a whole sweep: its sections, and latency when the objective uses it."""
        latency = bool(_LATENCY_METRICS & set(config.objective.metrics_used()))
        return cls(config.data, config.model, config.train, measure_latency=latency)
