"""What every command shares: loading a sweep with clean errors, exit codes, consoles, JSON output."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from functools import wraps
from typing import Any

import typer
from rich.console import Console

from hpo import _constants
from hpo._errors import ConfigError, DataError, HpoError, UsageError

# Arguments and options shared by several commands, defined once.
SWEEP_ARG = typer.Argument(..., help="Sweep YAML file.")
STORAGE_OPT = typer.Option(None, "--storage", help="Optuna storage URL or journal path (env HPO_STORAGE).")
RESULTS_OPT = typer.Option(None, "--results-dir", help="Results folder (env HPO_RESULTS_DIR).")
FORMAT_OPT = typer.Option("text", "--format", help="text or json.")
DEBUG_OPT = typer.Option(False, "--debug", help="Show tracebacks.")


def stdout() -> Console:
    return Console(soft_wrap=True)


def stderr() -> Console:
    return Console(stderr=True, soft_wrap=True)


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


def exits(command: Callable[..., int]) -> Callable[..., None]:
    """Turn a command's return code and hpo's errors into the documented exit codes."""

    @wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        debug = bool(kwargs.get("debug", False))
        try:
            code = command(*args, **kwargs)
        except ConfigError as exc:
            if debug:
                raise
            err = stderr()
            count = len(exc.problems)
            err.print(f"[bold red]error:[/] {count} problem{'s' if count > 1 else ''} in the configuration:", highlight=False)
            for problem in exc.problems:
                err.print(f"  {problem}", markup=False, highlight=False)
            raise typer.Exit(_constants.EXIT_USAGE) from None
        except (UsageError, DataError) as exc:
            if debug:
                raise
            stderr().print(f"[bold red]error:[/] {exc}", highlight=False)
            raise typer.Exit(_constants.EXIT_USAGE) from None
        except HpoError as exc:
            if debug:
                raise
            stderr().print(f"[bold red]error:[/] {exc}", highlight=False)
            raise typer.Exit(_constants.EXIT_RUNTIME) from None
        except KeyboardInterrupt:
            stderr().print("interrupted; no trial is left RUNNING. Continue with `hpo resume SWEEP`.", highlight=False)
            raise typer.Exit(_constants.EXIT_INTERRUPTED) from None
        raise typer.Exit(code)

    return wrapper
