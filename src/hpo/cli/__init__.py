"""The `hpo` command line. Heavy imports (TensorFlow, Ray) happen only inside commands that train."""

from __future__ import annotations

import gc

import typer

from hpo.cli._dashboard import dashboard
from hpo.cli._enqueue import enqueue
from hpo.cli._inspect import best, export, report, status
from hpo.cli._run import resume, run
from hpo.cli._space import space
from hpo.cli._tensorboard import tensorboard
from hpo.cli._validate import validate

app = typer.Typer(
    name="hpo",
    help="Hyperparameter sweeps for Keras models: Optuna studies run in parallel by Ray.",
    no_args_is_help=True,
    add_completion=True,  # hpo --install-completion: commands, sweep files, parameter names
    pretty_exceptions_enable=False,
)
app.command()(validate)
app.command()(space)
app.command()(run)
app.command()(resume)
app.command()(status)
app.command()(best)
app.command()(export)
app.command()(report)
app.command()(enqueue)
app.command()(dashboard)
app.command()(tensorboard)


def main() -> None:
    """Console-script entry point; the only place hpo configures logging."""
    import logging

    import optuna

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        app()
    finally:
        # The process ends next. Python's last garbage collection would walk every object that
        # Ray, pandas, matplotlib and the study left (0.5-0.7 s of `hpo run`'s exit); frozen
        # objects are skipped. Exit handlers (logging, Ray, MLflow) still run, and files are closed
        # where they were opened, so nothing waits on that collection.
        gc.freeze()


__all__ = ["app", "main"]
