"""`hpo tensorboard SWEEP`: TensorBoard on the sweep's logs (tracking.tensorboard), on loopback."""

from __future__ import annotations

from pathlib import Path

import typer

from hpo import _constants
from hpo._errors import UsageError
from hpo._settings import resolve_sweep
from hpo.cli._common import DEBUG_OPT, RESULTS_OPT, SWEEP_ARG, exits, stdout


@exits
def tensorboard(
    sweep: Path = SWEEP_ARG,
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to bind; TensorBoard has no authentication."),
    port: int = typer.Option(6006, "--port", help="Port."),
    results_dir: str | None = RESULTS_OPT,
    debug: bool = DEBUG_OPT,
) -> int:
    """Serve TensorBoard for the sweep's trials: scalars per epoch, the HParams tab (works while it runs)."""
    loaded = resolve_sweep(sweep, results_dir=results_dir)
    logdir = loaded.results_dir / _constants.TENSORBOARD_DIR
    if not logdir.is_dir():
        raise UsageError(
            f"no TensorBoard logs at {logdir}: the sweep ran without them; set `tracking: {{tensorboard: true}}` "
            f"in {sweep} (or pass --tensorboard to hpo run) and run it"
        )
    try:
        from tensorboard import program
    except ImportError:
        raise UsageError(
            "hpo tensorboard needs the tensorboard package; install it with: pip install 'hpo[tracking]'"
        ) from None
    board = program.TensorBoard()
    board.configure(argv=[None, "--logdir", str(logdir), "--host", host, "--port", str(port)])
    stdout().print(f"TensorBoard for {logdir} at http://{host}:{port}/ (Ctrl+C to stop)", highlight=False)
    return _constants.EXIT_OK if board.main() == 0 else _constants.EXIT_RUNTIME
