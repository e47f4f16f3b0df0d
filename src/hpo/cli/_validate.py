"""`hpo validate SWEEP`: check a sweep file completely, without TensorFlow or Ray."""

from __future__ import annotations

from pathlib import Path

from hpo import _constants
from hpo.cli._common import DEBUG_OPT, FORMAT_OPT, SWEEP_ARG, exits, print_json, stdout
from hpo.config import check_references, load_sweep


@exits
def validate(
    sweep: Path = SWEEP_ARG,
    format: str = FORMAT_OPT,
    debug: bool = DEBUG_OPT,
) -> int:
    """Check a sweep file, its search-space includes and the user code it names; exit 2 with every problem found."""
    loaded = load_sweep(sweep)
    check_references(loaded)
    if format == "json":
        print_json({"sweep": str(sweep), "valid": True, "name": loaded.name, "parameters": len(loaded.space)})
    else:
        stdout().print(
            f"[green]ok[/] {sweep}: sweep {loaded.name!r}, {len(loaded.space)} parameters "
            f"({len(loaded.space.distributions())} tuned)",
            highlight=False,
        )
    return _constants.EXIT_OK
