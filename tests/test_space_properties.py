"""Property tests: whatever Optuna's samplers propose stays inside the declared space."""

from __future__ import annotations

import warnings
from typing import Any

import optuna
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hpo import parse_space
from hpo.space import SearchSpace

SAMPLERS = {
    "tpe": lambda seed: optuna.samplers.TPESampler(seed=seed, n_startup_trials=4),
    "random": lambda seed: optuna.samplers.RandomSampler(seed=seed),
    "qmc": lambda seed: optuna.samplers.QMCSampler(seed=seed),
    "cmaes": lambda seed: optuna.samplers.CmaEsSampler(seed=seed, n_startup_trials=3),
}


@st.composite
def spaces(draw: st.DrawFn) -> dict[str, Any]:
    """Random spaces mixing every kind, conditions on categoricals and a per-layer block."""
    params: dict[str, Any] = {}
    categoricals: list[tuple[str, list[str]]] = []

    def maybe_when(spec: dict[str, Any]) -> dict[str, Any]:
        if categoricals and draw(st.booleans()):
            parent, choices = draw(st.sampled_from(categoricals))
            spec["when"] = {parent: draw(st.lists(st.sampled_from(choices), min_size=1, unique=True))}
        return spec

    for i in range(draw(st.integers(1, 3))):
        choices = draw(st.lists(st.sampled_from(["a", "b", "c", "d"]), min_size=1, max_size=4, unique=True))
        params[f"c{i}"] = maybe_when({"type": "categorical", "choices": choices})
        categoricals.append((f"c{i}", choices))
    for i in range(draw(st.integers(0, 3))):
        low = draw(st.floats(1e-3, 10.0))
        high = low + draw(st.floats(0.0, 100.0))
        spec: dict[str, Any] = {"type": "float", "low": low, "high": high}
        if draw(st.booleans()):
            spec["log"] = True
        elif draw(st.booleans()):
            spec["step"] = draw(st.sampled_from([0.5, 1.0, 2.5]))
        params[f"f{i}"] = maybe_when(spec)
    for i in range(draw(st.integers(0, 2))):
        low = draw(st.integers(-5, 5))
        spec = {"type": "int", "low": low, "high": low + draw(st.integers(0, 20)), "step": draw(st.integers(1, 3))}
        params[f"i{i}"] = maybe_when(spec)
    depth_low = draw(st.integers(0, 2))
    params["depth"] = maybe_when({"type": "int", "low": depth_low, "high": depth_low + draw(st.integers(0, 3))})
    params["units"] = {"type": "int", "low": 4, "high": 64, "log": True, "per_layer": "depth"}
    return params


def _objective(values: dict[str, Any]) -> float:
    return float(sum(v for v in values.values() if isinstance(v, (int, float)) and not isinstance(v, bool)))


def _sample(space: SearchSpace, sampler_name: str, seed: int, n: int = 10) -> list[dict[str, Any]]:
    study = optuna.create_study(sampler=SAMPLERS[sampler_name](seed))
    configs = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # CMA-ES/QMC warn when they fall back to independent sampling
        for _ in range(n):
            trial = study.ask()
            values = space.sample(trial)
            study.tell(trial, _objective(values))
            configs.append(values)
    return configs


@pytest.fixture(autouse=True)
def _quiet_optuna():
    optuna.logging.set_verbosity(optuna.logging.ERROR)


@pytest.mark.parametrize("sampler_name", list(SAMPLERS))
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(params=spaces(), seed=st.integers(0, 2**16))
def test_samples_lie_inside_the_space(sampler_name: str, params: dict[str, Any], seed: int) -> None:
    space = parse_space(params)
    for values in _sample(space, sampler_name, seed):
        # check() covers: each value in its domain, a conditional parameter present exactly when
        # its condition holds, and nothing undeclared.
        assert space.check(values) == [], values
        for param in space:
            assert (param.name in values) == space.is_active(param, values)
        if "depth" in values:
            layers = sorted(k for k in values if k.startswith("units_"))
            assert layers == [f"units_{i}" for i in range(values["depth"])]
        else:
            assert not any(k.startswith("units_") for k in values)


def test_conditional_parameters_appear_in_both_states() -> None:
    """A sanity check that the property above is not vacuous for a conditional parameter."""
    space = parse_space({
        "optimizer": {"type": "categorical", "choices": ["sgd", "adam"]},
        "momentum": {"type": "float", "low": 0.0, "high": 0.9, "when": {"optimizer": "sgd"}},
    })
    configs = _sample(space, "random", 0, n=30)
    with_momentum = [c for c in configs if "momentum" in c]
    assert with_momentum and len(with_momentum) < len(configs)
    assert all(c["optimizer"] == "sgd" for c in with_momentum)
