"""Parallel sweeps: an Optuna study owned by the driver, trials executed by Ray worker processes.

The exports are imported on first use: a trial worker (Ray unpickles ``hpo.executor._ray``'s
actor class) needs none of the driver's modules (Optuna, the results, the launcher).
"""

from typing import TYPE_CHECKING

from hpo._lazy import lazy_exports

if TYPE_CHECKING:
    from hpo.executor._launch import FINISHED, HOLD, Launch, Launcher
    from hpo.executor._lifecycle import Lifecycle, Rules
    from hpo.executor._notices import (
        CarriedOver,
        EarlierRuns,
        EpochReported,
        Listener,
        NoiseMeasured,
        Notice,
        ParamsUnread,
        Recovered,
        StoppedEarly,
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

__getattr__, __dir__ = lazy_exports(
    globals(),
    {
        **dict.fromkeys(["FINISHED", "HOLD", "Launch", "Launcher"], "hpo.executor._launch"),
        **dict.fromkeys(["Lifecycle", "Rules"], "hpo.executor._lifecycle"),
        **dict.fromkeys(
            [
                "CarriedOver",
                "EarlierRuns",
                "EpochReported",
                "Listener",
                "NoiseMeasured",
                "Notice",
                "ParamsUnread",
                "Recovered",
                "StoppedEarly",
                "StudyOpened",
                "SweepAborting",
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
            ],
            "hpo.executor._notices",
        ),
        **dict.fromkeys(["SweepOutcome", "check_data", "earlier_runs", "run_sweep"], "hpo.executor._run"),
        **dict.fromkeys(["spent_study"], "hpo.executor._spent"),
    },
)

__all__ = [
    "FINISHED",
    "HOLD",
    "CarriedOver",
    "EarlierRuns",
    "EpochReported",
    "Launch",
    "Launcher",
    "Lifecycle",
    "Listener",
    "NoiseMeasured",
    "Notice",
    "ParamsUnread",
    "Recovered",
    "Rules",
    "StoppedEarly",
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
