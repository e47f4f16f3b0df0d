"""The sweep's events fanned out to trackers; a tracker that breaks costs a warning, never a trial.

Trackers hear what the lifecycle decided (a trial started, an epoch's metrics, its end state), in
the driver: workers never need a tracker's package or credentials.
"""

from __future__ import annotations

import importlib.util
import logging
import time
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol, Self

import optuna
from optuna.trial import TrialState

from hpo import _constants
from hpo._errors import ConfigError, Problem, SweepInterrupted
from hpo._trial import finite
from hpo.config import Sweep
from hpo.executor._notices import (
    EpochReported,
    Notice,
    StudyOpened,
    TrialComplete,
    TrialContinued,
    TrialFailedEnd,
    TrialInterrupted,
    TrialPaused,
    TrialPruned,
    TrialStarted,
)

if TYPE_CHECKING:  # results imports heavy plotting modules; trackers need only the type
    from hpo.results import Written

_log = logging.getLogger(__name__)

# a trial's end -> its state as Optuna names it (an interrupted trial is FAIL in the study; its
# configuration runs again as another trial)
_ENDS: dict[type, str] = {
    TrialComplete: "COMPLETE",
    TrialPruned: "PRUNED",
    TrialFailedEnd: "FAIL",
    TrialInterrupted: "FAIL",
}


class Tracker(Protocol):
    """One tracking backend. ``at``: the event's wall-clock time (seconds since the epoch)."""

    name: str

    def opened(self, study: str, storage: str) -> None: ...

    def started(self, number: int, params: dict[str, Any], at: float) -> None: ...

    def paused(self, number: int, epoch: int, at: float) -> None: ...

    def continued(self, number: int, params: dict[str, Any], at: float) -> None: ...

    def epoch(self, number: int, epoch: int, metrics: dict[str, float], at: float) -> None: ...

    def ended(
        self, number: int, state: str, epochs: int, metrics: dict[str, float], reason: str | None, at: float
    ) -> None: ...

    def finished(self, status: str, metrics: dict[str, float], artifacts: list[Path]) -> None: ...

    def close(self) -> None: ...


def _finite_metrics(metrics: dict[str, Any]) -> dict[str, float]:
    """The metrics a tracker can plot: numbers that are finite."""
    return {name: float(value) for name, value in metrics.items() if finite(value)}


class Trackers:
    """A sweep listener that forwards each notice to every tracker.

    A tracker that raises is switched off for the rest of the run with one warning; the sweep and
    its trials carry on (the study, not the tracker, is the record). Use as a context manager:
    leaving it without ``finish`` ends the trackers' sweep run as KILLED (interrupted) or FAILED."""

    def __init__(self, trackers: list[Tracker]) -> None:
        self._trackers = list(trackers)  # those still working
        self._opened = list(trackers)  # every one, closed at the end
        self._finished = False

    def __bool__(self) -> bool:
        return bool(self._trackers)

    def __call__(self, notice: Notice) -> None:
        at = time.time()
        match notice:
            case StudyOpened(study=study, storage=storage):
                self._each("opened", study, storage)
            case TrialStarted(number=number, params=params):
                self._each("started", number, params, at)
            case TrialPaused(number=number, epoch=epoch):
                self._each("paused", number, epoch, at)
            case TrialContinued(number=number, params=params):  # promotion: perhaps in a later run
                self._each("continued", number, params, at)
            case EpochReported(number=number, epoch=epoch, metrics=metrics):
                self._each("epoch", number, epoch, _finite_metrics(metrics), at)
            case TrialComplete() | TrialPruned() | TrialFailedEnd() | TrialInterrupted():
                metrics = _finite_metrics(getattr(notice, "metrics", None) or {})
                reason = getattr(notice, "reason", None)
                epochs = int(notice.epochs or 0)
                self._each("ended", notice.number, _ENDS[type(notice)], epochs, metrics, reason, at)

    def finish(self, metrics: dict[str, float], artifacts: list[Path]) -> None:
        """The sweep ended normally: its summary metrics and result files go to each tracker."""
        self._finished = True
        self._each("finished", "FINISHED", _finite_metrics(metrics), [path for path in artifacts if path.exists()])

    def __enter__(self) -> Self:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if not self._finished:
            interrupted = kind is not None and issubclass(kind, (SweepInterrupted, KeyboardInterrupt))
            self._each("finished", "KILLED" if interrupted else "FAILED", {}, [])
        self._trackers = self._opened  # a broken tracker still releases its files and threads
        self._each("close")

    def _each(self, method: str, *args: Any) -> None:
        for tracker in list(self._trackers):
            try:
                getattr(tracker, method)(*args)
            except Exception as exc:  # noqa: BLE001 - a tracker must never cost a trial: warn once, switch it off
                self._trackers.remove(tracker)
                _log.warning(
                    "%s tracking failed (%s: %s); it is off for the rest of this run. The study keeps every trial "
                    "(hpo export writes them all)",
                    tracker.name,
                    type(exc).__name__,
                    exc,
                )


def run_summary(study: optuna.Study, written: Written) -> tuple[dict[str, float], list[Path]]:
    """The study's metrics (its trials by end state, the best's validation value and test metrics)
    and result files, as trackers record them on the sweep's run."""
    trials = study.get_trials(deepcopy=False)
    ends = {"complete": TrialState.COMPLETE, "pruned": TrialState.PRUNED, "failed": TrialState.FAIL}
    metrics = {f"trials_{name}": float(sum(t.state == state for t in trials)) for name, state in ends.items()}
    best = written.best
    if best is not None:
        objective = best["objective"]
        metrics[f"best_{objective['metric']}"] = float(objective["value"])
        metrics.update({f"best_{name}": float(value) for name, value in best["test_metrics"].items()})
    folder = written.folder
    names = (
        _constants.BEST_MODEL,
        _constants.BEST_JSON,
        _constants.PARETO_JSON,
        _constants.REPORT_HTML,
        _constants.TRIALS_CSV,
        _constants.RESOLVED_SWEEP,
    )
    return metrics, [folder / name for name in names]


def _require(sweep: Sweep, package: str, key: str) -> None:
    if importlib.util.find_spec(package) is None:
        raise ConfigError(
            [
                Problem(
                    str(sweep.path),
                    key,
                    f"tracking with {package} needs the {package} package, which is not installed",
                    fix="pip install 'hpo[tracking]', or remove the key",
                )
            ]
        )


def open_trackers(sweep: Sweep) -> Trackers:
    """The trackers the sweep asks for (none by default); a missing package stops the run here."""
    tracking = sweep.config.tracking
    if tracking.mlflow is not None:
        _require(sweep, "mlflow", "tracking.mlflow")
    if tracking.tensorboard:
        _require(sweep, "tensorboard", "tracking.tensorboard")
    trackers: list[Tracker] = []
    if tracking.tensorboard:
        from hpo.tracking._tensorboard import TensorBoardTracker

        trackers.append(TensorBoardTracker(sweep))
    if tracking.mlflow is not None:
        from hpo.tracking._mlflow import MlflowTracker

        trackers.append(MlflowTracker(sweep, tracking.mlflow))
    return Trackers(trackers)
