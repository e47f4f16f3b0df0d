"""What every command shares: loading a sweep with clean errors, exit codes, consoles, JSON output."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape

from hpo import _constants
from hpo._errors import ConfigError, DataError, HpoError, UsageError


# Arguments and options shared by several commands, defined once.
def complete_sweep(incomplete: str) -> list[str]:
    """Sweep files for shell completion: YAML files here and in ``sweeps/`` that start with ``incomplete``."""
    found = sorted(
        {str(p) for pattern in ("*.yaml", "*.yml", "sweeps/*.yaml", "sweeps/*.yml") for p in Path().glob(pattern)}
    )
    return [path for path in found if path.startswith(incomplete)]


SWEEP_ARG = typer.Argument(..., help="Sweep YAML file.", autocompletion=complete_sweep)
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


def print_error(message: str, prefix: str = "error:") -> None:
    """``error: <message>`` on stderr; the message is printed as text (brackets in it are not markup)."""
    stderr().print(f"[bold red]{prefix}[/] {escape(message)}", highlight=False)


def exits(command: Callable[..., int]) -> Callable[..., None]:
    """Turn a command's return code and hpo's errors into the documented exit codes; with
    ``--debug`` errors propagate with their traceback, without it no traceback reaches the user."""

    @wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        debug = bool(kwargs.get("debug", False))
        try:
            code = command(*args, **kwargs)
        except typer.Exit:
            raise
        except ConfigError as exc:
            if debug:
                raise
            count = len(exc.problems)
            print_error(f"{count} problem{'s' if count > 1 else ''} in the configuration:")
            for problem in exc.problems:
                stderr().print(f"  {problem}", markup=False, highlight=False)
            raise typer.Exit(_constants.EXIT_USAGE) from None
        except (UsageError, DataError) as exc:
            if debug:
                raise
            print_error(str(exc))
            raise typer.Exit(_constants.EXIT_USAGE) from None
        except HpoError as exc:
            if debug:
                raise
            print_error(str(exc))
            raise typer.Exit(_constants.EXIT_RUNTIME) from None
        except KeyboardInterrupt:
            stderr().print("interrupted; no trial is left RUNNING. Continue with `hpo resume SWEEP`.", highlight=False)
            raise typer.Exit(_constants.EXIT_INTERRUPTED) from None
        except Exception as exc:  # a defect in hpo or its surroundings: one line, not a traceback
            if debug:
                raise
            print_error(
                f"{type(exc).__name__}: {exc}. This is unexpected: run the command again with --debug for the "
                "traceback, and report it if it is hpo's fault"
            )
            raise typer.Exit(_constants.EXIT_RUNTIME) from None
        raise typer.Exit(code)

    return wrapper
