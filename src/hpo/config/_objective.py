"""What a sweep optimizes: one metric, or several goals with the one pruning watches, and constraints.

    objective: {metric: val_accuracy, direction: maximize}
    objective:                                   # several goals: a Pareto front
      - {metric: val_accuracy, direction: maximize}
      - {metric: params, direction: minimize}
    objective: {goals: [...], prune_on: val_accuracy, constraints: ["latency_ms <= 2"]}

``metric``/``direction`` always name the goal the pruner watches (the first goal unless
``prune_on`` names another), so single-objective code reads them unchanged.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from hpo.config._base import Strict, is_reference

Direction = Literal["maximize", "minimize"]
_CONSTRAINT = re.compile(r"^\s*([A-Za-z_]\w*)\s*(<=|>=)\s*([-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)\s*$")


@dataclass(frozen=True)
class Constraint:
    """``metric <= bound`` or ``metric >= bound``; Optuna's convention: feasible when violation <= 0."""

    text: str
    metric: str
    op: str
    bound: float

    def violation(self, metrics: dict[str, float]) -> float | None:
        """How far ``metrics`` are past the bound (<= 0: satisfied); None when the metric is missing."""
        value = metrics.get(self.metric)
        if value is None or not math.isfinite(value):
            return None
        return value - self.bound if self.op == "<=" else self.bound - value


def parse_constraint(text: str) -> Constraint:
    match = _CONSTRAINT.match(text)
    if match is None:
        raise ValueError(f"a constraint must read 'METRIC <= NUMBER' or 'METRIC >= NUMBER', but got {text!r}")
    return Constraint(" ".join(match.groups()), match.group(1), match.group(2), float(match.group(3)))


class Goal(Strict):
    metric: str
    direction: Direction


class ObjectiveConfig(Strict):
    """What the sweep optimizes; ``function`` (``package.module:function``) replaces the built-in
    Keras trainer with the user's own training code."""

    metric: str = "val_accuracy"
    direction: Direction = "maximize"
    goals: list[Goal] = Field(default_factory=list)
    prune_on: str | None = None
    constraints: list[str] = Field(default_factory=list)
    function: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _primary(cls, data: Any) -> Any:
        """A list is the goals; with goals, metric/direction become the goal pruning watches."""
        if isinstance(data, list):
            data = {"goals": data}
        if not isinstance(data, dict) or not data.get("goals"):
            return data
        goals = data["goals"]
        if not isinstance(goals, list) or not all(isinstance(g, dict) and "metric" in g for g in goals):
            return data  # the field's own validation names what is wrong
        metrics = [g["metric"] for g in goals]
        watched = data.get("prune_on") or metrics[0]
        if watched not in metrics:
            raise ValueError(
                f"`prune_on` must name one of the goals ({', '.join(map(str, metrics))}), but got {watched!r}"
            )
        primary = goals[metrics.index(watched)]
        for key in ("metric", "direction"):
            if key in data and data[key] != primary.get(key):
                raise ValueError(
                    f"with `goals`, `{key}` is the goal pruning watches ({primary.get(key)!r}), but got {data[key]!r}; "
                    f"remove `{key}` (choose the watched goal with `prune_on`)"
                )
        return {**data, "metric": primary["metric"], "direction": primary.get("direction", "maximize")}

    @field_validator("function")
    @classmethod
    def _check_function(cls, value: str | None) -> str | None:
        if value is not None and not is_reference(value):
            raise ValueError(f"`function` must be a 'package.module:function' reference, but got {value!r}")
        return value

    @field_validator("constraints")
    @classmethod
    def _check_constraints(cls, value: list[str]) -> list[str]:
        for text in value:
            parse_constraint(text)
        return value

    @model_validator(mode="after")
    def _check(self) -> ObjectiveConfig:
        metrics = [g.metric for g in self.goals]
        if len(set(metrics)) != len(metrics):
            raise ValueError(f"each goal's metric must be different, but got {metrics}")
        if self.prune_on is not None and not self.goals and self.prune_on != self.metric:
            raise ValueError(
                f"`prune_on` must be the objective's metric ({self.metric!r}) in a single-objective sweep, but got "
                f"{self.prune_on!r}"
            )
        return self

    @property
    def targets(self) -> list[Goal]:
        """Every goal, in the order of the study's values (one for a single-objective sweep)."""
        return list(self.goals) or [Goal(metric=self.metric, direction=self.direction)]

    @property
    def multi(self) -> bool:
        return len(self.targets) > 1

    def metrics_used(self) -> list[str]:
        """Every metric the goals and constraints read."""
        return list(dict.fromkeys([g.metric for g in self.targets] + [c.metric for c in self.parsed_constraints()]))

    def parsed_constraints(self) -> list[Constraint]:
        return [parse_constraint(text) for text in self.constraints]
