"""`hpo enqueue SWEEP name=value ...`: queue a fixed configuration to run before sampled ones."""

from __future__ import annotations

from pathlib import Path

import typer
import yaml

from hpo import _constants
from hpo._errors import UsageError
from hpo._settings import resolve_sweep
from hpo.cli._common import (
    DEBUG_OPT,
    RESULTS_OPT,
    STORAGE_OPT,
    SWEEP_ARG,
    exits,
    stdout,
)
from hpo.config import load_sweep


def _parse(assignments: list[str]) -> dict[str, object]:
    values: dict[str, object] = {}
    for item in assignments:
        name, sep, text = item.partition("=")
        if not sep or not name:
            raise UsageError(f"parameters are given as name=value, but got {item!r}")
        values[name] = yaml.safe_load(text)  # numbers, booleans and strings as in a sweep file
    return values


def _complete_params(ctx: typer.Context, incomplete: str) -> list[str]:
    """``name=`` for each parameter of the sweep's space, for shell completion."""
    try:
        space = load_sweep(ctx.params["sweep"]).space
    except Exception:  # noqa: BLE001 - completion offers nothing for a sweep it cannot read
        return []
    return [f"{p.name}=" for p in space if p.name.startswith(incomplete)]


@exits
def enqueue(
    sweep: Path = SWEEP_ARG,
    params: list[str] = typer.Argument(
        ..., help="name=value pairs, e.g. optimizer=adam learning_rate=0.003", autocompletion=_complete_params
    ),
    storage: str | None = STORAGE_OPT,
    results_dir: str | None = RESULTS_OPT,
    debug: bool = DEBUG_OPT,
) -> int:
    """Warm start: the configuration runs first in the next `hpo run`/`resume` (unset parameters are sampled)."""
    from hpo.study import open_study

    loaded = resolve_sweep(sweep, storage=storage, results_dir=results_dir)
    values = _parse(params)
    problems = loaded.space.check_warm_start(values)
    if problems:
        raise UsageError("this configuration does not fit the space: " + "; ".join(problems))
    study = open_study(loaded)
    study.enqueue_trial(values)
    stdout().print(
        f"enqueued {values} in study {study.study_name!r}; it runs first in the next `hpo run {sweep}`", highlight=False
    )
    return _constants.EXIT_OK
