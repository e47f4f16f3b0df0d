"""Read-only commands on a sweep's study: status, best, export, report. No TensorFlow, no Ray."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from hpo import _constants
from hpo._errors import UsageError
from hpo._settings import resolve_sweep
from hpo.cli._common import (
    DEBUG_OPT,
    FORMAT_OPT,
    RESULTS_OPT,
    STORAGE_OPT,
    SWEEP_ARG,
    exits,
    print_json,
    stdout,
)
from hpo.cli._finish import print_finish


def _open(sweep_path: Path, storage: str | None, results_dir: str | None):
    from hpo.study import load_existing_study

    sweep = resolve_sweep(sweep_path, storage=storage, results_dir=results_dir)
    return sweep, load_existing_study(sweep)


def _table(sweep_path: Path, storage: str | None, results_dir: str | None) -> tuple[Any, Any, str]:
    """The sweep, its trials table and study name: from the finished sweep's snapshot while the
    journal is unchanged, else read live from the storage."""
    from hpo.results import fresh_snapshot, trials_frame
    from hpo.study import load_existing_study

    sweep = resolve_sweep(sweep_path, storage=storage, results_dir=results_dir)
    snapshot = fresh_snapshot(sweep)
    if snapshot is not None:
        return sweep, *snapshot
    study = load_existing_study(sweep)
    return sweep, trials_frame(study, sweep.config.objective), study.study_name


def _fmt(value: object) -> str:
    """A cell: empty for None, NaN and pandas' NA, numbers to 4 significant digits."""
    import pandas as pd

    if value is None or (pd.api.types.is_scalar(value) and pd.isna(value)):
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _snapshot_best(sweep: Any, frame: Any, study_name: str) -> dict[str, Any] | None:
    """The best COMPLETE row of the snapshot's table as a summary, with best.json's test metrics
    when they belong to it."""
    import json

    from hpo.results import describes

    complete = frame[frame.state == "COMPLETE"]
    if complete.empty:
        return None
    maximize = sweep.config.objective.direction == "maximize"
    row = complete.loc[complete.value.idxmax() if maximize else complete.value.idxmin()]
    number = int(row["number"])
    path = sweep.results_dir / _constants.BEST_JSON
    if path.exists():
        summary = json.loads(path.read_text())
        if describes(summary, study_name, number):
            return summary
    present = {k: v for k, v in row.items() if _fmt(v)}
    sampled = {
        k[len("params_") :]: (v.item() if hasattr(v, "item") else v)
        for k, v in present.items()
        if k.startswith("params_")
    }
    return {
        "sweep": sweep.name,
        "study": study_name,
        "trial": number,
        "objective": {
            "metric": sweep.config.objective.metric,
            "direction": sweep.config.objective.direction,
            "value": float(row["value"]),
        },
        "params": sweep.space.configuration(sampled),
        "validation_metrics": {k[len("metrics_") :]: float(v) for k, v in present.items() if k.startswith("metrics_")},
        "test_metrics": {},
        "epochs": int(row["epochs"]) if _fmt(row["epochs"]) else None,
    }


@exits
def status(
    sweep: Path = SWEEP_ARG,
    format: str = FORMAT_OPT,
    limit: int = typer.Option(
        50, "--limit", help="Show the last N trials in the table (0: all); JSON has every trial."
    ),
    storage: str | None = STORAGE_OPT,
    results_dir: str | None = RESULTS_OPT,
    debug: bool = DEBUG_OPT,
) -> int:
    """A table of the study's trials: number, state, value, epochs, duration, where, parameters."""
    loaded, frame, study_name = _table(sweep, storage, results_dir)
    if format == "json":
        print_json(frame.drop(columns=["datetime_start"]).to_dict(orient="records"))
        return _constants.EXIT_OK
    counts = frame.state.value_counts().to_dict() if not frame.empty else {}
    shown = frame if limit <= 0 else frame.tail(limit)
    title = f"{study_name}: {len(frame)} trials " + ", ".join(f"{v} {k.lower()}" for k, v in counts.items())
    if len(shown) < len(frame):
        title += f" (the last {len(shown)}; --limit 0 shows all)"
    table = Table(title=title)
    for column in ("#", "state", loaded.config.objective.metric, "epochs", "seconds", "ran on", "params / reason"):
        table.add_column(column, overflow="fold")
    for row in shown.to_dict(orient="records"):
        params = ", ".join(f"{k[7:]}={_fmt(v)}" for k, v in row.items() if k.startswith("params_") and _fmt(v))
        detail = row["fail_reason"] if row["state"] == "FAIL" and row["fail_reason"] else params
        where = (
            f"{row['host']}:{row['pid']}" + (f" gpu {row['gpus']}" if _fmt(row["gpus"]) else "")
            if _fmt(row["host"])
            else ""
        )
        state = row["state"] + (" (infeasible)" if _fmt(row.get("feasible")) == "False" else "")
        state += f" (carried from {row['carried_from']})" if _fmt(row["carried_from"]) else ""
        epochs = _fmt(row["epochs"])
        if _fmt(row["resumed_from_epoch"]):
            epochs += f" (resumed after {_fmt(row['resumed_from_epoch'])} of #{_fmt(row['resumed_from_trial'])})"
        table.add_row(str(row["number"]), state, _fmt(row["value"]), epochs, _fmt(row["duration_s"]), where, detail)
    stdout().print(table)
    return _constants.EXIT_OK


def _best(sweep: Path, storage: str | None, results_dir: str | None) -> dict[str, Any]:
    """The best trial's summary: best.json while it matches the unchanged snapshot, else from the study."""
    from optuna.trial import TrialState

    from hpo.results import best_summary, fresh_snapshot, front_summary, load_best, load_pareto

    loaded = resolve_sweep(sweep, storage=storage, results_dir=results_dir)
    objective = loaded.config.objective
    snapshot = fresh_snapshot(loaded) if not objective.multi and not objective.constraints else None
    summary = _snapshot_best(loaded, *snapshot) if snapshot is not None else None
    if summary is not None:
        return summary
    loaded, study = _open(sweep, storage, results_dir)
    if not study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        raise UsageError(f"study {study.study_name!r} has no complete trial yet; see `hpo status {sweep}`")
    if objective.multi:  # the front, with test metrics where `hpo run --save front` scored them
        front = load_pareto(loaded, study) or front_summary(loaded, study)
        finished = load_best(loaded, study)
        return front if finished is None or "finish" not in finished else {**front, "finish": finished["finish"]}
    summary = load_best(loaded, study) or best_summary(loaded, study, None)  # None: not evaluated on test yet
    if summary is None:
        raise UsageError(
            f"no trial of study {study.study_name!r} meets the constraints {', '.join(objective.constraints)}; see "
            f"`hpo status {sweep}`"
        )
    return summary


def _print_front(summary: dict[str, Any]) -> None:
    """A multi-objective sweep's Pareto front as a table: each goal, test metrics, parameters."""
    goals = [g["metric"] for g in summary["goals"]]
    arrows = {"maximize": "↑", "minimize": "↓"}
    table = Table(
        title=f"Pareto front of study {summary['study']}: {len(summary['front'])} trials"
        + (f" meeting {', '.join(summary['constraints'])}" if summary["constraints"] else "")
    )
    test = "test (not used for selection)" if "finish" in summary else "test"
    for column in ("#", *(f"{g['metric']} {arrows[g['direction']]}" for g in summary["goals"]), test, "params"):
        table.add_column(column, overflow="fold")
    for entry in summary["front"]:
        tests = ", ".join(f"{k[5:]} {_fmt(v)}" for k, v in entry["test_metrics"].items())
        params = ", ".join(f"{k}={_fmt(v)}" for k, v in entry["params"].items())
        table.add_row(str(entry["trial"]), *(_fmt(entry["values"][g]) for g in goals), tests, params)
    stdout().print(table)


@exits
def best(
    sweep: Path = SWEEP_ARG,
    format: str = FORMAT_OPT,
    storage: str | None = STORAGE_OPT,
    results_dir: str | None = RESULTS_OPT,
    debug: bool = DEBUG_OPT,
) -> int:
    """The best trial: parameters, validation metrics, and test metrics once the sweep evaluated it."""
    summary = _best(sweep, storage, results_dir)
    if format == "json":
        print_json(summary)
        return _constants.EXIT_OK
    out = stdout()
    if "front" in summary:
        _print_front(summary)
        if "finish" in summary:
            print_finish(summary["finish"], out)
        return _constants.EXIT_OK
    objective, finish = summary["objective"], summary.get("finish")
    name = "selected configuration (finish), trial" if finish else "best trial"
    out.print(
        f"{name} {summary['trial']} of study {summary['study']}: {objective['metric']} = {objective['value']:.4f} "
        + ("in the search" if finish else ""),
        highlight=False,
    )
    for title, key in (
        ("parameters", "params"),
        ("validation metrics (last epoch of the search)", "validation_metrics"),
        ("test metrics (held-out split" + (", the mean of the seeds)" if finish else ")"), "test_metrics"),
    ):
        out.print(f"[bold]{title}[/]")
        values = summary.get(key) or {}
        if not values and key == "test_metrics":
            out.print(
                "  (none: the trial function returned no model to score)"
                if finish
                else "  (not evaluated yet: `hpo run` evaluates the best trial on the test split at the end)"
            )
        elif not values:
            out.print("  -")
        for name, value in values.items():
            out.print(f"  {name} = {_fmt(value)}", highlight=False)
    if finish:
        print_finish(finish, out)
    return _constants.EXIT_OK


@exits
def export(
    sweep: Path = SWEEP_ARG,
    format: str = typer.Option("csv", "--format", help="csv, parquet or json."),
    output: Path | None = typer.Option(
        None, "--output", "-o", help="File to write (default results/<sweep>/trials.<format>)."
    ),
    storage: str | None = STORAGE_OPT,
    results_dir: str | None = RESULTS_OPT,
    debug: bool = DEBUG_OPT,
) -> int:
    """Write the trials table as CSV, Parquet or JSON."""
    from hpo.results import export_frame

    if format not in ("csv", "parquet", "json"):
        raise UsageError(f"--format must be csv, parquet or json, but got {format!r}")
    loaded, frame, _ = _table(sweep, storage, results_dir)
    path = output or loaded.results_dir / f"trials.{format}"
    path.parent.mkdir(parents=True, exist_ok=True)
    export_frame(frame, str(path), format)
    stdout().print(f"wrote {len(frame)} trials to {path}", highlight=False)
    return _constants.EXIT_OK


@exits
def report(
    sweep: Path = SWEEP_ARG,
    storage: str | None = STORAGE_OPT,
    results_dir: str | None = RESULTS_OPT,
    debug: bool = DEBUG_OPT,
) -> int:
    """Write report.html (Optuna's plots, PNGs, summary) into the results folder."""
    from hpo.results import write_report

    loaded, study = _open(sweep, storage, results_dir)
    path = write_report(loaded, study, loaded.results_dir)
    stdout().print(f"report: {path}", highlight=False)
    return _constants.EXIT_OK
