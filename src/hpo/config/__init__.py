"""Sweep files: the sweep schema and the validating loader (imported on first use: a trial worker
needs the schema only)."""

from typing import TYPE_CHECKING

from hpo._lazy import lazy_exports
from hpo.config._base import is_reference
from hpo.config._objective import Constraint, Goal, ObjectiveConfig, parse_constraint
from hpo.config._sweep import CheckpointConfig, DataConfig, ModelConfig, ResourcesConfig, SweepConfig, TrainConfig
from hpo.config._tracking import MlflowConfig, TrackingConfig

if TYPE_CHECKING:
    from hpo.config._load import Sweep, builtin_metrics, check_references, load_sweep

__getattr__, __dir__ = lazy_exports(
    globals(), dict.fromkeys(["Sweep", "builtin_metrics", "check_references", "load_sweep"], "hpo.config._load")
)

__all__ = [
    "CheckpointConfig",
    "Constraint",
    "DataConfig",
    "Goal",
    "MlflowConfig",
    "ModelConfig",
    "ObjectiveConfig",
    "ResourcesConfig",
    "Sweep",
    "SweepConfig",
    "TrackingConfig",
    "TrainConfig",
    "builtin_metrics",
    "check_references",
    "is_reference",
    "load_sweep",
    "parse_constraint",
]
