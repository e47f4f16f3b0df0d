"""After a sweep: everything a user looks at lands in results/<sweep>/."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import optuna
import yaml
from optuna.trial import TrialState

from hpo import _constants
from hpo.storage import mask_url
from hpo.config import Sweep
from hpo.results._best import evaluate_best
from hpo.results._frame import export_frame, trials_frame
from hpo.results._report import write_report


def write_resolved_sweep(sweep: Sweep, folder: Path) -> Path:
    """The sweep as it ran (overrides applied, includes expanded), passwords masked."""
    data: dict[str, Any] = sweep.config.model_dump(mode="json")
    data["space"] = {"params": sweep.space.to_dict()}
    if data.get("storage"):
        data["storage"] = mask_url(data["storage"])
    path = folder / _constants.RESOLVED_SWEEP
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def finalize(sweep: Sweep, study: optuna.Study, evaluate: bool = True) -> dict[str, Any]:
    """Exports, best model + test metrics (once), resolved config and report."""
    folder = sweep.results_dir
    folder.mkdir(parents=True, exist_ok=True)
    frame = trials_frame(study)
    export_frame(frame, str(folder / _constants.TRIALS_CSV), "csv")
    export_frame(frame, str(folder / _constants.TRIALS_PARQUET), "parquet")
    write_resolved_sweep(sweep, folder)
    best: dict[str, Any] | None = None
    if evaluate and study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        best = evaluate_best(sweep, study, folder)
    report = write_report(sweep, study, folder)
    return {"folder": str(folder), "report": str(report), "best": best}


def load_best(sweep: Sweep) -> dict[str, Any] | None:
    path = sweep.results_dir / _constants.BEST_JSON
    return json.loads(path.read_text()) if path.exists() else None
