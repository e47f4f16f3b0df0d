"""hpo: hyperparameter sweeps for Keras models, Optuna studies executed in parallel by Ray.

Importing hpo is cheap: TensorFlow and Ray are imported only by the parts that train or execute.
"""

from hpo._api import SweepResult, load, run, stop_ray
from hpo._errors import (
    ConfigError,
    DataError,
    HpoError,
    Problem,
    SweepAborted,
    SweepInterrupted,
    TrialFailed,
    UsageError,
)
from hpo._trial import TrialContext, TrialPaused, TrialResult, TrialStopped
from hpo.config import Sweep, SweepConfig, load_sweep
from hpo.space import SearchSpace, load_space_block, parse_space

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
    "SweepInterrupted",
    "SweepResult",
    "TrialContext",
    "TrialFailed",
    "TrialPaused",
    "TrialResult",
    "TrialStopped",
    "UsageError",
    "load",
    "load_space_block",
    "load_sweep",
    "parse_space",
    "run",
    "stop_ray",
]
