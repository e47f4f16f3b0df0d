"""`hpo space SWEEP`: the flattened search space as a table, or N sampled configurations."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from hpo import _constants
from hpo.cli._common import (
    DEBUG_OPT,
    FORMAT_OPT,
    SWEEP_ARG,
    UsageError,
    exits,
    print_json,
    stdout,
)
from hpo.config import load_sweep
from hpo.space.sampling import sample_configurations


@exits
def space(
    sweep: Path = SWEEP_ARG,
    sample: int = typer.Option(0, "--sample", help="Print N sampled configurations instead of the table."),
    seed: int = typer.Option(0, "--seed", help="Seed for --sample."),
    format: str = FORMAT_OPT,
    debug: bool = DEBUG_OPT,
) -> int:
    """Show the search space (no training, no Ray)."""
    if sample < 0:
        raise UsageError(f"--sample must be >= 0, but got {sample}")
    loaded = load_sweep(sweep)
    if sample:
        configs = sample_configurations(loaded.space, sample, seed)
        if format == "json":
            print_json(configs)
            return _constants.EXIT_OK
        table = Table(title=f"{sample} configurations sampled from {loaded.name} (seed {seed}); blank = inactive")
        table.add_column("parameter")
        for i in range(len(configs)):
            table.add_column(f"#{i}", justify="right")
        for param in loaded.space:
            table.add_row(param.name, *(_cell(config.get(param.name, "")) for config in configs))
        stdout().print(table)
        return _constants.EXIT_OK
    rows = loaded.space.describe_rows()
    if format == "json":
        print_json(rows)
        return _constants.EXIT_OK
    table = Table(title=f"search space of {loaded.name} ({len(rows)} parameters)")
    for column in ("name", "kind", "domain", "condition"):
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(row["name"], row["kind"], row["domain"], row["condition"])
    stdout().print(table)
    return _constants.EXIT_OK


def _cell(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "" if value == "" else str(value)
