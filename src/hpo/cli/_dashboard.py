"""`hpo dashboard SWEEP`: optuna-dashboard on the sweep's storage, on loopback unless asked."""

from __future__ import annotations

from pathlib import Path

import typer

from hpo import _constants
from hpo.storage import mask_url
from hpo.cli._common import (
    DEBUG_OPT,
    RESULTS_OPT,
    STORAGE_OPT,
    SWEEP_ARG,
    exits,
    stderr,
    stdout,
)
from hpo.cli._settings import resolve_sweep

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
            f"[bold yellow]warning:[/] binding to {host}: optuna-dashboard has no authentication, anyone who can "
            "reach this port can read and edit the study",
            highlight=False,
        )
    stdout().print(f"dashboard for {mask_url(url)} at http://{host}:{port}/ (Ctrl+C to stop)", highlight=False)
    run_server(opened, host=host, port=port)
    return _constants.EXIT_OK
