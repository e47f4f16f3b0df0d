"""Continuing after the space was edited: what changed, parameter by parameter, and a new study that
carries the earlier study's finished trials that the new space can still produce.

A carried trial keeps its state, values, curve and attributes, gains ``hpo:carried_from``
(``{"study", "trial"}``) and does not count in the new study's budget; the sampler learns from it
as from its own trials. A trial is carried when every parameter it has is in the new space, inside
its new domain and with its condition holding, every parameter the new space makes active for it
is set, and no fixed value it ran with has changed; the others are listed with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import optuna
from optuna.trial import TrialState

from hpo import _constants

if TYPE_CHECKING:  # the study package never imports the space's users at run time
    from hpo.space import SearchSpace

_CARRIED_STATES = (TrialState.COMPLETE, TrialState.PRUNED)
_ORDER = ("type", "value", "low", "high", "log", "step", "choices", "per_layer", "when")


def space_changes(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """What changed between two spaces (``SearchSpace.to_dict`` of each), one line per change."""
    lines = [f"{name}: added ({_spec(new[name])})" for name in new if name not in old]
    lines += [f"{name}: removed (was {_spec(old[name])})" for name in old if name not in new]
    for name in (n for n in new if n in old and new[n] != old[n]):
        before, after = old[name], new[name]
        keys = [k for k in _ORDER if k in before or k in after] + sorted((set(before) | set(after)) - set(_ORDER))
        for key in keys:
            if before.get(key) != after.get(key):
                lines.append(f"{name}: {key} {_value(before.get(key))} -> {_value(after.get(key))}")
    return lines


def _spec(spec: dict[str, Any]) -> str:
    return ", ".join(f"{k} {_value(v)}" for k, v in spec.items())


def _value(value: Any) -> str:
    return "(none)" if value is None else str(value)


@dataclass
class Carried:
    """What a carry-over did: the study it read, the trials it carried, and why others were not."""

    source: str
    carried: list[int] = field(default_factory=list)
    incompatible: list[tuple[int, str]] = field(default_factory=list)


def carry_trials(source: optuna.Study, target: optuna.Study, space: SearchSpace, old: dict[str, Any]) -> Carried:
    """Add ``source``'s finished trials that ``space`` (the new one; ``old`` the one they ran under)
    can produce to ``target``, marked with their origin; record what was done on ``target``. A
    trial whose origin ``target`` already holds (a carry cut short by a killed driver) is not
    added again."""
    done = Carried(source.study_name)
    distributions = space.distributions()
    ran_with = {name: spec["value"] for name, spec in old.items() if spec.get("type") == "fixed"}
    held = [t.user_attrs.get(_constants.ATTR_CARRIED_FROM) for t in target.get_trials(deepcopy=False)]
    already = {(origin["study"], origin["trial"]) for origin in held if origin}
    frozen = []
    for trial in source.get_trials(deepcopy=False, states=_CARRIED_STATES):
        reasons = space.check({**ran_with, **trial.params})  # what the trial ran with, fixed values too
        if reasons:
            done.incompatible.append((trial.number, "; ".join(reasons)))
            continue
        origin = trial.user_attrs.get(_constants.ATTR_CARRIED_FROM) or {
            "study": source.study_name,
            "trial": trial.number,
        }
        done.carried.append(trial.number)
        if (origin["study"], origin["trial"]) in already:
            continue
        frozen.append(
            optuna.trial.create_trial(
                state=trial.state,
                params=dict(trial.params),
                distributions={name: distributions[name] for name in trial.params},
                values=trial.values,
                intermediate_values=dict(trial.intermediate_values),
                user_attrs={**trial.user_attrs, _constants.ATTR_CARRIED_FROM: origin},
                system_attrs={k: v for k, v in trial.system_attrs.items() if k == "constraints"},
            )
        )
    target.add_trials(frozen)
    target.set_user_attr(
        _constants.ATTR_CARRIED,
        {"from": done.source, "carried": len(done.carried), "incompatible": done.incompatible[:100]},
    )
    return done
