"""`hpo space`: the flattened table and sampled configurations, through the real CLI."""

from __future__ import annotations

import json

from hpo.config import load_sweep
from tests.conftest import REPO, run_hpo

SWEEP = str(REPO / "sweeps" / "digits_cnn.yaml")


def test_space_table_lists_every_expanded_parameter() -> None:
    result = run_hpo("space", SWEEP)
    assert result.returncode == 0, result.stderr
    for name in ("filters_1", "momentum", "optimizer == 'sgd'", "conv_blocks > 1", "[0.0001, 0.1] log"):
        assert name in result.stdout


def test_space_json_rows_match_the_space() -> None:
    result = run_hpo("space", SWEEP, "--format", "json")
    rows = json.loads(result.stdout)
    assert [r["name"] for r in rows] == [p.name for p in load_sweep(SWEEP).space]


def test_space_sample_is_seeded_and_inside_the_space() -> None:
    first = run_hpo("space", SWEEP, "--sample", "5", "--seed", "3", "--format", "json")
    second = run_hpo("space", SWEEP, "--sample", "5", "--seed", "3", "--format", "json")
    other = run_hpo("space", SWEEP, "--sample", "5", "--seed", "4", "--format", "json")
    configs = json.loads(first.stdout)
    assert len(configs) == 5
    assert configs == json.loads(second.stdout)
    assert configs != json.loads(other.stdout)
    space = load_sweep(SWEEP).space
    assert all(space.check(c) == [] for c in configs)


def test_space_sample_table() -> None:
    result = run_hpo("space", SWEEP, "--sample", "2")
    assert result.returncode == 0
    assert "#0" in result.stdout and "#1" in result.stdout and "learning_rate" in result.stdout


def test_space_negative_sample_is_a_usage_error() -> None:
    result = run_hpo("space", SWEEP, "--sample", "-1")
    assert result.returncode == 2
    assert "--sample must be >= 0" in result.stderr
