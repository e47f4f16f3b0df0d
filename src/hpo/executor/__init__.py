"""Parallel sweeps: an Optuna study owned by the driver, trials executed by Ray worker processes."""

from hpo.executor._launch import FINISHED, HOLD, Launch, Launcher
from hpo.executor._lifecycle import Lifecycle, Listener, Rules
from hpo.executor._run import SweepOutcome, check_data, earlier_runs, run_sweep
from hpo.executor._spent import spent_study

__all__ = [
    "FINISHED",
    "HOLD",
    "Launch",
    "Launcher",
    "Lifecycle",
    "Listener",
    "Rules",
    "SweepOutcome",
    "check_data",
    "earlier_runs",
    "run_sweep",
    "spent_study",
]
