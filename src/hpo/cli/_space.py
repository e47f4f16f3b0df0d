"""`hpo space SWEEP`: the flattened search space as a table, or N sampled configurations."""

from __future__ import annotations

from pathlib import Path
from typing import Any

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
    suggest: bool = typer.Option(
        False, "--suggest", help="Narrower bounds from the study's best trials, as a snippet to paste."
    ),
    top: float = typer.Option(0.2, "--top", help="With --suggest: the share of complete trials that counts as best."),
    format: str = FORMAT_OPT,
    debug: bool = DEBUG_OPT,
) -> int:
    """Show the search space (no training, no Ray)."""
    if sample < 0:
        raise UsageError(f"--sample must be >= 0, but got {sample}")
    loaded = load_sweep(sweep)
    if suggest:
        return _suggest(loaded, top, format)
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


def _suggest(loaded: Any, top: float, format: str) -> int:
    """`--suggest`: per tuned parameter, the range or choices of the best trials, with importance."""
    from hpo.study import load_existing_study, suggest_narrower

    if not 0 < top <= 1:
        raise UsageError(f"--top is a share of the complete trials, 0 < top <= 1, but got {top}")
    if loaded.config.objective.multi:
        raise UsageError("--suggest ranks trials by one objective, but this sweep has several goals")
    study = load_existing_study(loaded)
    narrowed, best, complete = suggest_narrower(study, loaded.space, top)
    if format == "json":
        print_json([vars(n) for n in narrowed])
        return _constants.EXIT_OK
    if not complete:
        raise UsageError(f"study {study.study_name!r} has no complete trial yet: nothing to narrow from")
    lines = [
        f"# hpo space --suggest: where the best {best} of {complete} complete trials of study {study.study_name!r} are",
        f"# (--top {top:g}); importance: PED-ANOVA, local to them. Paste into the sweep file, then run with",
        "# --carry-over to keep the trials that fit.",
        "space:",
        "  params:",
    ]
    for item in sorted(narrowed, key=lambda n: -(n.importance or 0.0)):
        weight = "" if item.importance is None else f"importance {item.importance:.2f}; "
        if item.override is None:
            why = f"; {item.note}" if item.note else ""
            lines.append(f"    # {item.name}: unchanged ({weight}{item.was}){why}")
            continue
        body = ", ".join(f"{k}: {_yaml(v)}" for k, v in item.override.items())
        lines.append(f"    {item.name}: {{{body}}}   # {weight}was {item.was}")
    print("\n".join(lines))
    return _constants.EXIT_OK


def _yaml(value: object) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(_yaml(v) for v in value) + "]"
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, str):
        return repr(value) if not value.isidentifier() else value
    return str(value).lower() if isinstance(value, bool) else str(value)
