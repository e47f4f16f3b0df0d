"""Sweep files: the sweep schema and the validating loader."""

from hpo.config._base import is_reference
from hpo.config._load import Sweep, builtin_metrics, check_references, load_sweep
from hpo.config._objective import Constraint, Goal, ObjectiveConfig, parse_constraint
from hpo.config._sweep import SweepConfig
from hpo.config._tracking import MlflowConfig, TrackingConfig

__all__ = [
    "Constraint",
    "Goal",
    "MlflowConfig",
    "ObjectiveConfig",
    "Sweep",
    "SweepConfig",
    "TrackingConfig",
    "builtin_metrics",
    "check_references",
    "is_reference",
    "load_sweep",
    "parse_constraint",
]
