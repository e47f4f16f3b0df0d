"""hpo: hyperparameter sweeps for Keras models, Optuna studies executed in parallel by Ray.

Importing hpo is cheap: TensorFlow and Ray are imported only by the parts that train or execute,
and the exports below that need Optuna, pandas or the sweep loader only on first use (a trial
worker imports none of them).
"""

from typing import TYPE_CHECKING

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
from hpo._lazy import lazy_exports
from hpo._trial import TrialContext, TrialPaused, TrialResult, TrialStopped

if TYPE_CHECKING:
    from hpo._api import SweepResult, load, run, stop_ray
    from hpo.config import Sweep, SweepConfig, load_sweep
    from hpo.space import SearchSpace, load_space_block, parse_space

__getattr__, __dir__ = lazy_exports(
    globals(),
    {
        **dict.fromkeys(["SweepResult", "load", "run", "stop_ray"], "hpo._api"),
        **dict.fromkeys(["Sweep", "SweepConfig", "load_sweep"], "hpo.config"),
        **dict.fromkeys(["SearchSpace", "load_space_block", "parse_space"], "hpo.space"),
    },
)

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
