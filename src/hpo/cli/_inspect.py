"""Read-only commands on a sweep's study: status, best, export, report. No TensorFlow, no Ray."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from hpo import _constants
from hpo._errors import UsageError
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
from hpo.cli._settings import resolve_sweep


def _open(sweep_path: Path, storage: str | None, results_dir: str | None):
    from hpo.study import load_existing_study

    sweep = resolve_sweep(sweep_path, storage=storage, results_dir=results_dir)
    return sweep, load_existing_study(sweep)


def _fmt(value: object) -> str:
    if value is None or value != value:  # None or NaN
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


@exits
def status(
    sweep: Path = SWEEP_ARG,
    format: str = FORMAT_OPT,
    storage: str | None = STORAGE_OPT,
    results_dir: str | None = RESULTS_OPT,
    debug: bool = DEBUG_OPT,
) -> int:
    """A table of the study's trials: number, state, value, epochs, duration, parameters."""
    from hpo.results import trials_frame

    loaded, study = _open(sweep, storage, results_dir)
    frame = trials_frame(study)
    if format == "json":
        print_json(frame.drop(columns=["datetime_start"]).to_dict(orient="records"))
        return _constants.EXIT_OK
    counts = frame.state.value_counts().to_dict() if not frame.empty else {}
    table = Table(title=f"{study.study_name}: {len(frame)} trials " + ", ".join(f"{v} {k.lower()}" for k, v in counts.items()))
    for column in ("#", "state", loaded.config.objective.metric, "epochs", "seconds", "params / reason"):
        table.add_column(column, overflow="fold")
    for row in frame.to_dict(orient="records"):
        params = ", ".join(f"{k[7:]}={_fmt(v)}" for k, v in row.items() if k.startswith("params_") and _fmt(v))
        detail = row["fail_reason"] if row["state"] == "FAIL" and row["fail_reason"] else params
        table.add_row(str(row["number"]), row["state"], _fmt(row["value"]), _fmt(row["epochs"]), _fmt(row["duration_s"]), detail)
    stdout().print(table)
    return _constants.EXIT_OK


@exits
def best(
    sweep: Path = SWEEP_ARG,
    format: str = FORMAT_OPT,
    storage: str | None = STORAGE_OPT,
    results_dir: str | None = RESULTS_OPT,
    debug: bool = DEBUG_OPT,
) -> int:
    """The best trial: parameters, validation metrics, and test metrics once the sweep evaluated it."""
    from optuna.trial import TrialState

    from hpo.results import best_summary, load_best

    loaded, study = _open(sweep, storage, results_dir)
    if not study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        raise UsageError(f"study {study.study_name!r} has no complete trial yet; see `hpo status {sweep}`")
    summary = load_best(loaded, study) or best_summary(loaded, study, None)  # None: not evaluated on test yet
    if format == "json":
        print_json(summary)
        return _constants.EXIT_OK
    out = stdout()
    objective = summary["objective"]
    out.print(f"best trial {summary['trial']} of study {summary['study']}: {objective['metric']} = {objective['value']:.4f}", highlight=False)
    for title, key in (("parameters", "params"), ("validation metrics (last epoch)", "validation_metrics"), ("test metrics (held-out split)", "test_metrics")):
        out.print(f"[bold]{title}[/]")
        values = summary.get(key) or {}
        if not values:
            out.print("  (not evaluated yet: `hpo run` evaluates the best trial on the test split at the end)" if key == "test_metrics" else "  -")
        for name, value in values.items():
            out.print(f"  {name} = {_fmt(value)}", highlight=False)
    return _constants.EXIT_OK


@exits
def export(
    sweep: Path = SWEEP_ARG,
    format: str = typer.Option("csv", "--format", help="csv, parquet or json."),
    output: Path | None = typer.Option(None, "--output", "-o", help="File to write (default results/<sweep>/trials.<format>)."),
    storage: str | None = STORAGE_OPT,
    results_dir: str | None = RESULTS_OPT,
    debug: bool = DEBUG_OPT,
) -> int:
    """Write the trials table as CSV, Parquet or JSON."""
    from hpo.results import export_frame, trials_frame

    if format not in ("csv", "parquet", "json"):
        raise UsageError(f"--format must be csv, parquet or json, but got {format!r}")
    loaded, study = _open(sweep, storage, results_dir)
    path = output or loaded.results_dir / f"trials.{format}"
    path.parent.mkdir(parents=True, exist_ok=True)
    export_frame(trials_frame(study), str(path), format)
    stdout().print(f"wrote {len(study.trials)} trials to {path}", highlight=False)
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
