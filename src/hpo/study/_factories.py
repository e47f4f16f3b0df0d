"""Optuna samplers and pruners from a sweep's names and arguments (names: ``_constants``)."""

from __future__ import annotations

import inspect
import warnings
from typing import Any

import optuna

from hpo import _constants
from hpo._text import did_you_mean
from hpo.space import SearchSpace
from hpo.study._grid import AskTellGridSampler, grid_values
from hpo.study._promotion import Promotion


def sampler_class(name: str) -> type:
    return getattr(optuna.samplers, _constants.SAMPLERS[name])


def pruner_class(name: str) -> type:
    return getattr(optuna.pruners, _constants.PRUNERS[name])


def _check_args(cls: type, args: dict[str, Any], reserved: tuple[str, ...]) -> None:
    accepted = [n for n in inspect.signature(cls).parameters if n not in reserved]
    for key in args:
        if key not in accepted:
            raise ValueError(
                f"{cls.__name__} takes no argument {key!r}{did_you_mean(key, accepted)}; "
                f"it accepts: {', '.join(accepted) or 'none'}"
            )


def make_sampler(name: str, args: dict[str, Any], seed: int | None, space: SearchSpace) -> optuna.samplers.BaseSampler:
    """A sampler by its sweep name. Raises ValueError with the sampler's own rule on bad arguments."""
    cls = sampler_class(name)
    with warnings.catch_warnings():
        # The sweep file chose the sampler deliberately; Optuna's "experimental" notice is noise here.
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        if name == "grid":
            _check_args(cls, args, ("search_space", "seed"))
            return AskTellGridSampler(grid_values(space), seed, **args)
        _check_args(cls, args, ("seed",))
        return cls(seed=seed, **args)


def make_pruner(name: str, args: dict[str, Any], epochs: int) -> optuna.pruners.BasePruner:
    """A pruner by its sweep name; ``patient`` wraps ``args.wrapped`` ({name, args}), default median."""
    cls = pruner_class(name)
    args = dict(args)
    if name in _constants.PROMOTION_SCHEDULERS:  # the rungs decide, not Optuna's pruner
        Promotion.from_config(name, args, epochs, "maximize")
        return cls()
    positional: tuple[Any, ...] = ()
    if name == "patient":
        wrapped = args.pop("wrapped", {"name": "median"})
        if (
            not isinstance(wrapped, dict)
            or wrapped.get("name") not in _constants.PRUNERS
            or wrapped["name"] in _constants.PROMOTION_SCHEDULERS
        ):
            raise ValueError(
                f"`wrapped` must be {{name: <pruner>, args: {{...}}}} with a pruner name from "
                f"{', '.join(n for n in _constants.PRUNERS if n not in _constants.PROMOTION_SCHEDULERS)}, but got "
                f"{wrapped!r}"
            )
        _check_args(cls, args, ("wrapped_pruner",))
        positional = (make_pruner(wrapped["name"], dict(wrapped.get("args", {})), epochs),)
    else:
        if name == "hyperband":
            args.setdefault("max_resource", epochs)
        _check_args(cls, args, ())
    with warnings.catch_warnings():
        # The sweep file chose the pruner deliberately; Optuna's "experimental" notice is noise here.
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return cls(*positional, **args)


def startup_trials(name: str, args: dict[str, Any]) -> int:
    """How many finished trials the sampler needs before it stops sampling at random (0 if none)."""
    parameter = inspect.signature(sampler_class(name)).parameters.get("n_startup_trials")
    if parameter is None:
        return 0
    return int(args.get("n_startup_trials", parameter.default))
