"""The finish's table: the top candidates re-trained with several seeds, and which one was chosen."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table


def print_finish(finish: dict[str, Any], out: Console) -> None:
    """Each candidate's single-run value and its seeds' mean ± sd [95% interval] of the watched
    metric; the selected one marked; whether it differs from the single-run best; its test scores."""
    seeds, metric = finish["seeds"], finish["metric"]
    table = Table(
        title=f"finish: {metric} of the top {finish['top_k']} re-trained with seeds {', '.join(map(str, seeds))}"
    )
    for column in ("#", "rank", "search", "mean ± sd", "95% interval", ""):
        table.add_column(column, no_wrap=True)
    for row in finish["candidates"]:
        spread = row["validation"][metric]
        table.add_row(
            str(row["trial"]),
            str(row["rank"]),
            f"{row['single_run_value']:.4g}",
            f"{spread['mean']:.4g} ± {spread['std']:.2g}",
            f"[{spread['low']:.4g}, {spread['high']:.4g}]",
            "selected" if row["trial"] == finish["selected"] else "",
        )
    out.print(table)
    out.print(f"selected by {finish['rule']}", highlight=False)
    if finish["differs"]:
        out.print(
            f"the selected configuration (trial {finish['selected']}) is not the single-run best "
            f"(trial {finish['single_run_best']}): its seeds' mean is better",
            highlight=False,
        )
    else:
        out.print(f"the single-run best (trial {finish['single_run_best']}) stays the best by mean", highlight=False)
    if finish["test"]:
        out.print(
            f"test split, trial {finish['selected']}'s {len(seeds)} seeds only (used for nothing above); "
            f"saved model: seed {finish['model_seed']} (closest to the mean)",
            highlight=False,
        )
        for name, spread in finish["test"].items():
            out.print(
                f"  {name[5:]} {spread['mean']:.4g} ± {spread['std']:.2g} [{spread['low']:.4g}, {spread['high']:.4g}]",
                highlight=False,
            )
