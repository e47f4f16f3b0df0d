"""Bad sweep files: `hpo validate` exits 2 and names the file, the key path and the rule."""

from __future__ import annotations

import pytest

from tests.conftest import MINIMAL_SWEEP, REPO, run_hpo

# (id, sweep text, substrings the error must contain)
BAD_SWEEPS = [
    (
        "low_gt_high",
        "space: {params: {lr: {type: float, low: 0.1, high: 0.01}}}",
        ["space.params.lr", "`low <= high` must hold", "low=0.1, high=0.01"],
    ),
    (
        "int_low_gt_high",
        "space: {params: {depth: {type: int, low: 5, high: 2}}}",
        ["space.params.depth", "`low <= high` must hold"],
    ),
    (
        "log_nonpositive_low",
        "space: {params: {lr: {type: float, low: 0.0, high: 0.1, log: true}}}",
        ["space.params.lr.low", "`low > 0` must hold for log=true", "low=0.0"],
    ),
    (
        "step_zero",
        "space: {params: {u: {type: int, low: 1, high: 9, step: 0}}}",
        ["space.params.u.step", "`step > 0` must hold", "step=0"],
    ),
    (
        "step_negative_float",
        "space: {params: {u: {type: float, low: 0.0, high: 1.0, step: -0.1}}}",
        ["space.params.u.step", "`step > 0` must hold"],
    ),
    (
        "log_with_step",
        "space: {params: {u: {type: int, low: 1, high: 64, log: true, step: 2}}}",
        ["space.params.u", "`step` cannot be used with log=true"],
    ),
    (
        "empty_choices",
        "space: {params: {opt: {type: categorical, choices: []}}}",
        ["space.params.opt.choices", "non-empty list"],
    ),
    (
        "nan_bound",
        "space: {params: {lr: {type: float, low: .nan, high: 0.1}}}",
        ["space.params.lr.low", "must be finite"],
    ),
    (
        "inf_bound",
        "space: {params: {lr: {type: float, low: 0.0, high: .inf}}}",
        ["space.params.lr.high", "must be finite"],
    ),
    (
        "unknown_kind",
        "space: {params: {lr: {type: floatt, low: 0.0, high: 1.0}}}",
        ["space.params.lr.type", "unknown distribution kind 'floatt'", "did you mean 'float'"],
    ),
    (
        "unknown_param_key",
        "space: {params: {lr: {type: float, lo: 0.0, high: 1.0}}}",
        ["space.params.lr.lo", "unknown key 'lo'", "did you mean 'low'"],
    ),
    (
        "unknown_top_key",
        "budgett: {trials: 3}\nspace: {params: {a: {type: int, low: 1, high: 2}}}",
        ["budgett", "unknown key 'budgett'", "did you mean 'budget'"],
    ),
    (
        "unknown_nested_key",
        "budget: {trails: 3}\nspace: {params: {a: {type: int, low: 1, high: 2}}}",
        ["budget.trails", "did you mean 'trials'"],
    ),
    (
        "condition_unknown_parent",
        "space: {params: {m: {type: float, low: 0, high: 1, when: {optimiser: sgd}}, optimizer: {type: categorical, choices: [sgd]}}}",
        ["space.params.m.when.optimiser", "condition on unknown parameter 'optimiser'", "did you mean 'optimizer'"],
    ),
    (
        "condition_impossible_value",
        "space: {params: {optimizer: {type: categorical, choices: [sgd, adam]}, m: {type: float, low: 0, high: 1, when: {optimizer: sdg}}}}",
        ["space.params.m.when.optimizer", "condition value 'sdg' can never occur"],
    ),
    (
        "condition_cycle",
        "space: {params: {a: {type: categorical, choices: [x, y], when: {b: x}}, b: {type: categorical, choices: [x, y], when: {a: x}}}}",
        ["conditions form a cycle", "a -> b -> a"],
    ),
    (
        "missing_include",
        "space: {include: [nope/missing.yaml], params: {}}",
        ["space.include[0]", "included file does not exist", "nope/missing.yaml"],
    ),
    (
        "yaml_syntax",
        "space:\n  params:\n    lr: {type: float, low: 0.1, high: [\n",
        ["YAML syntax error", "sweep.yaml:"],
    ),
    (
        "per_layer_unknown_parent",
        "space: {params: {units: {type: int, low: 8, high: 32, per_layer: dept}, depth: {type: int, low: 1, high: 3}}}",
        ["space.params.units.per_layer", "unknown parameter 'dept'", "did you mean 'depth'"],
    ),
    (
        "per_layer_non_int_parent",
        "space: {params: {units: {type: int, low: 8, high: 32, per_layer: opt}, opt: {type: categorical, choices: [a]}}}",
        ["space.params.units.per_layer", "needs an int parameter"],
    ),
    (
        "bad_sampler_name",
        "sampler: {name: tpee}\nspace: {params: {a: {type: int, low: 1, high: 2}}}",
        ["sampler.name", "tpee", "did you mean 'tpe'"],
    ),
    (
        "bad_sampler_arg",
        "sampler: {name: tpe, args: {n_startup: 3}}\nspace: {params: {a: {type: int, low: 1, high: 2}}}",
        ["sampler.args", "n_startup", "did you mean 'n_startup_trials'"],
    ),
    (
        "bad_metric",
        "objective: {metric: val_acuracy}\nspace: {params: {a: {type: int, low: 1, high: 2}}}",
        ["objective.metric", "val_acuracy", "did you mean 'val_accuracy'"],
    ),
    (
        "sqlite_parallel",
        "storage: sqlite:///x.db\nresources: {concurrency: 4}\nspace: {params: {a: {type: int, low: 1, high: 2}}}",
        ["storage", "SQLite is not safe", "concurrency: 1"],
    ),
    (
        "duplicate_key",
        "space:\n  params:\n    a: {type: int, low: 1, high: 2}\n    a: {type: int, low: 1, high: 3}\n",
        ["space.params.a", "duplicate key"],
    ),
    (
        "enqueue_out_of_range",
        "space: {params: {a: {type: int, low: 1, high: 2}}}\nenqueue: [{a: 7}]",
        ["enqueue[0]", "a=7 is outside [1, 2]"],
    ),
    (
        "grid_needs_step",
        "sampler: {name: grid}\nspace: {params: {lr: {type: float, low: 0.1, high: 0.2}}}",
        ["sampler.args", "float parameter 'lr' has no `step`"],
    ),
    (
        "fractional_gpus_above_one",
        "space: {params: {a: {type: int, low: 1, high: 2}}}\nresources: {gpus_per_trial: 1.5}",
        ["resources.gpus_per_trial", "whole number", "1.5"],
    ),
    (
        "password_masked",
        "storage: ftp://bob:hunter2@db/x\nspace: {params: {a: {type: int, low: 1, high: 2}}}",
        ["storage", "scheme must be one of", "ftp://bob:***@db/x"],
    ),
    (
        "no_end",
        "budget: {trials: null}\nspace: {params: {a: {type: int, low: 1, high: 2}}}",
        ["budget", "a sweep needs an end"],
    ),
    (
        "narrowed_parent_typo_in_same_file",
        "space: {params: {opt: {type: categorical, choices: [a, b]}, x: {type: int, low: 1, high: 2, when: {opt: [a, c]}}}}",
        ["space.params.x.when.opt", "condition value 'c' can never occur"],
    ),
    (
        "checkpoint_every_zero",
        "checkpoint: {every_epochs: 0}\nspace: {params: {a: {type: int, low: 1, high: 2}}}",
        ["checkpoint.every_epochs", "greater than or equal to 1", "0"],
    ),
    (
        "shared_workers_need_a_trial_function",
        "resources: {trials_per_worker: 4}\nspace: {params: {learning_rate: {type: float, low: 0.001, high: 0.1}}}",
        ["resources.trials_per_worker", "only trial functions", "trials_per_worker: 4", "trials_per_worker: 1"],
    ),
    (
        "shared_workers_hold_no_gpu_share",
        "objective: {metric: val_accuracy, function: 'tests.cheap:objective'}\n"
        "resources: {trials_per_worker: 2, gpus_per_trial: 0.5}\nspace: {params: {a: {type: int, low: 1, high: 2}}}",
        ["resources.trials_per_worker", "GPU share belongs to a worker process", "gpus_per_trial: 0.5", "gpus_per_trial: 0"],
    ),
    (
        "shared_workers_zero",
        "resources: {trials_per_worker: 0}\nspace: {params: {a: {type: int, low: 1, high: 2}}}",
        ["resources.trials_per_worker", "greater than or equal to 1"],
    ),
    (
        "checkpoint_with_promotion",
        "checkpoint: {every_minutes: 10}\npruner: {name: asha}\nspace: {params: {a: {type: int, low: 1, high: 2}}}",
        ["checkpoint", "checkpoints trials at its rungs", "every 10.0 minutes", "remove the checkpoint section"],
    ),
]


@pytest.mark.parametrize(("text", "expected"), [(t, e) for _, t, e in BAD_SWEEPS], ids=[i for i, _, _ in BAD_SWEEPS])
def test_bad_sweep_exits_2_with_located_message(tmp_path, text: str, expected: list[str]) -> None:
    path = tmp_path / "sweep.yaml"
    path.write_text("name: t\n" + text)
    result = run_hpo("validate", str(path), cwd=tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    assert str(path) in result.stderr
    for part in expected:
        assert part in result.stderr, f"{part!r} not in:\n{result.stderr}"
    assert "hunter2" not in result.stderr + result.stdout
    assert "Traceback" not in result.stderr


def test_error_names_the_line(tmp_path) -> None:
    path = tmp_path / "sweep.yaml"
    path.write_text("name: t\nspace:\n  params:\n    ok: {type: int, low: 1, high: 2}\n    lr: {type: float, low: 1.0, high: 0.5}\n")
    result = run_hpo("validate", str(path), cwd=tmp_path)
    assert result.returncode == 2
    assert f"{path}:5: space.params.lr:" in result.stderr


def test_include_error_names_the_block_file(tmp_path, write_file) -> None:
    write_file("blocks/opt.yaml", "params:\n  lr: {type: float, low: 0.0, high: 0.1, log: true}\n")
    sweep = write_file("sweeps/s.yaml", "name: s\nspace: {include: [../blocks/opt.yaml]}\n")
    result = run_hpo("validate", str(sweep), cwd=tmp_path)
    assert result.returncode == 2
    assert "opt.yaml:2: params.lr.low: `low > 0` must hold for log=true" in result.stderr


def test_all_problems_reported_at_once(tmp_path) -> None:
    path = tmp_path / "sweep.yaml"
    path.write_text("name: t\nspace: {params: {a: {type: int, low: 3, high: 1}, b: {type: categorical, choices: []}}}\n")
    result = run_hpo("validate", str(path), cwd=tmp_path)
    assert result.returncode == 2
    assert "2 problems" in result.stderr


def test_valid_sweep_exits_0(tmp_path) -> None:
    path = tmp_path / "sweep.yaml"
    path.write_text(MINIMAL_SWEEP)
    result = run_hpo("validate", str(path), "--format", "json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert '"valid": true' in result.stdout


def test_missing_sweep_file_exits_2(tmp_path) -> None:
    result = run_hpo("validate", str(tmp_path / "nope.yaml"), cwd=tmp_path)
    assert result.returncode == 2
    assert "nope.yaml" in result.stderr and "does not exist" in result.stderr


def test_validate_does_not_import_tensorflow_or_ray(tmp_path) -> None:
    path = tmp_path / "sweep.yaml"
    path.write_text(MINIMAL_SWEEP)
    code = (
        "import sys, runpy; sys.argv=['hpo','validate',%r]\n"
        "try:\n    runpy.run_module('hpo', run_name='__main__')\nexcept SystemExit as exc: code = exc.code\n"
        "print('LOADED', code, 'tensorflow' in sys.modules, 'ray' in sys.modules, 'keras' in sys.modules)" % str(path)
    )
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert "LOADED 0 False False False" in out.stdout, out.stdout + out.stderr
