"""Turn the YAML mapping of one parameter into a Param, with a Problem for every broken rule."""

from __future__ import annotations

import math
import re
from typing import Any

from hpo._errors import Problem
from hpo._text import did_you_mean
from hpo._yaml import KeyPath, YamlDocument
from hpo.space._params import (
    CategoricalParam,
    Condition,
    FixedParam,
    FloatParam,
    IntParam,
    Param,
)

_KINDS: dict[str, tuple[str, ...]] = {
    "float": ("low", "high", "log", "step"),
    "int": ("low", "high", "log", "step"),
    "categorical": ("choices",),
    "fixed": ("value",),
}
_COMMON_KEYS = ("type", "when", "per_layer")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, (str, int, float, bool))


class ParamParser:
    """Parses parameter mappings of one YAML document, collecting problems instead of stopping."""

    def __init__(self, doc: YamlDocument, problems: list[Problem]) -> None:
        self.doc = doc
        self.problems = problems

    def _fail(self, path: KeyPath, message: str, fix: str = "") -> None:
        self.problems.append(self.doc.problem(path, message, fix))

    def parse(self, name: str, raw: Any, path: KeyPath) -> Param | None:
        """The Param declared by ``raw`` at ``path``, or None after recording its problems."""
        if not _NAME.match(name):
            self._fail(path, f"parameter names must be identifiers, but got {name!r}", "use letters, digits and _")
            return None
        if not isinstance(raw, dict):
            if _is_scalar(raw):
                return FixedParam(name=name, value=raw)
            self._fail(
                path,
                f"a parameter is a mapping with `type` (or a plain value for a fixed one), but got {raw!r}",
                "write e.g. {type: float, low: 0.001, high: 0.1}",
            )
            return None
        kind = raw.get("type")
        if kind is None:
            self._fail(path, "every parameter needs `type`", f"add `type:` with one of {', '.join(_KINDS)}")
            return None
        if kind not in _KINDS:
            self._fail(
                (*path, "type"),
                f"unknown distribution kind {kind!r}{did_you_mean(kind, _KINDS)}",
                f"use one of {', '.join(_KINDS)}",
            )
            return None
        allowed = _KINDS[kind] + _COMMON_KEYS
        for key in raw:
            if key not in allowed:
                self._fail(
                    (*path, key),
                    f"unknown key {key!r} for a {kind} parameter{did_you_mean(key, allowed)}",
                    f"allowed keys: {', '.join(allowed)}",
                )
        n_before = len(self.problems)
        when = self._conditions(raw.get("when"), (*path, "when"))
        per_layer = raw.get("per_layer")
        if per_layer is not None and not (isinstance(per_layer, str) and _NAME.match(per_layer)):
            self._fail((*path, "per_layer"), f"`per_layer` names an int parameter, but got {per_layer!r}")
            per_layer = None
        common = {"name": name, "when": when, "per_layer": per_layer}
        if kind in ("float", "int"):
            param = self._numeric(kind, raw, path, common)
        elif kind == "categorical":
            param = self._categorical(raw, path, common)
        else:
            param = self._fixed(raw, path, common)
        return param if len(self.problems) == n_before else None

    def _conditions(self, raw: Any, path: KeyPath) -> tuple[Condition, ...]:
        if raw is None:
            return ()
        if not isinstance(raw, dict) or not raw:
            self._fail(
                path, f"`when` maps parent parameters to values, but got {raw!r}", "write e.g. when: {optimizer: [sgd]}"
            )
            return ()
        conditions = []
        for parent, values in raw.items():
            values = values if isinstance(values, list) else [values]
            if not values or not all(_is_scalar(v) for v in values):
                self._fail(
                    (*path, parent), f"condition values must be a non-empty list of plain values, but got {values!r}"
                )
                continue
            conditions.append(Condition(parent=str(parent), values=tuple(values)))
        return tuple(conditions)

    def _numeric(self, kind: str, raw: dict[str, Any], path: KeyPath, common: dict[str, Any]) -> Param | None:
        ok = True
        bounds = {}
        for key in ("low", "high"):
            value = raw.get(key)
            if value is None:
                self._fail((*path, key), f"a {kind} parameter needs `{key}`", f"add `{key}:`")
                ok = False
            elif not _is_number(value):
                self._fail((*path, key), f"`{key}` must be a number, but got {value!r}")
                ok = False
            elif not math.isfinite(value):
                self._fail((*path, key), f"`{key}` must be finite, but got {value!r}", "use a finite bound")
                ok = False
            elif kind == "int" and not float(value).is_integer():
                self._fail((*path, key), f"`{key}` of an int parameter must be an integer, but got {value!r}")
                ok = False
            else:
                bounds[key] = value
        log = raw.get("log", False)
        if not isinstance(log, bool):
            self._fail((*path, "log"), f"`log` must be true or false, but got {log!r}")
            ok = False
        step = raw.get("step")
        if step is not None:
            if not _is_number(step) or not math.isfinite(step) or step <= 0:
                self._fail((*path, "step"), f"`step > 0` must hold, but got step={step!r}", "use a positive step")
                ok = False
            elif kind == "int" and not float(step).is_integer():
                self._fail((*path, "step"), f"`step` of an int parameter must be an integer, but got {step!r}")
                ok = False
        if not ok:
            return None
        low, high = bounds["low"], bounds["high"]
        if low > high:
            self._fail(
                path, f"`low <= high` must hold, but got (low={low!r}, high={high!r})", "swap or correct the bounds"
            )
            return None
        if log and low <= 0:
            self._fail(
                (*path, "low"),
                f"`low > 0` must hold for log=true, but got low={low!r}",
                "use a positive lower bound or drop `log`",
            )
            return None
        if log and step is not None:
            self._fail(path, f"`step` cannot be used with log=true, but got step={step!r}", "drop `step` or `log`")
            return None
        if kind == "float":
            return FloatParam(
                low=float(low), high=float(high), log=log, step=None if step is None else float(step), **common
            )
        return IntParam(low=int(low), high=int(high), log=log, step=1 if step is None else int(step), **common)

    def _categorical(self, raw: dict[str, Any], path: KeyPath, common: dict[str, Any]) -> Param | None:
        choices = raw.get("choices")
        if not isinstance(choices, list) or not choices:
            self._fail(
                (*path, "choices"),
                f"`choices` must be a non-empty list, but got {choices!r}",
                "list at least one choice",
            )
            return None
        for i, choice in enumerate(choices):
            if not _is_scalar(choice) or (isinstance(choice, float) and not math.isfinite(choice)):
                self._fail(
                    (*path, "choices", i), f"a choice must be a string, number, bool or null, but got {choice!r}"
                )
                return None
        seen: list[Any] = []
        for choice in choices:
            if any(type(choice) is type(s) and choice == s for s in seen):
                self._fail(
                    (*path, "choices"),
                    f"choices must be distinct, but {choice!r} appears twice",
                    "remove the duplicate",
                )
                return None
            seen.append(choice)
        return CategoricalParam(choices=tuple(choices), **common)

    def _fixed(self, raw: dict[str, Any], path: KeyPath, common: dict[str, Any]) -> Param | None:
        if "value" not in raw:
            self._fail(path, "a fixed parameter needs `value`", "add `value:`")
            return None
        value = raw["value"]
        if not _is_scalar(value):
            self._fail((*path, "value"), f"a fixed value must be a string, number, bool or null, but got {value!r}")
            return None
        return FixedParam(value=value, **common)
