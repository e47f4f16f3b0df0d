"""Stopping a study that has stopped improving (``budget.stop_when``): the patience rule, and its
noise-aware form.

Counted over the study's finished trials (COMPLETE and PRUNED, in the order they finished, across
runs): once ``patience`` of them have finished since a feasible COMPLETE trial last improved the
best value by more than the threshold, the sweep starts no new trial (running ones finish).

The threshold is ``min_delta``; with ``noise_seeds`` it is at least the seed noise measured on the
incumbent: once half the patience of trials has finished, the best trial's configuration is
re-trained with ``noise_seeds - 1`` more seeds (outside the study's trials), and the standard
deviation of its values is the smallest improvement the rule believes (a later incumbent that
beats it by more than that is measured again once it has held for half the patience). The
improvement still to be expected is estimated by what the last ``patience`` finished trials
brought; once that is below the noise, more search mostly chases seed luck. (Optuna's Terminator,
a regret-bound rule, is deprecated since Optuna 4.9 and leaves in 6; hpo does not build on it.)
"""

from __future__ import annotations

import datetime
import math
import statistics
from dataclasses import dataclass
from typing import Any

import optuna
from optuna.trial import TrialState

from hpo import _constants
from hpo._direction import better
from hpo.study._best import is_feasible

_FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)


@dataclass(frozen=True)
class Noise:
    """The seed noise measured on one incumbent: its values over the seeds, and their deviation."""

    trial: int
    values: tuple[float, ...]

    @property
    def std(self) -> float:
        return statistics.stdev(self.values)


def measured_noise(study_attrs: dict[str, Any]) -> dict[int, dict[str, Any]]:
    """The study's record of noise measurements (``hpo:noise``), by trial number."""
    return {int(k): v for k, v in (study_attrs.get(_constants.ATTR_NOISE) or {}).items()}


@dataclass(frozen=True)
class Patience:
    """No improvement beyond the threshold in ``patience`` finished trials ends the search."""

    patience: int
    min_delta: float
    direction: str
    metric: str
    noise_seeds: int | None = None  # re-train the incumbent to this many seeds in all (the search's run counts)

    def _finished(self, trials: list[optuna.trial.FrozenTrial]) -> list[optuna.trial.FrozenTrial]:
        far_past = datetime.datetime.min
        return sorted(
            (t for t in trials if t.state in _FINISHED), key=lambda t: (t.datetime_complete or far_past, t.number)
        )

    def _count(
        self, finished: list[optuna.trial.FrozenTrial], delta: float
    ) -> tuple[optuna.trial.FrozenTrial | None, int]:
        """The incumbent (the last trial that improved by more than ``delta``) and how many trials
        finished since."""
        best: optuna.trial.FrozenTrial | None = None
        since = 0
        for trial in finished:
            value = trial.value if trial.state == TrialState.COMPLETE and is_feasible(trial) else None
            if value is not None and (best is None or self._improves(value, best.value, delta)):
                best, since = trial, 0
            else:
                since += 1
        return best, since

    def noise(self, measured: dict[int, dict[str, Any]]) -> Noise | None:
        """The last completed measurement (the most recent incumbent's), if any."""
        if self.noise_seeds is None:
            return None
        done = [
            Noise(number, tuple(record["values"]))
            for number, record in measured.items()
            if len(record.get("values", ())) >= self.noise_seeds
        ]
        return max(done, key=lambda noise: noise.trial) if done else None

    def threshold(self, measured: dict[int, dict[str, Any]]) -> float:
        noise = self.noise(measured)
        return self.min_delta if noise is None else max(self.min_delta, noise.std)

    def reason(
        self, trials: list[optuna.trial.FrozenTrial], measured: dict[int, dict[str, Any]] | None = None
    ) -> str | None:
        """Why the search is over, or None while the rule lets it go on."""
        measured = measured or {}
        delta = self.threshold(measured)
        best, since = self._count(self._finished(trials), delta)
        if best is None or since < self.patience:
            return None
        noise = self.noise(measured)
        why = f"by more than {delta:g}"
        if noise is not None and delta > self.min_delta:
            why += f" (the seed noise of trial {noise.trial}: sd of {len(noise.values)} seeds)"
        return (
            f"no trial improved {self.metric} {why} in the last {since} finished trials "
            f"(budget.stop_when.patience={self.patience}); the best stays {best.value:.6g}"
        )

    def measurement(
        self, trials: list[optuna.trial.FrozenTrial], measured: dict[int, dict[str, Any]], pending: set[tuple[int, int]]
    ) -> tuple[int, int] | None:
        """The (trial, seed offset) to re-train next for the noise, or None. Only with
        ``noise_seeds``: the first measurement once half the patience of trials has finished, on
        the best trial then; later, an incumbent that beat the measured one by more than the noise
        once it has held for half the patience. A measurement under way is finished first (its
        seeds that are not running); an incumbent whose re-training failed is not asked again."""
        if self.noise_seeds is None:
            return None
        half = math.ceil(self.patience / 2)
        under_way = {number for number, _ in pending} | {
            number
            for number, record in measured.items()
            if not record.get("failed") and len(record.get("values", ())) < self.noise_seeds
        }
        if under_way:
            target = min(under_way)
        else:
            finished = self._finished(trials)
            threshold = self.threshold(measured)
            best, since = self._count(finished, threshold)
            noise = self.noise(measured)
            if noise is None:
                due = len(finished) >= half
            else:  # a later incumbent: beyond the measured one by more than the noise, and held a while
                due = (
                    best is not None
                    and best.value is not None
                    and since >= half
                    and self._improves(best.value, noise.values[0], threshold)
                )
            if best is None or not due or best.number in measured:
                return None
            target = best.number
        record = measured.get(target, {})
        if record.get("failed"):
            return None
        for offset in range(1, self.noise_seeds):  # offset 0 is the search's own run
            if offset not in record.get("seeds", ()) and (target, offset) not in pending:
                return target, offset
        return None

    def _improves(self, value: float, best: float | None, delta: float) -> bool:
        assert best is not None, "a COMPLETE single-objective trial has a value"
        shifted = best + delta if self.direction == "maximize" else best - delta
        return better(value, shifted, self.direction)
