"""Sweep files: the sweep schema and the validating loader."""

from hpo.config._load import Sweep, builtin_metrics, check_references, load_sweep
from hpo.config._sweep import SweepConfig, is_reference

__all__ = ["Sweep", "SweepConfig", "builtin_metrics", "check_references", "is_reference", "load_sweep"]
