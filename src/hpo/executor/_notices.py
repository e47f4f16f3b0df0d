"""What a sweep tells its listeners (the progress table, the trackers, ``hpo.run``'s caller): one
frozen dataclass per kind of event, so that a listener dispatches on the type (``match``) and a
misspelled field is an error where it is written, not a missing key where it is read.

The lifecycle (``_lifecycle.py``) emits the trial events; the run (``_run.py``) the study's.
(Worker events, from the trials' processes to the driver, are ``_events.py``'s.)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class StudyOpened:
    """The run opened (or created) its study."""

    study: str
    storage: str  # its URL, password masked


@dataclass(frozen=True)
class EarlierRuns:
    """The study already holds trials that earlier runs finished, and their best value so far."""

    finished: int
    best: float | None


@dataclass(frozen=True)
class CarriedOver:
    """The study carries finished trials of an earlier study whose space differed (``carry_over``):
    how many, and the trials that did not fit the new space with the reason."""

    source: str
    carried: int
    incompatible: tuple[tuple[int, str], ...]


@dataclass(frozen=True)
class Recovered:
    """Trials a dead driver left RUNNING: interrupted now (their configurations run again), or
    ``repaused``: promoted trials back at the rung checkpoint they were continuing from."""

    trials: tuple[int, ...]
    repaused: tuple[int, ...] = ()


@dataclass(frozen=True)
class TrialStarted:
    number: int
    params: dict[str, Any]


@dataclass(frozen=True)
class TrialContinued:
    """Promotion: a paused trial continues from its checkpoint, after ``epoch``."""

    number: int
    params: dict[str, Any]
    epoch: int


@dataclass(frozen=True)
class TrialResumed:
    """An interrupted trial's re-run continues from its periodic checkpoint, after ``epoch``."""

    number: int
    resumes: int  # the interrupted trial
    epoch: int


@dataclass(frozen=True)
class TrialPromoted:
    """Promotion in place: at its rung the trial goes on to ``to_epoch`` without pausing."""

    number: int
    epoch: int
    to_epoch: int


@dataclass(frozen=True)
class EpochReported:
    number: int
    epoch: int
    value: float  # the watched metric's
    metrics: dict[str, float]


@dataclass(frozen=True)
class TrialPaused:
    """Promotion: the trial saved its state after ``epoch`` and waits, RUNNING in the study.
    ``cut_short``: why a promoted trial went back to its checkpoint there (its worker lost, Ctrl+C)."""

    number: int
    epoch: int
    metrics: dict[str, float]
    cut_short: str = ""


@dataclass(frozen=True)
class TrialComplete:
    number: int
    value: float  # the watched metric's final value
    epochs: int
    feasible: bool
    metrics: dict[str, float]


@dataclass(frozen=True)
class TrialPruned:
    number: int
    epochs: int | None
    metrics: dict[str, float] | None
    was_paused: bool = False  # a paused trial never promoted, pruned when the sweep ended


@dataclass(frozen=True)
class TrialFailedEnd:
    """The trial failed: its own code raised, it reported a bad metric, or it was interrupted too
    often. (Named apart from ``hpo.TrialFailed``, the exception a trial raises.)"""

    number: int
    reason: str
    epochs: int


@dataclass(frozen=True)
class TrialInterrupted:
    """Cut short from outside (its driver stopped, its worker or node lost): FAIL in the study,
    marked so, and its configuration queued to run again."""

    number: int
    reason: str
    epochs: int


@dataclass(frozen=True)
class ParamsUnread:
    """Space parameters that no finished trial's code read (a typo in the sweep file, usually)."""

    names: tuple[str, ...]
    trials: int


@dataclass(frozen=True)
class StoppedEarly:
    """``budget.stop_when`` ended the search: no new trial starts (``reason``); ``saved_trials``
    of the budget were not needed (None without a trial budget)."""

    reason: str
    saved_trials: int | None


@dataclass(frozen=True)
class NoiseMeasured:
    """Trial ``number``'s configuration was re-trained with ``seed`` for the noise-aware stop rule
    (``value``: its objective value, None when the re-training failed); ``threshold``: the smallest
    improvement the rule counts now."""

    number: int
    seed: int
    value: float | None
    threshold: float


@dataclass(frozen=True)
class SweepAborting:
    """The sweep stops launching and fails its live trials: ``reason`` says why."""

    reason: str


TrialEnd = TrialComplete | TrialPruned | TrialFailedEnd | TrialInterrupted
Notice = (
    StudyOpened
    | EarlierRuns
    | CarriedOver
    | Recovered
    | TrialStarted
    | TrialContinued
    | TrialResumed
    | TrialPromoted
    | EpochReported
    | TrialPaused
    | TrialComplete
    | TrialPruned
    | TrialFailedEnd
    | TrialInterrupted
    | ParamsUnread
    | StoppedEarly
    | NoiseMeasured
    | SweepAborting
)
Listener = Callable[[Notice], None]
