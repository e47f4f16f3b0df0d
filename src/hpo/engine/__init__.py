"""The Keras trial engine: data, models, optimizers, schedules, metrics and the training loop.

Importing this package imports Keras (and its backend); the CLI does so only in commands that train.
"""

from hpo.data import DataError, Dataset, load_dataset, normalize, split, synthetic
from hpo.engine._backend import backend_name, limit_gpu_memory, release_trial_state
from hpo.engine._metrics import compute_metrics
from hpo.engine._models import build_model
from hpo.engine._optimizers import build_optimizer, learning_rate_schedule
from hpo.engine._train import Reporter, TrialResult, evaluate_on_test, train_trial

__all__ = [
    "DataError",
    "Dataset",
    "Reporter",
    "TrialResult",
    "backend_name",
    "build_model",
    "build_optimizer",
    "compute_metrics",
    "evaluate_on_test",
    "learning_rate_schedule",
    "limit_gpu_memory",
    "load_dataset",
    "normalize",
    "release_trial_state",
    "split",
    "synthetic",
    "train_trial",
]
