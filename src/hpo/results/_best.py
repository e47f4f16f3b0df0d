"""The best trial after a sweep: re-trained once, saved as .keras, scored on the test split.

The test split is used here and nowhere else. Training is seeded, so on CPU the re-trained model
is the best trial's model; on a GPU it may differ by non-deterministic kernels.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import optuna

from hpo import _constants
from hpo.config import Sweep


def full_params(sweep: Sweep, trial: optuna.trial.FrozenTrial) -> dict[str, Any]:
    """The trial's sampled parameters plus the space's fixed values."""
    return sweep.space.sample(optuna.trial.FixedTrial(dict(trial.params)))


def best_summary(sweep: Sweep, study: optuna.Study, test_metrics: dict[str, float] | None) -> dict[str, Any]:
    best = study.best_trial
    return {
        "sweep": sweep.name,
        "study": study.study_name,
        "trial": best.number,
        "objective": {"metric": sweep.config.objective.metric, "direction": sweep.config.objective.direction, "value": best.value},
        "params": full_params(sweep, best),
        "validation_metrics": best.user_attrs.get(_constants.ATTR_METRICS, {}),
        "test_metrics": test_metrics or {},
        "epochs": best.user_attrs.get(_constants.ATTR_EPOCHS),
    }


def evaluate_best(sweep: Sweep, study: optuna.Study, folder: Path) -> dict[str, Any]:
    """Re-train the best configuration, save ``best_model.keras``, write ``best.json``."""
    from hpo._trial import TrialContext
    from hpo.data import load_dataset
    from hpo.engine import evaluate_on_test, train_trial

    best = study.best_trial
    data = load_dataset(sweep.config)
    context = TrialContext(best.number, full_params(sweep, best), data, sweep.config.train.seed, sweep.config.train.epochs)
    result = train_trial(sweep.config, context, keep_model=True)
    test_metrics = evaluate_on_test(result.model, data, result.normalization)
    result.model.save(folder / _constants.BEST_MODEL)
    summary = best_summary(sweep, study, test_metrics)
    summary["retrained_validation_metrics"] = result.last
    (folder / _constants.BEST_JSON).write_text(json.dumps(summary, indent=2, default=str))
    return summary
