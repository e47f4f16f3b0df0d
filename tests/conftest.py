"""Shared test helpers: sweep files in a temporary folder and the real `hpo` CLI in a subprocess."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SRC = REPO / "src"
# Every process a test starts (the CLI, drivers, benchmarks, Ray's nodes and workers) imports hpo
# from this working tree, not from the tree a shared venv's editable install points at. The
# repository root follows, for the tests' own modules that sweeps name (tests.cheap, tests.user_code).
TREE_PATH = os.pathsep.join([str(SRC), str(REPO)])
os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (TREE_PATH, os.environ.get("PYTHONPATH", "")) if p)

SEARCH_SPACES = REPO / "search_spaces"


# While a test marked `joins_ray_head` runs: what joins the test process's `ray start` head
# (`_joins_ray_head`), for the subprocesses it starts (run_hpo, subprocess_env). Never in
# os.environ: Ray in this process reads its authentication settings once, and its own sweeps start
# local Rays without a token.
_JOINED: dict[str, str] = {}


def subprocess_env(**extra: str) -> dict[str, str]:
    """The environment for a subprocess a test starts: this process's, the head to join if any."""
    return {**os.environ, **_JOINED, **extra}


def run_hpo(*args: str, cwd: Path | None = None, timeout: float = 600, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run the installed CLI as a user would, capturing output."""
    full_env = subprocess_env(COLUMNS="200", NO_COLOR="1", **(env or {}))
    return subprocess.run(
        [sys.executable, "-m", "hpo", *args],
        cwd=cwd or REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=full_env,
    )


def free_port() -> int:
    """A free TCP port on loopback (for servers the tests start)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def journal_study(path, name: str):
    """Load study ``name`` from the journal file at ``path``, as a later reader would."""
    import optuna

    backend = optuna.storages.journal.JournalFileBackend(str(path))
    return optuna.load_study(study_name=name, storage=optuna.storages.JournalStorage(backend))


@pytest.fixture
def write_file(tmp_path: Path):
    """Write dedented text to ``tmp_path/name`` and return the path."""

    def write(name: str, text: str) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"))
        return path

    return write


MINIMAL_SWEEP = """
name: t
data: {source: digits}
train: {epochs: 2}
space:
  params:
    learning_rate: {type: float, low: 0.001, high: 0.1, log: true}
    optimizer: {type: categorical, choices: [sgd, adam]}
    momentum: {type: float, low: 0.0, high: 0.9, when: {optimizer: sgd}}
budget: {trials: 4}
"""


@pytest.fixture(scope="session")
def postgres_url():
    """A real PostgreSQL server for the session (skipped locally only when the binaries are absent)."""
    from tests._postgres import postgres_server

    with postgres_server() as url:
        yield url


@pytest.fixture(scope="session")
def _ray_head_env():
    """One `ray start` head for this test process (tests/_ray_head.py), started on first use."""
    from tests._ray_head import one_node_head

    with one_node_head() as env:
        yield env


@pytest.fixture(autouse=True)
def _joins_ray_head(request: pytest.FixtureRequest):
    """The sweeps that a slow test marked `joins_ray_head` starts as subprocesses join the test
    process's `ray start` head instead of each starting a local Ray (about 6 CPU-seconds and 3-5 s
    each on the 2-core CI machine); sweeps run in this process start their own as before. For tests
    whose subject is not how hpo starts Ray, whose sweeps need no GPU, and whose trial workers need
    nothing from the test's own environment: a node's workers have the head's."""
    if request.node.get_closest_marker("joins_ray_head") is None or request.node.get_closest_marker("slow") is None:
        yield
        return
    _JOINED.update(request.getfixturevalue("_ray_head_env"))
    try:
        yield
    finally:
        _JOINED.clear()


@pytest.fixture(params=["journal", "postgresql"])
def storage_url(request, tmp_path):
    """Every storage hpo supports for parallel sweeps."""
    if request.param == "journal":
        return str(tmp_path / "study.journal")
    return request.getfixturevalue("postgres_url")


# What `make test-fast` (-m "not slow") never loads: a test that imports one of these trains, starts
# Ray or pulls in a framework, and belongs in the full lane (mark it slow).
FAST_LANE_FORBIDDEN = ("ray", "tensorflow", "keras", "jax", "torch")


# Where `ray start` records its head for a bare `ray.init()` to join (Ray's rule: RAY_TMPDIR, else
# TMPDIR, else /tmp, then ray/). `ray stop` clears it, but the tests SIGKILL their nodes
# (tests/_ray_head.py), which left it naming a dead head: a `ray.init()` of the user's on this
# machine then waited for that head. The suite puts back what was there before it, in the xdist
# controller (or the only process) once every test has ended.
_ADDRESS_BEFORE = pytest.StashKey[str | None]()


def _ray_address_file() -> Path:
    root = os.environ.get("RAY_TMPDIR") or os.environ.get("TMPDIR") or "/tmp"
    return Path(root) / "ray" / "ray_current_cluster"


def pytest_sessionstart(session: pytest.Session) -> None:
    if not hasattr(session.config, "workerinput"):
        path = _ray_address_file()
        session.config.stash[_ADDRESS_BEFORE] = path.read_text() if path.exists() else None


def pytest_sessionfinish(session: pytest.Session) -> None:
    if hasattr(session.config, "workerinput") or _ADDRESS_BEFORE not in session.config.stash:
        return
    path, before = _ray_address_file(), session.config.stash[_ADDRESS_BEFORE]
    if before is None:
        path.unlink(missing_ok=True)
    elif path.parent.exists():
        path.write_text(before)


def _in_fast_lane(config: pytest.Config) -> bool:
    return "".join(str(config.getoption("markexpr") or "").split()) == "notslow"


@pytest.fixture(autouse=True)
def _no_kept_ray():
    """`hpo.run` keeps the local Ray it started for the next run in the process: each test ends
    without one, so the next test in this worker starts from none (a module's own Ray stays)."""
    yield
    if "ray" in sys.modules:
        import hpo

        hpo.stop_ray()


@pytest.fixture(autouse=True)
def _fast_lane_stays_light(request: pytest.FixtureRequest):
    """In the fast lane, fail the test that first imports a heavy framework into the test process."""
    if not _in_fast_lane(request.config):
        yield
        return
    before = {name for name in FAST_LANE_FORBIDDEN if name in sys.modules}
    yield
    loaded = sorted(name for name in FAST_LANE_FORBIDDEN if name in sys.modules and name not in before)
    if loaded:
        pytest.fail(f"the fast lane must not import {', '.join(loaded)}; mark this test `slow`", pytrace=False)


def said(notice) -> tuple[str, int]:
    """A sweep notice as (kind, trial number or -1), for tests that check the order of what was said."""
    from hpo import executor as ex

    kinds = {
        ex.StudyOpened: "opened", ex.EarlierRuns: "resumed", ex.CarriedOver: "carried", ex.Recovered: "recovered", ex.TrialStarted: "started",
        ex.TrialContinued: "continued", ex.TrialResumed: "resumed_from", ex.TrialPromoted: "promoted", ex.EpochReported: "epoch",
        ex.TrialPaused: "paused", ex.TrialComplete: "complete", ex.TrialPruned: "pruned", ex.TrialFailedEnd: "failed",
        ex.TrialInterrupted: "interrupted", ex.ParamsUnread: "unread", ex.StoppedEarly: "stopped_early", ex.SweepAborting: "aborted",
    }
    return kinds[type(notice)], getattr(notice, "number", -1)
