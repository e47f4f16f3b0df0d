"""The search-space parser and SearchSpace: tables of specs, round trips, conditions, per-layer."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest
import yaml

from hpo import ConfigError, parse_space
from hpo.config import load_sweep
from hpo.space import (
    CategoricalParam,
    FixedParam,
    FloatParam,
    IntParam,
    load_space_block,
)
from tests.conftest import REPO

# (id, params mapping, expected parameter)
GOOD = [
    ("float", {"lr": {"type": "float", "low": 1e-4, "high": 0.1, "log": True}}, FloatParam(name="lr", low=1e-4, high=0.1, log=True)),
    ("float_step", {"d": {"type": "float", "low": 0.0, "high": 0.5, "step": 0.1}}, FloatParam(name="d", low=0.0, high=0.5, step=0.1)),
    ("int", {"n": {"type": "int", "low": 1, "high": 8}}, IntParam(name="n", low=1, high=8)),
    ("int_log", {"n": {"type": "int", "low": 8, "high": 512, "log": True}}, IntParam(name="n", low=8, high=512, log=True)),
    ("int_step", {"n": {"type": "int", "low": 16, "high": 64, "step": 16}}, IntParam(name="n", low=16, high=64, step=16)),
    ("int_equal_bounds", {"n": {"type": "int", "low": 3, "high": 3}}, IntParam(name="n", low=3, high=3)),
    ("categorical_mixed", {"c": {"type": "categorical", "choices": ["a", 1, 2.5, True, None]}}, CategoricalParam(name="c", choices=("a", 1, 2.5, True, None))),
    ("fixed", {"f": {"type": "fixed", "value": 10}}, FixedParam(name="f", value=10)),
    ("fixed_shorthand", {"f": "adam"}, FixedParam(name="f", value="adam")),
]


@pytest.mark.parametrize(("params", "expected"), [(p, e) for _, p, e in GOOD], ids=[i for i, _, _ in GOOD])
def test_parses(params, expected) -> None:
    space = parse_space(params)
    assert space.params == [expected]


# (id, params mapping, regex the error must match)
BAD = [
    ("low_gt_high", {"x": {"type": "float", "low": 2, "high": 1}}, r"params\.x: `low <= high` must hold, but got \(low=2, high=1\)"),
    ("log_zero", {"x": {"type": "float", "low": 0, "high": 1, "log": True}}, r"params\.x\.low: `low > 0` must hold for log=true, but got low=0"),
    ("step_zero", {"x": {"type": "float", "low": 0, "high": 1, "step": 0}}, r"`step > 0` must hold, but got step=0"),
    ("log_and_step", {"x": {"type": "int", "low": 1, "high": 9, "log": True, "step": 2}}, r"`step` cannot be used with log=true"),
    ("int_float_bound", {"x": {"type": "int", "low": 1.5, "high": 9}}, r"`low` of an int parameter must be an integer, but got 1.5"),
    ("bool_bound", {"x": {"type": "int", "low": True, "high": 9}}, r"`low` must be a number, but got True"),
    ("missing_high", {"x": {"type": "int", "low": 1}}, r"params\.x\.high: a int parameter needs `high`"),
    ("no_type", {"x": {"low": 1, "high": 2}}, r"every parameter needs `type`"),
    ("bad_name", {"1x": 3}, r"parameter names must be identifiers, but got '1x'"),
    ("duplicate_choice", {"c": {"type": "categorical", "choices": ["a", "a"]}}, r"choices must be distinct, but 'a' appears twice"),
    ("nested_choice", {"c": {"type": "categorical", "choices": [[1, 2]]}}, r"a choice must be a string, number, bool or null"),
    ("fixed_no_value", {"f": {"type": "fixed"}}, r"a fixed parameter needs `value`"),
    ("when_not_mapping", {"a": {"type": "int", "low": 1, "high": 2, "when": "b"}}, r"`when` maps parent parameters to values"),
    ("condition_on_float", {"f": {"type": "float", "low": 0, "high": 1}, "g": {"type": "int", "low": 1, "high": 2, "when": {"f": 0.5}}}, r"conditions on a float parameter are not supported"),
    ("self_cycle", {"a": {"type": "categorical", "choices": [1, 2], "when": {"a": 1}}}, r"conditions form a cycle: a -> a"),
    ("three_cycle", {
        "a": {"type": "categorical", "choices": [1], "when": {"c": 1}},
        "b": {"type": "categorical", "choices": [1], "when": {"a": 1}},
        "c": {"type": "categorical", "choices": [1], "when": {"b": 1}},
    }, r"conditions form a cycle"),
    ("int_condition_off_grid", {"d": {"type": "int", "low": 0, "high": 8, "step": 4}, "x": {"type": "int", "low": 1, "high": 2, "when": {"d": 3}}}, r"condition value 3 can never occur: 'd' takes \[0, 8\] step 4"),
    ("per_layer_clash", {"depth": {"type": "int", "low": 1, "high": 2}, "u": {"type": "int", "low": 1, "high": 2, "per_layer": "depth"}, "u_0": 3}, r"clashes with a per-layer parameter"),
]


@pytest.mark.parametrize(("params", "pattern"), [(p, e) for _, p, e in BAD], ids=[i for i, _, _ in BAD])
def test_rejects(params, pattern) -> None:
    with pytest.raises(ConfigError, match=pattern):
        parse_space(params)


def test_config_error_is_value_error() -> None:
    with pytest.raises(ValueError):
        parse_space({"x": {"type": "float", "low": 2, "high": 1}})


def test_per_layer_expansion_and_conditions() -> None:
    space = parse_space({
        "depth": {"type": "int", "low": 1, "high": 3},
        "units": {"type": "int", "low": 8, "high": 64, "per_layer": "depth"},
    })
    assert [p.name for p in space] == ["depth", "units_0", "units_1", "units_2"]
    assert space.check({"depth": 2, "units_0": 8, "units_1": 9}) == []
    assert space.check({"depth": 2, "units_0": 8}) == ["'units_1' is missing although its condition holds"]
    assert "condition does not hold" in space.check({"depth": 1, "units_0": 8, "units_1": 9})[0]


def test_parents_sampled_before_children_whatever_the_order() -> None:
    space = parse_space({
        "momentum": {"type": "float", "low": 0, "high": 1, "when": {"optimizer": "sgd"}},
        "optimizer": {"type": "categorical", "choices": ["sgd", "adam"]},
    })
    assert [p.name for p in space] == ["optimizer", "momentum"]


ROUND_TRIP = [
    {"lr": {"type": "float", "low": 1e-4, "high": 1e-1, "log": True}},
    {
        "optimizer": {"type": "categorical", "choices": ["sgd", "adam"]},
        "momentum": {"type": "float", "low": 0.0, "high": 0.9, "step": 0.1, "when": {"optimizer": ["sgd"]}},
        "depth": {"type": "int", "low": 1, "high": 4},
        "units": {"type": "int", "low": 8, "high": 256, "log": True, "per_layer": "depth"},
        "epochs": {"type": "fixed", "value": 5},
    },
]


@pytest.mark.parametrize("params", ROUND_TRIP, ids=["single", "conditional"])
def test_yaml_round_trip(params) -> None:
    space = parse_space(params)
    text = yaml.safe_dump(space.to_dict())
    again = parse_space(yaml.safe_load(text))
    assert again == space
    assert again.fingerprint() == space.fingerprint()
    assert again.to_dict() == params


def test_fingerprint_changes_with_the_space() -> None:
    a = parse_space({"x": {"type": "int", "low": 1, "high": 4}})
    b = parse_space({"x": {"type": "int", "low": 1, "high": 5}})
    assert a.fingerprint() != b.fingerprint()


def test_override_narrowing_drops_unreachable_children(write_file) -> None:
    write_file("opt.yaml", """
        params:
          optimizer: {type: categorical, choices: [sgd, adam]}
          momentum: {type: float, low: 0.0, high: 0.9, when: {optimizer: sgd}}
          weight_decay: {type: float, low: 0.0, high: 0.01, when: {optimizer: [sgd, adam]}}
    """)
    sweep = write_file("s.yaml", """
        name: s
        space:
          include: [opt.yaml]
          params:
            optimizer: adam
    """)
    space = load_sweep(sweep).space
    assert [p.name for p in space] == ["optimizer", "weight_decay"]
    assert space.to_dict()["weight_decay"]["when"] == {"optimizer": ["adam"]}


def test_partial_override_merges_keys(write_file) -> None:
    write_file("b.yaml", "params:\n  learning_rate: {type: float, low: 0.0001, high: 0.1, log: true}\n")
    sweep = write_file("s.yaml", "name: s\nspace:\n  include: [b.yaml]\n  params:\n    learning_rate: {high: 0.01}\n")
    assert load_sweep(sweep).space["learning_rate"] == FloatParam(name="learning_rate", low=0.0001, high=0.01, log=True)


def test_null_override_removes(write_file) -> None:
    write_file("b.yaml", "params:\n  dropout: 0.1\n  epochs: 2\n")
    sweep = write_file("s.yaml", "name: s\nspace:\n  include: [b.yaml]\n  params:\n    epochs: null\n")
    assert [p.name for p in load_sweep(sweep).space] == ["dropout"]


def test_include_cycle(write_file) -> None:
    write_file("a.yaml", "include: [b.yaml]\nparams: {x: 1}\n")
    write_file("b.yaml", "include: [a.yaml]\nparams: {y: 1}\n")
    sweep = write_file("s.yaml", "name: s\nspace: {include: [a.yaml]}\n")
    with pytest.raises(ConfigError, match="includes form a cycle"):
        load_sweep(sweep)


SWEEPS = sorted((REPO / "sweeps").glob("*.yaml"))
BLOCKS = sorted((REPO / "search_spaces").glob("*.yaml"))


@pytest.mark.parametrize("path", SWEEPS, ids=[p.name for p in SWEEPS])
def test_shipped_sweeps_validate(path: Path, monkeypatch) -> None:
    monkeypatch.chdir(REPO)
    sweep = load_sweep(path)
    assert len(sweep.space.distributions()) > 5
    assert sweep.name == path.stem


@pytest.mark.parametrize("path", BLOCKS, ids=[p.name for p in BLOCKS])
def test_shipped_blocks_validate(path: Path) -> None:
    assert len(load_space_block(path)) >= 1


def test_sampled_enqueue_config_passes_check() -> None:
    sweep = load_sweep(REPO / "sweeps" / "digits_cnn.yaml")
    study = optuna.create_study()
    study.enqueue_trial(sweep.config.enqueue[0])
    trial = study.ask()
    values = sweep.space.sample(trial)
    assert sweep.space.check(values) == []
    assert values["filters_1"] == 64


BOOL_INT_CASES = [
    # (a parameter's value, a condition value or choice, whether they are the same)
    (True, 1, False),
    (1, True, False),
    (False, 0, False),
    (0, False, False),
    (True, True, True),
    (1, 1.0, True),
    (2, 2, True),
]


@pytest.mark.parametrize(("value", "other", "same"), BOOL_INT_CASES, ids=lambda v: repr(v))
def test_a_bool_is_never_the_number_it_equals_in_python(value, other, same: bool) -> None:
    """``True == 1`` in Python, but a space that says ``when: {flag: [true]}`` or ``choices: [0, 1]``
    means the bool or the number, not both: conditions, choices and fixed values keep them apart."""
    from hpo.space._params import CategoricalParam, Condition, FixedParam

    assert Condition("p", values=(other,)).holds({"p": value}) is same
    assert CategoricalParam(name="c", choices=(other, "x")).contains(value) is same
    assert FixedParam(name="f", value=other).contains(value) is same
