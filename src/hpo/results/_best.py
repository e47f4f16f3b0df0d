"""The best trial after a sweep: its summary, its model and test metrics in ``best.json``.

A worker re-trains the best configuration once and scores it on the test split (the only use of
that split); the driver writes what comes back. Training is seeded, so on CPU the re-trained model
is the best trial's model; on a GPU it may differ by non-deterministic kernels.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import FrozenTrial

from hpo import _constants
from hpo.config import Sweep
from hpo.study import best_trial, watched_value


def trial_summary(
    sweep: Sweep, study: optuna.Study, trial: FrozenTrial, test_metrics: dict[str, float] | None
) -> dict[str, Any]:
    """One finished trial as ``best.json`` (and each entry of ``pareto.json``) describe it."""
    objective = sweep.config.objective
    summary = {
        "sweep": sweep.name,
        "study": study.study_name,
        "trial": trial.number,
        "objective": {
            "metric": objective.metric,
            "direction": objective.direction,
            "value": watched_value(trial, objective),
        },
        "params": sweep.space.configuration(trial.params),
        "validation_metrics": trial.user_attrs.get(_constants.ATTR_METRICS, {}),
        "test_metrics": test_metrics or {},
        "epochs": trial.user_attrs.get(_constants.ATTR_EPOCHS),
    }
    if objective.multi:
        summary["values"] = {g.metric: v for g, v in zip(objective.targets, trial.values, strict=True)}
    if trial.constraints:
        summary["constraints"] = dict(trial.constraints)
    return summary


def best_summary(sweep: Sweep, study: optuna.Study, test_metrics: dict[str, float] | None) -> dict[str, Any] | None:
    best = best_trial(study, sweep.config.objective)
    return None if best is None else trial_summary(sweep, study, best, test_metrics)


def write_best(sweep: Sweep, study: optuna.Study, final: dict[str, Any], folder: Path) -> dict[str, Any]:
    """Write ``best.json`` (and ``best_model.keras`` when the worker sent a model) for the re-trained
    best trial, or for the finish's selected configuration (with the ``finish`` summary)."""
    trials = study.get_trials(deepcopy=False)
    summary = trial_summary(sweep, study, trials[final["trial"]], final.get("test_metrics"))
    summary["retrained_validation_metrics"] = final.get("validation_metrics", {})
    if "finish" in final:  # the top candidates re-trained with several seeds: the metrics above are means
        summary["finish"] = final["finish"]
    model = folder / _constants.BEST_MODEL
    if final.get("model"):
        model.write_bytes(final["model"])
        summary["model"] = model.name
    elif model.exists():
        model.unlink()  # an older sweep's model must not pass for this one's
    (folder / _constants.BEST_JSON).write_text(json.dumps(summary, indent=2, default=str))
    return summary


def load_best(sweep: Sweep, study: optuna.Study) -> dict[str, Any] | None:
    """``best.json`` when it describes this study's current best trial; None when it is missing or
    stale (written for another study, e.g. before ``--new-study``, or for an earlier best trial)."""
    path = sweep.results_dir / _constants.BEST_JSON
    best = best_trial(study, sweep.config.objective)
    if not path.exists() or best is None:
        return None
    summary = json.loads(path.read_text())
    return summary if describes(summary, study.study_name, best.number) else None


def describes(summary: dict[str, Any], study_name: str, best_number: int) -> bool:
    """Whether ``best.json``'s content was written for this study while ``best_number`` was its
    best trial (with a finish, the trial it re-trained may be another candidate)."""
    chosen_from = summary.get("finish", {}).get("single_run_best", summary.get("trial"))
    return bool(summary.get("study") == study_name and chosen_from == best_number)
