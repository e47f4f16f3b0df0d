"""Sweep files: YAML reading with line numbers, the sweep schema and the validating loader."""

from hpo.config._load import Sweep, load_space_block, load_sweep, parse_space
from hpo.config._sweep import SweepConfig

__all__ = ["Sweep", "SweepConfig", "load_space_block", "load_sweep", "parse_space"]
