"""Grid search under ask/tell: Optuna's GridSampler ends a study with ``study.stop()``, which only
works inside ``study.optimize``; here the sweep asks ``is_exhausted`` instead."""

from __future__ import annotations

import math
from typing import Any

import optuna

from hpo.space import CategoricalParam, FloatParam, IntParam, SearchSpace


def grid_values(space: SearchSpace) -> dict[str, list[Any]]:
    """Every tunable parameter's grid; raises ValueError naming a parameter with no finite grid."""
    grid: dict[str, list[Any]] = {}
    for param in space:
        if isinstance(param, CategoricalParam):
            grid[param.name] = list(param.choices)
        elif isinstance(param, IntParam):
            grid[param.name] = list(range(param.low, param.max_value + 1, param.step))
        elif isinstance(param, FloatParam):
            if param.step is None:
                raise ValueError(
                    f"the grid sampler needs a finite grid, but float parameter {param.name!r} has no `step`; "
                    "add `step` to it or choose another sampler"
                )
            n = round((param.high - param.low) / param.step)
            grid[param.name] = [param.low + i * param.step for i in range(n + 1)]
    return grid


class AskTellGridSampler(optuna.samplers.BaseSampler):
    """Optuna's GridSampler without its ``after_trial`` (which calls ``study.stop()``)."""

    def __init__(self, values: dict[str, list[Any]], seed: int | None, **args: Any) -> None:
        self._grid = optuna.samplers.GridSampler(values, seed=seed, **args)
        self.size = math.prod(len(v) for v in values.values())

    def infer_relative_search_space(self, study: optuna.Study, trial: Any) -> dict[str, Any]:
        return self._grid.infer_relative_search_space(study, trial)

    def sample_relative(self, study: optuna.Study, trial: Any, search_space: dict[str, Any]) -> dict[str, Any]:
        return self._grid.sample_relative(study, trial, search_space)

    def sample_independent(self, study: optuna.Study, trial: Any, param_name: str, param_distribution: Any) -> Any:
        return self._grid.sample_independent(study, trial, param_name, param_distribution)

    def before_trial(self, study: optuna.Study, trial: Any) -> None:
        self._grid.before_trial(study, trial)

    def is_exhausted(self, study: optuna.Study) -> bool:
        return self._grid.is_exhausted(study)


def grid_exhausted(study: optuna.Study) -> bool:
    """Whether the study's sampler is a grid with every point taken."""
    return isinstance(study.sampler, AskTellGridSampler) and study.sampler.is_exhausted(study)


def trial_cap(study: optuna.Study, budget: int | None) -> int | None:
    """The trial budget, capped at the grid's size for a grid sampler (running trials hold points)."""
    if isinstance(study.sampler, AskTellGridSampler):
        return study.sampler.size if budget is None else min(budget, study.sampler.size)
    return budget
