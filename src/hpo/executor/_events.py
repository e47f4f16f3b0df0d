"""What a pool of trial workers tells the driver's loop, one event at a time, whatever runs the
workers (Ray in hpo; a stand-in in the tests). A TrialWorker yields plain dicts; ``event_from``
turns each into one of these."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Placed:
    number: int
    placement: dict[str, Any]
    from_epoch: int = 0  # the epoch of the checkpoint the worker restored (0: a fresh start)


@dataclass(frozen=True)
class Reported:
    number: int
    epoch: int
    metrics: dict[str, float]


@dataclass(frozen=True)
class Ended:
    number: int
    metrics: dict[str, float] | None
    unread: tuple[str, ...] = ()  # space parameters the trial's code never read


@dataclass(frozen=True)
class Paused:
    number: int
    epoch: int
    checkpoint: bytes = field(repr=False)


@dataclass(frozen=True)
class Checkpointed:
    """A periodic checkpoint: the trial's state after ``epoch``; it goes on training."""

    number: int
    epoch: int
    checkpoint: bytes = field(repr=False)


@dataclass(frozen=True)
class Failed:
    number: int
    reason: str
    retryable: bool
    oom: bool = False
    interrupted: bool = False  # cut short from outside (its worker or node lost), not by its own code


@dataclass(frozen=True)
class Measured:
    """A re-training of trial ``number``'s configuration with ``seed`` (the noise-aware stop rule's,
    not a trial): its final metrics, or None with the reason when it failed or its worker was lost."""

    number: int
    seed: int
    metrics: dict[str, float] | None
    reason: str = ""


Event = Placed | Reported | Ended | Paused | Checkpointed | Failed | Measured


def event_from(number: int, item: dict[str, Any]) -> Event:
    """The pool event for one item a TrialWorker yielded."""
    kind = item["kind"]
    if kind == "start":
        return Placed(number, item["placement"], int(item.get("from_epoch", 0)))
    if kind == "report":
        return Reported(number, int(item["epoch"]), item["metrics"])
    if kind == "end":
        return Ended(number, item["metrics"], tuple(item.get("unread", ())))
    if kind == "stopped":
        return Ended(number, None)
    if kind == "paused":
        return Paused(number, int(item["epoch"]), item["checkpoint"])
    if kind == "checkpoint":
        return Checkpointed(number, int(item["epoch"]), item["checkpoint"])
    return Failed(number, item["reason"], bool(item["retryable"]), bool(item.get("oom", False)))
