"""Parallel sweeps: an Optuna study owned by the driver, trials executed by Ray worker processes."""

from hpo.executor._launch import FINISHED, HOLD, Launch, Launcher
from hpo.executor._lifecycle import Lifecycle, Rules
from hpo.executor._notices import (
    EarlierRuns,
    EpochReported,
    Listener,
    Notice,
    ParamsUnread,
    Recovered,
    StudyOpened,
    SweepAborting,
    TrialComplete,
    TrialContinued,
    TrialEnd,
    TrialFailedEnd,
    TrialInterrupted,
    TrialPaused,
    TrialPromoted,
    TrialPruned,
    TrialResumed,
    TrialStarted,
)
from hpo.executor._run import SweepOutcome, check_data, earlier_runs, run_sweep
from hpo.executor._spent import spent_study

__all__ = [
    "FINISHED",
    "HOLD",
    "EarlierRuns",
    "EpochReported",
    "Launch",
    "Launcher",
    "Lifecycle",
    "Listener",
    "Notice",
    "ParamsUnread",
    "Recovered",
    "Rules",
    "StudyOpened",
    "SweepAborting",
    "SweepOutcome",
    "TrialComplete",
    "TrialContinued",
    "TrialEnd",
    "TrialFailedEnd",
    "TrialInterrupted",
    "TrialPaused",
    "TrialPromoted",
    "TrialPruned",
    "TrialResumed",
    "TrialStarted",
    "check_data",
    "earlier_runs",
    "run_sweep",
    "spent_study",
]
