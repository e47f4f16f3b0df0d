"""`hpo validate SWEEP`: check a sweep file completely, without TensorFlow or Ray."""

from __future__ import annotations

from pathlib import Path

import typer

from hpo import _constants
from hpo.cli._common import exits, print_json, stdout
from hpo.config import load_sweep


@exits
def validate(
    sweep: Path = typer.Argument(..., help="Sweep YAML file."),
    format: str = typer.Option("text", "--format", help="text or json."),
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks."),
) -> int:
    """Check a sweep file and its search-space includes; exit 2 with every problem found."""
    loaded = load_sweep(sweep)
    if format == "json":
        print_json({"sweep": str(sweep), "valid": True, "name": loaded.name, "parameters": len(loaded.space)})
    else:
        stdout().print(
            f"[green]ok[/] {sweep}: sweep {loaded.name!r}, {len(loaded.space)} parameters "
            f"({len(loaded.space.distributions())} tuned)",
            highlight=False,
        )
    return _constants.EXIT_OK
