"""``pareto.json``: a multi-objective sweep's feasible Pareto front, each trial with its goals'
values, parameters and metrics, and (``hpo run --save front``) its test metrics and saved model."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import optuna

from hpo import _constants
from hpo.config import Sweep
from hpo.results._best import trial_summary
from hpo.study import pareto_front


def front_summary(sweep: Sweep, study: optuna.Study, scored: dict[int, dict[str, Any]] | None = None) -> dict[str, Any]:
    """The front as ``pareto.json`` holds it; ``scored``: re-trained front trials by number."""
    scored = scored or {}
    objective = sweep.config.objective
    front = []
    for trial in pareto_front(study):
        entry = trial_summary(sweep, study, trial, scored.get(trial.number, {}).get("test_metrics"))
        if scored.get(trial.number, {}).get("model"):
            entry["model"] = f"{_constants.FRONT_DIR}/trial_{trial.number}.keras"
        front.append(entry)
    return {
        "sweep": sweep.name,
        "study": study.study_name,
        "goals": [g.model_dump() for g in objective.targets],
        "constraints": list(objective.constraints),
        "front": front,
    }


def write_pareto(
    sweep: Sweep, study: optuna.Study, folder: Path, scored: dict[int, dict[str, Any]] | None = None
) -> dict[str, Any]:
    """Write ``pareto.json`` and the re-trained front trials' models under ``front/`` (models of
    an earlier front are removed: none may pass for this one's)."""
    scored = scored or {}
    models = folder / _constants.FRONT_DIR
    if models.exists():
        shutil.rmtree(models)
    if any(s.get("model") for s in scored.values()):
        models.mkdir(parents=True)
        for number, result in scored.items():
            if result.get("model"):
                (models / f"trial_{number}.keras").write_bytes(result["model"])
    summary = front_summary(sweep, study, scored)
    (folder / _constants.PARETO_JSON).write_text(json.dumps(summary, indent=2, default=str))
    return summary


def load_pareto(sweep: Sweep, study: optuna.Study) -> dict[str, Any] | None:
    """``pareto.json`` while it describes this study's current front (test metrics included);
    None when missing or stale."""
    path = sweep.results_dir / _constants.PARETO_JSON
    if not path.exists():
        return None
    summary = json.loads(path.read_text())
    current = [t.number for t in pareto_front(study)]
    if summary.get("study") != study.study_name or [e["trial"] for e in summary.get("front", [])] != current:
        return None
    return summary
