"""After a sweep: everything a user looks at lands in results/<sweep>/."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
import yaml

from hpo import _constants
from hpo.config import Sweep
from hpo.results._best import load_best, write_best
from hpo.results._frame import export_frame, trials_frame
from hpo.results._pareto import load_pareto, write_pareto
from hpo.results._report import write_report
from hpo.results._snapshot import remember_snapshot
from hpo.storage import mask_url


@dataclass(frozen=True)
class Written:
    """What a run left in its results folder: the folder, the report, ``best.json``'s content (None
    until a best was re-trained) and ``pareto.json``'s (None for one goal)."""

    folder: Path
    report: Path
    best: dict[str, Any] | None
    front: dict[str, Any] | None


def write_resolved_sweep(sweep: Sweep, folder: Path) -> Path:
    """The sweep as it ran (overrides applied, includes expanded), passwords masked."""
    data: dict[str, Any] = sweep.config.model_dump(mode="json")
    data["space"] = {"params": sweep.space.to_dict()}
    if data.get("storage"):
        data["storage"] = mask_url(data["storage"])
    path = folder / _constants.RESOLVED_SWEEP
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def write_exports(sweep: Sweep, study: optuna.Study) -> None:
    """``trials.csv`` and ``trials.parquet``; the latter also serves read commands while the journal is unchanged."""
    folder = sweep.results_dir
    folder.mkdir(parents=True, exist_ok=True)
    frame = trials_frame(study, sweep.config.objective)
    export_frame(frame, str(folder / _constants.TRIALS_CSV), "csv")
    export_frame(frame, str(folder / _constants.TRIALS_PARQUET), "parquet")
    remember_snapshot(sweep, study.study_name)


def finalize(
    sweep: Sweep,
    study: optuna.Study,
    final: dict[str, Any] | None = None,
    scored: dict[int, dict[str, Any]] | None = None,
) -> Written:
    """Exports, the resolved config, the best trial's model and test metrics (``final``, from the
    worker that re-trained it), the Pareto front of a multi-objective sweep (``scored``: its
    re-trained trials) and the report."""
    folder = sweep.results_dir
    write_exports(sweep, study)
    write_resolved_sweep(sweep, folder)
    best = write_best(sweep, study, final, folder) if final is not None else None
    front = write_pareto(sweep, study, folder, scored) if sweep.config.objective.multi else None
    report = write_report(sweep, study, folder)
    return Written(folder, report, best, front)


def refresh(sweep: Sweep, study: optuna.Study) -> Written:
    """After a run that found its budget spent: the exports and the report written again from the
    study; ``best.json`` (and ``pareto.json`` while current) kept as the run that re-trained them
    left them, as is the resolved sweep of the run that trained the trials."""
    folder = sweep.results_dir
    write_exports(sweep, study)
    front = None
    if sweep.config.objective.multi:
        front = load_pareto(sweep, study) or write_pareto(sweep, study, folder)
    report = write_report(sweep, study, folder)
    return Written(folder, report, load_best(sweep, study), front)
