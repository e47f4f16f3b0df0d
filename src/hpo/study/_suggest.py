"""Narrower bounds from a study's finished trials (`hpo space --suggest`): where its best trials are.

For each tuned parameter of the sweep's space: the range (numbers) or the choices (categories) the
top ``top`` share of the feasible COMPLETE trials used, and the parameter's local importance
among them (Optuna's PED-ANOVA: how much the parameter's distribution in the top trials departs
from its distribution in all). A per-layer parameter (``units`` for ``units_0``, ``units_1``, ...)
is narrowed over all its layers. Nothing is written: the result is a ``space.params`` snippet of
partial overrides for the user to paste.
"""

from __future__ import annotations

import math
import re
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import optuna
from optuna.trial import TrialState

from hpo.study._best import is_feasible

if TYPE_CHECKING:  # the study package never imports the space's users at run time
    from hpo.space import SearchSpace


@dataclass(frozen=True)
class Narrowed:
    """One parameter's suggestion: its new bounds or choices (None: leave it), its importance."""

    name: str
    override: dict[str, Any] | None
    importance: float | None
    was: str
    note: str = ""  # why a narrowing the best trials point to is left out


def _importances(study: optuna.Study) -> dict[str, float]:
    with warnings.catch_warnings():  # PED-ANOVA warns when few trials make its quantiles coincide
        warnings.simplefilter("ignore")
        try:
            evaluator = optuna.importance.PedAnovaImportanceEvaluator()
            return dict(optuna.importance.get_param_importances(study, evaluator=evaluator, normalize=True))
        except (ValueError, RuntimeError, ZeroDivisionError):  # too few trials or no spread: no importance
            return {}


def _values(trials: list[optuna.trial.FrozenTrial], name: str) -> list[Any]:
    layer = re.compile(rf"^{re.escape(name)}_\d+$")
    return [v for t in trials for key, v in t.params.items() if key == name or layer.match(key)]


def suggest_narrower(study: optuna.Study, space: SearchSpace, top: float = 0.2) -> tuple[list[Narrowed], int, int]:
    """Per declared tuned parameter, what the top ``top`` of the complete trials suggest; and how
    many trials were the top and how many complete trials there were."""
    complete = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)) if is_feasible(t)]
    maximize = study.direction == optuna.study.StudyDirection.MAXIMIZE
    ranked = sorted(complete, key=lambda t: float(t.value), reverse=maximize)  # type: ignore[arg-type]  # COMPLETE: set
    best = ranked[: max(1, math.ceil(top * len(ranked)))] if ranked else []
    importance = _importances(study)
    out = []
    for param in space.declared:
        if param.kind == "fixed":
            continue
        values = _values(best, param.name)
        weight = max(
            (w for k, w in importance.items() if k == param.name or k.startswith(f"{param.name}_")), default=None
        )
        override, note = _override(param, values), ""
        if override is not None and param.kind == "categorical" and (orphans := _orphans(space, param.name, override)):
            note = (
                f"the best trials all use {override['choices']}, but narrowing to them would leave "
                f"{', '.join(orphans)} unreachable (their condition needs another {param.name}); narrow it "
                "and remove those together"
            )
            override = None
        out.append(Narrowed(param.name, override, weight, param.describe(), note))
    return out, len(best), len(complete)


def _orphans(space: SearchSpace, name: str, override: dict[str, Any]) -> list[str]:
    """The parameters whose condition on ``name`` no kept choice satisfies."""
    kept = override["choices"]
    return [
        other.name
        for other in space.declared
        for condition in other.when
        if condition.parent == name and condition.values is not None and not set(condition.values) & set(kept)
    ]


def _round(value: float, up: bool) -> float:
    """``value`` to 3 significant digits, outward (a bound never cuts off the value it came from)."""
    if value == 0:
        return 0.0
    scale = 10 ** (math.floor(math.log10(abs(value))) - 2)
    return (math.ceil if up else math.floor)(value / scale) * scale


def _override(param: Any, values: list[Any]) -> dict[str, Any] | None:
    if not values:
        return None
    if param.kind == "categorical":
        kept = [c for c in param.choices if c in values]
        return None if len(kept) == len(param.choices) else {"choices": kept}
    low, high = min(values), max(values)
    if param.kind == "int":
        low, high = max(param.low, int(low) - 1), min(param.high, int(high) + 1)  # a step of room each side
    else:
        room = 0.1 * (high - low or (param.high - param.low))
        if param.log:
            low, high = max(param.low, low / (1 + room / max(low, 1e-12))), min(param.high, high * (1 + room / high))
        else:
            low, high = max(param.low, low - room), min(param.high, high + room)
        low, high = max(param.low, _round(low, up=False)), min(param.high, _round(high, up=True))
    if (low, high) == (param.low, param.high):
        return None
    return {"low": low, "high": high}
