"""The Keras trial engine: models, optimizers, schedules, metrics and the training loop.

Importing this package imports Keras (and its backend); the CLI does so only in commands that train.
"""

from hpo.engine._checkpoint import Checkpoint
from hpo.engine._metrics import compute_metrics, regression_metrics
from hpo.engine._models import build_model
from hpo.engine._optimizers import build_optimizer, learning_rate_schedule
from hpo.engine._plan import TrainPlan
from hpo.engine._session import freeze_imports, release_trial_state
from hpo.engine._train import (
    TrainedModel,
    evaluate_on_test,
    model_bytes,
    score_best,
    train_trial,
)

__all__ = [
    "Checkpoint",
    "TrainPlan",
    "TrainedModel",
    "build_model",
    "build_optimizer",
    "compute_metrics",
    "evaluate_on_test",
    "freeze_imports",
    "learning_rate_schedule",
    "model_bytes",
    "regression_metrics",
    "release_trial_state",
    "score_best",
    "train_trial",
]
