"""`hpo dashboard SWEEP`: optuna-dashboard on the sweep's storage, on loopback unless asked."""

from __future__ import annotations

import errno
from pathlib import Path

import typer
from rich.markup import escape

from hpo import _constants
from hpo._errors import UsageError
from hpo._settings import resolve_sweep
from hpo.cli._common import (
    DEBUG_OPT,
    RESULTS_OPT,
    STORAGE_OPT,
    SWEEP_ARG,
    exits,
    stderr,
    stdout,
)
from hpo.storage import mask_url

_LOOPBACK = ("127.0.0.1", "localhost", "::1")


@exits
def dashboard(
    sweep: Path = SWEEP_ARG,
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to bind; the dashboard has no authentication."),
    port: int = typer.Option(8080, "--port", help="Port."),
    storage: str | None = STORAGE_OPT,
    results_dir: str | None = RESULTS_OPT,
    debug: bool = DEBUG_OPT,
) -> int:
    """Serve optuna-dashboard for the sweep's study (works while the sweep is running)."""
    from optuna_dashboard import run_server

    from hpo.study import open_existing_storage

    loaded = resolve_sweep(sweep, storage=storage, results_dir=results_dir)
    url = loaded.storage_url()
    opened = open_existing_storage(loaded)
    if host not in _LOOPBACK:
        stderr().print(
            f"[bold yellow]warning:[/] binding to {escape(host)}: optuna-dashboard has no authentication, anyone who "
            "can "
            "reach this port can read and edit the study",
            highlight=False,
        )
    stdout().print(f"dashboard for {mask_url(url)} at http://{host}:{port}/ (Ctrl+C to stop)", highlight=False)
    try:
        run_server(opened, host=host, port=port)
    except OSError as exc:
        if exc.errno in (errno.EADDRINUSE, errno.EACCES, errno.EADDRNOTAVAIL):
            raise UsageError(
                f"cannot serve on {host}:{port}: {exc.strerror}; choose another with --port (or --host)"
            ) from None
        raise
    return _constants.EXIT_OK
