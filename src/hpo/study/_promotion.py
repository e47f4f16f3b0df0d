"""Multi-fidelity with promotion: asynchronous successive halving (ASHA, Li et al. 2018) and its
Hyperband form, deciding from the study alone.

Trials train to a rung (``min_epochs``, then ``min_epochs * reduction_factor``, ... up to
``train.epochs``), pause there with a checkpoint, and free their worker. Whenever a worker is free,
the best paused trial in the top ``1 / reduction_factor`` of its rung continues to the next rung
(from the highest rung down); if none qualifies, the sampler proposes a new trial. A paused trial
stays RUNNING in the study (Optuna has no paused state and a told trial can never continue) with
``hpo:paused`` set to its epoch; one never promoted ends PRUNED with its curve. ``async_hyperband``
spreads new trials over brackets that start at ``min_epochs * reduction_factor**s``.

Everything is read from the trials' intermediate values, so a later run (``hpo resume``) or
another driver decides the same way without any state of its own.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

import optuna
from optuna.trial import FrozenTrial, TrialState

from hpo import _constants

_ARGS = {"min_epochs", "reduction_factor", "brackets", "keep_checkpoints"}


def paused_at(trial: FrozenTrial) -> int | None:
    """The epoch a RUNNING trial is paused after, or None when it is not paused."""
    epoch = trial.user_attrs.get(_constants.ATTR_PAUSED)
    return int(epoch) if trial.state == TrialState.RUNNING and epoch else None


def mark_repaused(storage: optuna.storages.BaseStorage, trial_id: int, rung: int, interruptions: int | None) -> None:
    """A promoted trial cut short goes back to paused at ``rung``, the checkpoint it was continuing
    from, with the epochs before it; ``interruptions``: its new count, when this cut counts. The
    one writer of a return to paused, for the driver that cut it short and a later run's recovery."""
    if interruptions is not None:
        storage.set_trial_user_attr(trial_id, _constants.ATTR_INTERRUPTIONS, interruptions)
    storage.set_trial_user_attr(trial_id, _constants.ATTR_EPOCHS, rung)
    storage.set_trial_user_attr(trial_id, _constants.ATTR_PAUSED, rung)


@dataclass(frozen=True)
class Promotion:
    """The rungs of each bracket (ascending epochs, the last is ``train.epochs``) and the rule."""

    brackets: tuple[tuple[int, ...], ...]
    reduction_factor: int
    maximize: bool
    keep_checkpoints: bool = False

    @classmethod
    def from_config(cls, name: str, args: dict[str, Any], epochs: int, direction: str) -> Promotion:
        """ValueError stating the rule and the bad value when ``args`` cannot make rungs."""
        unknown = sorted(set(args) - _ARGS)
        if unknown:
            raise ValueError(f"{name} takes {', '.join(sorted(_ARGS))}, but got unknown {', '.join(unknown)}")
        low, eta = args.get("min_epochs", 1), args.get("reduction_factor", 3)
        if not (isinstance(low, int) and isinstance(eta, int) and low >= 1 and eta >= 2):
            raise ValueError(
                "`min_epochs >= 1` and `reduction_factor >= 2` must hold as whole numbers, but got "
                f"(min_epochs={low!r}, reduction_factor={eta!r})"
            )
        if low * eta > epochs:
            raise ValueError(
                f"`min_epochs * reduction_factor <= train.epochs` must hold for a second rung, but got "
                f"({low} * {eta} > {epochs}); lower min_epochs or reduction_factor, or raise train.epochs"
            )
        most = math.floor(math.log(epochs / low, eta) + 1e-9) + 1  # brackets whose first rung is below the top
        count = args.get("brackets", most if name == "async_hyperband" else 1)
        if not (isinstance(count, int) and 1 <= count <= most):
            raise ValueError(
                f"`1 <= brackets <= {most}` must hold for min_epochs={low}, reduction_factor={eta}, epochs={epochs}, "
                f"but got {count!r}"
            )
        brackets = []
        for s in range(count):
            rungs = [low * eta ** (s + k) for k in range(most) if low * eta ** (s + k) < epochs]
            brackets.append((*rungs, epochs))
        return cls(tuple(brackets), eta, direction == "maximize", bool(args.get("keep_checkpoints", False)))

    def _bracket(self, number: int) -> int:
        """Trial ``number``'s bracket: new trials take brackets in turn."""
        return number % len(self.brackets)

    def rungs(self, number: int) -> tuple[int, ...]:
        """The rungs of trial ``number``'s bracket."""
        return self.brackets[self._bracket(number)]

    def first_pause(self, number: int) -> int | None:
        """Where a new trial pauses first; None in a bracket that trains to the end at once."""
        rungs = self.rungs(number)
        return rungs[0] if len(rungs) > 1 else None

    def promotion(self, trials: Sequence[FrozenTrial]) -> tuple[FrozenTrial, int] | None:
        """The paused trial to continue next and the epoch it trains to; None when none qualifies."""
        counted = [t for t in trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING)]
        for index, rungs in enumerate(self.brackets):
            members = [t for t in counted if self._bracket(t.number) == index]
            for k in range(len(rungs) - 2, -1, -1):  # the highest rung first: finish what is most advanced
                epoch = rungs[k]
                reached = [t for t in members if epoch in t.intermediate_values]
                reached.sort(key=lambda t: t.intermediate_values[epoch], reverse=self.maximize)
                for trial in reached[: len(reached) // self.reduction_factor]:
                    if paused_at(trial) == epoch:
                        return trial, rungs[k + 1]
        return None


class _PausedAsPruned:
    """A view of the study in which each paused trial is PRUNED at its rung: how the sampler must
    see it (TPE ranks a pruned trial by how far it got and its value there), though the trial
    itself stays RUNNING so that it can continue."""

    def __init__(self, study: Any) -> None:
        self._study = study

    def __getattr__(self, name: str) -> Any:
        return getattr(self._study, name)

    def _get_trials(self, deepcopy: bool = True, states: Any = None, use_cache: bool = False) -> list[FrozenTrial]:
        shown = []
        for trial in self._study._get_trials(deepcopy=deepcopy, states=None, use_cache=use_cache):
            if paused_at(trial) is not None:
                trial = copy.copy(trial)
                trial.state = TrialState.PRUNED
            if states is None or trial.state in states:
                shown.append(trial)
        return shown

    def get_trials(self, deepcopy: bool = True, states: Any = None) -> list[FrozenTrial]:
        return self._get_trials(deepcopy=deepcopy, states=states)

    @property
    def trials(self) -> list[FrozenTrial]:
        return self._get_trials()


def _as_study(view: _PausedAsPruned) -> optuna.Study:
    """The view where the sampler expects a Study: it reads only what a Study offers."""
    return cast(optuna.Study, view)


class PausedAwareSampler(optuna.samplers.BaseSampler):
    """The sweep's sampler, learning from paused trials' results at their rungs (without this it
    would see only the trials that ended, most of them at the end of the sweep)."""

    def __init__(self, sampler: optuna.samplers.BaseSampler) -> None:
        self.sampler = sampler

    def infer_relative_search_space(self, study: optuna.Study, trial: FrozenTrial) -> dict[str, Any]:
        return self.sampler.infer_relative_search_space(_as_study(_PausedAsPruned(study)), trial)

    def sample_relative(self, study: optuna.Study, trial: FrozenTrial, search_space: dict[str, Any]) -> dict[str, Any]:
        return self.sampler.sample_relative(_as_study(_PausedAsPruned(study)), trial, search_space)

    def sample_independent(
        self, study: optuna.Study, trial: FrozenTrial, param_name: str, param_distribution: Any
    ) -> Any:
        return self.sampler.sample_independent(_as_study(_PausedAsPruned(study)), trial, param_name, param_distribution)

    def before_trial(self, study: optuna.Study, trial: FrozenTrial) -> None:
        self.sampler.before_trial(study, trial)

    def after_trial(
        self, study: optuna.Study, trial: FrozenTrial, state: TrialState, values: Sequence[float] | None
    ) -> None:
        self.sampler.after_trial(study, trial, state, values)

    def reseed_rng(self) -> None:
        self.sampler.reseed_rng()
