"""Parameter kinds of a search space: float, int, categorical and fixed, each optionally conditional."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import optuna

Scalar = str | int | float | bool | None


def same_value(a: Any, b: Any) -> bool:
    """Equality that keeps ``True`` apart from ``1`` but lets ``1 == 1.0``."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    return type(a) is type(b) and a == b


@dataclass(frozen=True)
class Condition:
    """The child exists only when ``parent`` exists and its value is in ``values`` (or is > ``above``)."""

    parent: str
    values: tuple[Scalar, ...] | None = None
    above: int | None = None

    def holds(self, params: dict[str, Any]) -> bool:
        if self.parent not in params:
            return False
        value = params[self.parent]
        if self.above is not None:
            return value > self.above
        return any(same_value(value, v) for v in self.values or ())

    def describe(self) -> str:
        if self.above is not None:
            return f"{self.parent} > {self.above}"
        if self.values is not None and len(self.values) == 1:
            return f"{self.parent} == {self.values[0]!r}"
        return f"{self.parent} in {list(self.values or ())!r}"


@dataclass(frozen=True)
class _Param:
    name: str
    when: tuple[Condition, ...] = ()
    per_layer: str | None = None

    kind = ""

    def suggest(self, trial: optuna.trial.BaseTrial) -> Any:
        raise NotImplementedError

    def distribution(self) -> optuna.distributions.BaseDistribution | None:
        """The Optuna distribution, or None for a fixed value (not an Optuna parameter)."""
        raise NotImplementedError

    def contains(self, value: Any) -> bool:
        raise NotImplementedError

    def describe(self) -> str:
        raise NotImplementedError

    def _fields(self) -> dict[str, Any]:
        raise NotImplementedError

    def to_spec(self) -> dict[str, Any]:
        """The YAML mapping that declares this parameter (round-trips through the parser)."""
        spec: dict[str, Any] = {"type": self.kind, **self._fields()}
        if self.when:
            spec["when"] = {c.parent: list(c.values or ()) for c in self.when}
        if self.per_layer is not None:
            spec["per_layer"] = self.per_layer
        return spec


@dataclass(frozen=True)
class FloatParam(_Param):
    low: float = 0.0
    high: float = 1.0
    log: bool = False
    step: float | None = None

    kind = "float"

    def suggest(self, trial: optuna.trial.BaseTrial) -> float:
        return trial.suggest_float(self.name, self.low, self.high, log=self.log, step=self.step)

    def distribution(self) -> optuna.distributions.FloatDistribution:
        return optuna.distributions.FloatDistribution(self.low, self.high, log=self.log, step=self.step)

    def contains(self, value: Any) -> bool:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
            return False
        if not self.low <= value <= self.high:
            return False
        if self.step is None:
            return True
        k = (value - self.low) / self.step
        return abs(k - round(k)) < 1e-8

    def describe(self) -> str:
        text = f"[{self.low:g}, {self.high:g}]"
        if self.log:
            text += " log"
        if self.step is not None:
            text += f" step {self.step:g}"
        return text

    def _fields(self) -> dict[str, Any]:
        fields: dict[str, Any] = {"low": self.low, "high": self.high}
        if self.log:
            fields["log"] = True
        if self.step is not None:
            fields["step"] = self.step
        return fields


@dataclass(frozen=True)
class IntParam(_Param):
    low: int = 0
    high: int = 1
    log: bool = False
    step: int = 1

    kind = "int"

    def suggest(self, trial: optuna.trial.BaseTrial) -> int:
        return trial.suggest_int(self.name, self.low, self.high, log=self.log, step=self.step)

    def distribution(self) -> optuna.distributions.IntDistribution:
        return optuna.distributions.IntDistribution(self.low, self.high, log=self.log, step=self.step)

    def contains(self, value: Any) -> bool:
        if isinstance(value, bool) or not isinstance(value, int):
            return False
        return self.low <= value <= self.high and (value - self.low) % self.step == 0

    @property
    def max_value(self) -> int:
        """The largest value the sampler can return (``high`` rounded down to the step grid)."""
        return self.low + (self.high - self.low) // self.step * self.step

    def describe(self) -> str:
        text = f"[{self.low}, {self.high}]"
        if self.log:
            text += " log"
        if self.step != 1:
            text += f" step {self.step}"
        return text

    def _fields(self) -> dict[str, Any]:
        fields: dict[str, Any] = {"low": self.low, "high": self.high}
        if self.log:
            fields["log"] = True
        if self.step != 1:
            fields["step"] = self.step
        return fields


@dataclass(frozen=True)
class CategoricalParam(_Param):
    choices: tuple[Scalar, ...] = ()

    kind = "categorical"

    def suggest(self, trial: optuna.trial.BaseTrial) -> Scalar:
        return trial.suggest_categorical(self.name, list(self.choices))

    def distribution(self) -> optuna.distributions.CategoricalDistribution:
        return optuna.distributions.CategoricalDistribution(list(self.choices))

    def contains(self, value: Any) -> bool:
        return any(same_value(value, c) for c in self.choices)

    def describe(self) -> str:
        return "{" + ", ".join(repr(c) for c in self.choices) + "}"

    def _fields(self) -> dict[str, Any]:
        return {"choices": list(self.choices)}


@dataclass(frozen=True)
class FixedParam(_Param):
    value: Scalar = None

    kind = "fixed"

    def suggest(self, trial: optuna.trial.BaseTrial) -> Scalar:
        return self.value

    def distribution(self) -> None:
        return None

    def contains(self, value: Any) -> bool:
        return same_value(value, self.value)

    def describe(self) -> str:
        return f"= {self.value!r}"

    def _fields(self) -> dict[str, Any]:
        return {"value": self.value}


Param = FloatParam | IntParam | CategoricalParam | FixedParam
