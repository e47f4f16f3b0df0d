"""A validated search space: declared parameters, per-layer expansion, conditions and sampling."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Iterator, Mapping
from typing import Any

import optuna

from hpo._errors import ConfigError, Problem
from hpo._text import did_you_mean
from hpo._yaml import KeyPath, YamlDocument
from hpo.space._params import (
    Condition,
    FixedParam,
    FloatParam,
    IntParam,
    Param,
)

Origin = tuple[YamlDocument, KeyPath]


class SearchSpace:
    """Parameters in sampling order (parents before children), with per-layer parameters expanded.

    ``declared`` keeps the parameters as written (for round trips and fingerprints);
    ``params`` holds what the sampler sees: ``units`` with ``per_layer: depth`` (depth up to 3)
    becomes ``units_0``, ``units_1``, ``units_2``, where ``units_i`` exists only when ``depth > i``.
    """

    def __init__(
        self,
        declared: list[Param],
        origins: Mapping[str, Origin] | None = None,
        narrowed: frozenset[str] = frozenset(),
    ) -> None:
        """``narrowed`` names parameters that a later file redefined over an included block:
        children whose conditions they can no longer satisfy are dropped instead of rejected.
        Raises ConfigError listing every problem, each at the file and key that caused it."""
        self.declared = list(declared)
        self._origins = dict(origins or {})
        build = _Construction(self.declared, self._origins)
        expanded = build.expand()
        build.check_acyclic(expanded)
        kept = build.reachable(expanded, narrowed)
        self.params: list[Param] = kept
        self._by_name: dict[str, Param] = {p.name: p for p in kept}
        self._kept_declared = {build.owner[p.name] for p in kept}

    def origin(self, name: str) -> Origin | None:
        """The document and key path that declared parameter ``name`` (None for spaces built in code)."""
        return self._origins.get(name)

    def __iter__(self) -> Iterator[Param]:
        return iter(self.params)

    def __len__(self) -> int:
        return len(self.params)

    def __getitem__(self, name: str) -> Param:
        return self._by_name[name]

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def is_active(self, param: Param, values: Mapping[str, Any]) -> bool:
        """Whether ``param`` exists given the values of the parameters sampled before it."""
        return all(cond.holds(dict(values)) for cond in param.when)

    def sample(self, trial: optuna.trial.BaseTrial) -> dict[str, Any]:
        """Define-by-run sampling: each active parameter suggested in order; fixed values included."""
        values: dict[str, Any] = {}
        for param in self.params:
            if self.is_active(param, values):
                values[param.name] = param.suggest(trial)
        return values

    def distributions(self) -> dict[str, optuna.distributions.BaseDistribution]:
        """The Optuna distribution of every tunable (non-fixed) parameter."""
        out: dict[str, optuna.distributions.BaseDistribution] = {}
        for param in self.params:
            dist = param.distribution()
            if dist is not None:
                out[param.name] = dist
        return out

    def check(self, values: Mapping[str, Any], partial: bool = False) -> list[str]:
        """Why ``values`` is not a configuration of this space (empty when it is).

        With ``partial`` (warm-start configurations) missing parameters are allowed.
        """
        reasons = [f"unknown parameter {k!r}{did_you_mean(k, self._by_name)}" for k in values if k not in self._by_name]
        for param in self.params:
            active = self.is_active(param, values)
            if param.name in values:
                if not active:
                    reasons.append(f"{param.name!r} is set but its condition does not hold ({_describe_when(param)})")
                elif not param.contains(values[param.name]):
                    reasons.append(f"{param.name}={values[param.name]!r} is outside {param.describe()}")
            elif active and not partial:
                reasons.append(f"{param.name!r} is missing although its condition holds")
        return reasons

    def configuration(self, sampled: Mapping[str, Any]) -> dict[str, Any]:
        """A trial's whole configuration: its sampled parameters plus the space's fixed values."""
        return self.sample(optuna.trial.FixedTrial(dict(sampled)))

    def check_warm_start(self, values: Mapping[str, Any]) -> list[str]:
        """Why ``values`` cannot be enqueued as a warm start (a partial configuration; fixed
        parameters cannot be set)."""
        reasons = self.check(values, partial=True)
        reasons += [
            f"{k!r} is fixed in the space and cannot be enqueued"
            for k in values
            if k in self and self[k].kind == "fixed"
        ]
        return reasons

    def to_dict(self) -> dict[str, Any]:
        """The effective parameters as a ``params`` mapping that parses back to an equal space.

        Unreachable parameters are left out and condition values narrowed to those that can occur.
        """
        out = {}
        for param in self.declared:
            if param.name not in self._kept_declared:
                continue
            when = tuple(
                dataclasses.replace(c, values=tuple(v for v in c.values or () if self[c.parent].contains(v)))
                for c in param.when
            )
            out[param.name] = dataclasses.replace(param, when=when).to_spec()
        return out

    def fingerprint(self) -> str:
        """A stable hash of the declared space; a study refuses to continue under a different one."""
        text = json.dumps(self.to_dict(), sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def describe_rows(self) -> list[dict[str, str]]:
        """One row per expanded parameter for tables: name, kind, domain, condition."""
        return [
            {"name": p.name, "kind": p.kind, "domain": p.describe(), "condition": _describe_when(p)}
            for p in self.params
        ]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SearchSpace) and self.to_dict() == other.to_dict()

    def __repr__(self) -> str:
        return f"SearchSpace({len(self.params)} parameters)"


def _check_condition(params: Mapping[str, Param], cond: Condition, narrowed: bool, fail: Any) -> bool:
    """Record problems with ``cond``; return whether the child can still exist."""
    parent = params.get(cond.parent)
    key = ("when", cond.parent)
    if parent is None:
        fail(
            key,
            f"condition on unknown parameter {cond.parent!r}{did_you_mean(cond.parent, params)}",
            "name a declared parameter",
        )
        return False
    if isinstance(parent, FloatParam):
        fail(
            key,
            f"conditions on a float parameter are not supported, but {cond.parent!r} is float",
            "condition on a categorical or int parameter",
        )
        return False
    impossible = [v for v in cond.values or () if not parent.contains(v)]
    if narrowed:
        return len(impossible) < len(cond.values or ())
    for value in impossible:
        fail(
            key,
            f"condition value {value!r} can never occur: {cond.parent!r} takes {parent.describe()}",
            "use a value the parent can take",
        )
    return not impossible


def _describe_when(param: Param) -> str:
    return " and ".join(c.describe() for c in param.when) or "always"


class _Construction:
    """The checks that build a SearchSpace, collecting every problem before raising them together."""

    def __init__(self, declared: list[Param], origins: Mapping[str, Origin]) -> None:
        self.declared = declared
        self.origins = origins
        self.problems: list[Problem] = []
        self.owner: dict[str, str] = {}  # expanded name -> declared name, for error locations

    def fail(self, name: str, key: KeyPath, message: str, fix: str = "") -> None:
        if name in self.origins:
            doc, path = self.origins[name]
            self.problems.append(doc.problem((*path, *key), message, fix))
        else:
            self.problems.append(Problem("<space>", ".".join(["params", name, *map(str, key)]), message, fix))

    def raise_any(self) -> None:
        if self.problems:
            raise ConfigError(self.problems)

    def expand(self) -> list[Param]:
        """Every parameter with its per-layer ones expanded (``units`` -> ``units_0`` ...)."""
        names = [p.name for p in self.declared]
        duplicates = {n for n in names if names.count(n) > 1}
        for name in sorted(duplicates):
            self.fail(name, (), f"parameter {name!r} is declared more than once", "keep one declaration")
        by_name = {p.name: p for p in self.declared}
        expanded: list[Param] = []
        for param in self.declared:
            layers = self._layers(param, by_name)
            if layers is None:
                expanded.append(param)
                self.owner[param.name] = param.name
                continue
            parent, n_layers = layers
            for i in range(max(n_layers, 0)):
                self.owner[f"{param.name}_{i}"] = param.name
                when = (*param.when, Condition(parent=parent, above=i))
                expanded.append(dataclasses.replace(param, name=f"{param.name}_{i}", per_layer=None, when=when))
        ex_names = [p.name for p in expanded]
        for name in sorted({n for n in ex_names if ex_names.count(n) > 1} - duplicates):
            self.fail(name, (), f"parameter {name!r} clashes with a per-layer parameter of the same name", "rename it")
        self.raise_any()
        return expanded

    def _layers(self, param: Param, by_name: Mapping[str, Param]) -> tuple[str, int] | None:
        """For a per-layer parameter, its depth parameter's name and largest value (0 when that is
        not usable, a problem noted); None for an ordinary parameter."""
        if param.per_layer is None:
            return None
        parent = by_name.get(param.per_layer)
        if parent is None:
            self.fail(
                param.name,
                ("per_layer",),
                f"`per_layer` names unknown parameter {param.per_layer!r}{did_you_mean(param.per_layer, by_name)}",
                "name an int parameter such as the depth",
            )
            return param.per_layer, 0
        if isinstance(parent, IntParam):
            return parent.name, parent.max_value
        if isinstance(parent, FixedParam) and isinstance(parent.value, int) and not isinstance(parent.value, bool):
            return parent.name, parent.value
        self.fail(
            param.name,
            ("per_layer",),
            f"`per_layer` needs an int parameter, but {parent.name!r} is {parent.kind}",
            "name an int parameter",
        )
        return parent.name, 0

    def check_acyclic(self, expanded: list[Param]) -> None:
        cycle = _find_cycle(expanded)
        if cycle:
            self.fail(
                self.owner[cycle[0]],
                ("when",),
                "conditions form a cycle: " + " -> ".join(cycle),
                "remove one of the conditions",
            )
            self.raise_any()

    def reachable(self, expanded: list[Param], narrowed: frozenset[str]) -> list[Param]:
        """The parameters in sampling order whose conditions can hold; a condition on a value its
        parent can never take is a problem, unless a later file narrowed that parent (then the child
        is dropped, and its own children with it)."""
        all_params = {p.name: p for p in expanded}
        kept: list[Param] = []
        dropped: set[str] = set()
        for param in _topological(expanded):
            reachable = True
            for cond in param.when:
                if cond.parent in dropped:
                    reachable = False
                elif cond.above is None:
                    owner = self.owner[param.name]

                    def report(key: KeyPath, message: str, fix: str = "", owner: str = owner) -> None:
                        self.fail(owner, key, message, fix)

                    reachable &= _check_condition(all_params, cond, cond.parent in narrowed, report)
            if reachable:
                kept.append(param)
            else:
                dropped.add(param.name)
        self.raise_any()
        return kept


def _find_cycle(params: list[Param]) -> list[str] | None:
    graph = {p.name: [c.parent for c in p.when] for p in params}
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for parent in graph.get(node, []):
            if state.get(parent) == 1:
                return [*stack[stack.index(parent) :], parent]
            if parent in graph and parent not in state:
                found = visit(parent)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for name in graph:
        if name not in state:
            found = visit(name)
            if found:
                return found
    return None


def _topological(params: list[Param]) -> list[Param]:
    """Parents before children, otherwise declaration order."""
    placed: set[str] = set()
    order: list[Param] = []
    pending = list(params)
    known = {p.name for p in params}
    while pending:
        for i, param in enumerate(pending):
            if all(c.parent in placed or c.parent not in known for c in param.when):
                order.append(pending.pop(i))
                placed.add(param.name)
                break
    return order
