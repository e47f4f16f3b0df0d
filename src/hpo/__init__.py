"""hpo: hyperparameter sweeps for Keras models, Optuna studies executed in parallel by Ray Tune.

Importing hpo is cheap: TensorFlow and Ray are imported only by the parts that train or execute.
"""

from hpo._errors import ConfigError, HpoError, Problem, SweepAborted, TrialFailed
from hpo.config import Sweep, SweepConfig, load_space_block, load_sweep, parse_space
from hpo.space import SearchSpace

__version__ = "0.1.0"

__all__ = [
    "ConfigError",
    "HpoError",
    "Problem",
    "SearchSpace",
    "Sweep",
    "SweepAborted",
    "SweepConfig",
    "TrialFailed",
    "load_space_block",
    "load_sweep",
    "parse_space",
]
