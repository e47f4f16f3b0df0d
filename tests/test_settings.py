"""Settings resolved in one place (flag > environment > sweep file > default), credentials masked
in every form, `--debug` on every command, safe YAML, and a report that trusts only its own best."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from hpo._settings import resolve_sweep
from hpo.storage import mask_url, scrub
from tests.conftest import MINIMAL_SWEEP, TREE_PATH, run_hpo

SETTINGS = [
    # (sweep key, environment variable, value in the file, value in the environment, flag value, default)
    ("storage", "HPO_STORAGE", "file.journal", "env.journal", "flag.journal", None),
    ("results_dir", "HPO_RESULTS_DIR", "file-results", "env-results", "flag-results", "results"),
    ("resources.address", "RAY_ADDRESS", "file:6379", "env:6379", "flag:6379", None),
]


def _get(sweep, dotted: str):
    value = sweep.config
    for part in dotted.split("."):
        value = getattr(value, part)
    return value


def _file(tmp_path: Path, key: str, value: str | None) -> Path:
    text = MINIMAL_SWEEP
    if value is not None:
        section, _, name = key.rpartition(".")
        text += f"{section}: {{{name}: {value!r}}}\n" if section else f"{key}: {value!r}\n"
    path = tmp_path / "s.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(("key", "variable", "in_file", "in_env", "flag", "default"), SETTINGS, ids=[s[1] for s in SETTINGS])
@pytest.mark.parametrize("given", ["flag", "env", "file", "default"])
def test_flag_beats_environment_beats_file_beats_default(tmp_path, monkeypatch, key, variable, in_file, in_env, flag, default, given) -> None:
    levels = ["flag", "env", "file", "default"]
    present = levels[levels.index(given):]  # every lower level is set too: the highest given must win
    monkeypatch.delenv(variable, raising=False)
    if "env" in present:
        monkeypatch.setenv(variable, in_env)
    path = _file(tmp_path, key, in_file if "file" in present else None)
    sweep = resolve_sweep(path, **({key: flag} if "flag" in present else {}))
    assert _get(sweep, key) == {"flag": flag, "env": in_env, "file": in_file, "default": default}[given]


MASKED = [
    ("postgresql://bob:hunter2@db/hpo", "postgresql://bob:***@db/hpo", "hunter2"),
    ("postgresql+psycopg2://bob:hunter2@db:5432/hpo?sslmode=require", "postgresql+psycopg2://bob:***@db:5432/hpo?sslmode=require", "hunter2"),
    ("postgresql://bob:p@ss@word@db/hpo", "postgresql://bob:***@db/hpo", "p@ss@word"),
    ("postgresql://db/hpo?user=bob&password=hunter2", "postgresql://db/hpo?user=bob&password=***", "hunter2"),
    ("mysql+pymysql://bob:hunter2@db/hpo?charset=utf8&passwd=hunter3", "mysql+pymysql://bob:***@db/hpo?charset=utf8&passwd=***", "hunter3"),
    ("postgresql://db/hpo?sslmode=verify-full&sslpassword=k3y", "postgresql://db/hpo?sslmode=verify-full&sslpassword=***", "k3y"),
    ("postgresql://db/hpo?token=t0k&user=bob", "postgresql://db/hpo?token=***&user=bob", "t0k"),
    ("mysql://db/hpo?secret=s3c", "mysql://db/hpo?secret=***", "s3c"),
    ("mysql://db/hpo?user=bob&pwd=pw1", "mysql://db/hpo?user=bob&pwd=***", "pw1"),
    ("postgresql://db/hpo?user=bob&PASSWORD=UPPER1", "postgresql://db/hpo?user=bob&PASSWORD=***", "UPPER1"),
    ("postgresql://bob@db/hpo", "postgresql://bob@db/hpo", None),
    ("results/x/study.journal", "results/x/study.journal", None),
]


@pytest.mark.parametrize(("url", "masked", "secret"), MASKED, ids=["userinfo", "userinfo_query", "unencoded_at", "query_password", "query_passwd", "query_sslpassword", "query_token",
     "query_secret", "query_pwd", "query_upper_case", "no_password", "journal"])
def test_every_credential_form_is_masked(url: str, masked: str, secret: str | None) -> None:
    assert mask_url(url) == masked
    if secret:
        assert secret not in mask_url(url)
        assert secret not in scrub(f"could not connect to {url} as bob with {secret}", url)


COMMANDS = [
    ["validate"], ["space"], ["run"], ["resume"], ["status"], ["best"], ["export", "--format", "csv"],
    ["report"], ["enqueue", "x=1"], ["dashboard"],
]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c[0])
def test_debug_shows_the_traceback_and_only_then(tmp_path, command: list[str]) -> None:
    missing = str(tmp_path / "missing.yaml")
    plain = run_hpo(command[0], missing, *command[1:], cwd=tmp_path)
    debug = run_hpo(command[0], missing, *command[1:], "--debug", cwd=tmp_path)
    assert plain.returncode == 2 and "Traceback" not in plain.stderr and "missing.yaml" in plain.stderr
    assert debug.returncode != 0 and "Traceback (most recent call last)" in debug.stderr


def test_a_journal_with_records_of_the_wrong_types_is_called_corrupt(tmp_path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(MINIMAL_SWEEP + f"results_dir: {tmp_path / 'results'}\n")
    journal = tmp_path / "results" / "t" / "study.journal"
    journal.parent.mkdir(parents=True)
    journal.write_text('{"op_code": 0, "worker_id": "a", "study_name": "t", "directions": [1]}\n'
                       '{"op_code": 4, "worker_id": "a", "study_id": 0, "datetime_start": 5}\n')
    result = run_hpo("status", str(path), cwd=tmp_path)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert f"the study journal {journal} is corrupt or truncated (TypeError" in result.stderr


def test_an_unexpected_error_is_one_line_and_exit_1_unless_debug(tmp_path, monkeypatch) -> None:
    """A defect in hpo cannot be made to happen for real: it is injected into `hpo status`."""
    from typer.testing import CliRunner

    import hpo.results
    from hpo.cli import app
    from hpo.config import load_sweep
    from hpo.study import open_study

    path = tmp_path / "s.yaml"
    path.write_text(MINIMAL_SWEEP + f"results_dir: {tmp_path / 'results'}\n")
    open_study(load_sweep(path))

    def defect(study, objective=None):
        return 1 / 0

    monkeypatch.setattr(hpo.results, "trials_frame", defect)
    plain = CliRunner().invoke(app, ["status", str(path)])
    assert plain.exit_code == 1 and (plain.exception is None or isinstance(plain.exception, SystemExit))
    assert "ZeroDivisionError: division by zero. This is unexpected: run the command again with --debug" in plain.output
    debug = CliRunner().invoke(app, ["status", str(path), "--debug"])
    assert isinstance(debug.exception, ZeroDivisionError)


def test_yaml_tags_that_would_run_code_are_refused(tmp_path) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "s.yaml"
    path.write_text(f"name: !!python/object/apply:os.system ['touch {marker}']\n" + MINIMAL_SWEEP.split("\n", 2)[2])
    result = run_hpo("validate", str(path), cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert "s.yaml:1" in result.stderr and "python/object/apply:os.system" in result.stderr
    assert "Traceback" not in result.stderr and not marker.exists()


def _reported_study(tmp_path, values: tuple[float, ...], epochs: tuple[int, ...] = ()):
    """A small sweep's study with one complete trial per value (each reporting ``epochs``)."""
    from hpo.config import load_sweep
    from hpo.study import open_study

    path = tmp_path / "s.yaml"
    path.write_text(MINIMAL_SWEEP + f"results_dir: {tmp_path / 'results'}\n")
    sweep = load_sweep(path)
    study = open_study(sweep)
    for value in values:
        trial = study.ask()
        sweep.space.sample(trial)
        for epoch in epochs:
            trial.report(value * epoch / max(epochs), epoch)
        study.tell(trial, value)
    return sweep, study


def test_the_report_ignores_a_best_json_of_another_study(tmp_path) -> None:
    from hpo.results import write_report

    sweep, study = _reported_study(tmp_path, (0.1, 0.2))
    folder = sweep.results_dir
    stale = {"study": "t-old", "trial": 1, "objective": {"metric": "val_accuracy", "value": 0.99},
             "params": {}, "test_metrics": {"test_accuracy": 0.123456}}
    (folder / "best.json").write_text(json.dumps(stale))
    page = write_report(sweep, study, folder).read_text()
    assert "0.1235" not in page and "Test split" not in page
    (folder / "best.json").write_text(json.dumps({**stale, "study": study.study_name}))  # now it is this study's best
    page = write_report(sweep, study, folder).read_text()
    assert "0.1235" in page and "Test split" in page


def test_a_missing_database_driver_names_the_package(tmp_path, monkeypatch) -> None:
    import sys

    from hpo import HpoError
    from hpo.storage import open_storage

    monkeypatch.setitem(sys.modules, "psycopg2", None)
    with pytest.raises(HpoError, match=r"cannot open storage postgresql://bob:\*\*\*@127\.0\.0\.1:1/db: its database driver is not installed .*hpo\[postgres\]"):
        open_storage("postgresql://bob:hunter2@127.0.0.1:1/db")


def test_a_busy_dashboard_port_is_a_usage_error(tmp_path) -> None:
    import socket

    from hpo.config import load_sweep
    from hpo.study import open_study

    path = tmp_path / "s.yaml"
    path.write_text(MINIMAL_SWEEP + f"results_dir: {tmp_path / 'results'}\n")
    open_study(load_sweep(path))
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = run_hpo("dashboard", str(path), "--port", str(port), cwd=tmp_path, timeout=60)
    assert result.returncode == 2, result.stderr
    assert f"cannot serve on 127.0.0.1:{port}" in result.stderr and "--port" in result.stderr


@pytest.mark.slow  # a driver process: it starts Ray beside the data loading that fails
def test_a_user_data_loader_that_raises_is_a_clear_error(tmp_path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(textwrap.dedent(MINIMAL_SWEEP).replace("data: {source: digits}", 'data: {source: "tests.user_code:broken_loader"}'))
    result = run_hpo("run", str(path), cwd=tmp_path, env={"PYTHONPATH": TREE_PATH})
    assert result.returncode == 2, result.stderr
    assert "data loader 'tests.user_code:broken_loader' raised OSError: cannot read the data" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_report_rounds_its_tables_and_names_the_plot_axes_by_the_metric(tmp_path) -> None:
    from hpo.results import write_report

    sweep, study = _reported_study(tmp_path, (0.1, 0.987654321), epochs=(1, 2))
    folder = sweep.results_dir
    best = study.best_trial
    (folder / "best.json").write_text(json.dumps({
        "study": study.study_name, "trial": best.number, "objective": {"metric": "val_accuracy", "value": best.value},
        "params": {**best.params, "learning_rate": 0.00312345678}, "test_metrics": {"test_loss": 0.0123456789},
    }))
    page = write_report(sweep, study, folder).read_text()
    assert "val_accuracy = 0.9877" in page and "<td>0.003123</td>" in page and "<td>0.01235</td>" in page
    assert "0.00312345678" not in page and "= 0.987654321" not in page  # full precision stays in best.json
    assert "Objective Value" not in page and "val_accuracy per epoch" in page


def test_trials_per_worker_from_python_is_set_and_checked_as_in_the_file(tmp_path) -> None:
    """`hpo.run(..., trials_per_worker=N)` (and `--trials-per-worker N`) sets the key, and the
    cross-section rule holds for it as for the file: a built-in-trainer sweep refuses it."""
    from hpo._api import resolve
    from hpo._errors import ConfigError

    builtin = tmp_path / "s.yaml"
    builtin.write_text(MINIMAL_SWEEP)
    with pytest.raises(ConfigError, match=r"s.yaml \(with command-line overrides\): resources.trials_per_worker: .*only trial functions"):
        resolve(builtin, trials_per_worker=4)
    function = tmp_path / "f.yaml"
    function.write_text(MINIMAL_SWEEP + 'objective: {metric: val_accuracy, function: "tests.cheap:objective"}\n')
    assert resolve(function, trials_per_worker=4).config.resources.trials_per_worker == 4
