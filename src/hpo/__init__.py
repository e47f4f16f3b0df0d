"""hpo: hyperparameter sweeps for Keras models, Optuna studies executed in parallel by Ray Tune.

Importing hpo is cheap: TensorFlow and Ray are imported only by the parts that train or execute.
"""

from hpo._errors import (
    ConfigError,
    DataError,
    HpoError,
    Problem,
    SweepAborted,
    TrialFailed,
    UsageError,
)
from hpo.config import Sweep, SweepConfig, load_space_block, load_sweep, parse_space
from hpo.space import SearchSpace

__version__ = "0.1.0"

__all__ = [
    "ConfigError",
    "DataError",
    "HpoError",
    "Problem",
    "SearchSpace",
    "Sweep",
    "SweepAborted",
    "SweepConfig",
    "TrialFailed",
    "UsageError",
    "load_space_block",
    "load_sweep",
    "parse_space",
]
