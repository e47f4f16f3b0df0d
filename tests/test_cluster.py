"""`hpo run --address` joins an existing Ray cluster (started with `ray start`), and leaves it up."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from optuna.trial import TrialState

from tests.conftest import REPO, journal_study

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def ray_head(tmp_path):
    ray = Path(sys.executable).parent / "ray"
    port = _free_port()
    # Ray >= 2.59 authenticates clients of a `ray start` cluster: one shared token for every node
    # and for the driver, as a real cluster would be set up.
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", **AUTH}
    subprocess.run([str(ray), "start", "--head", f"--port={port}", "--node-ip-address=127.0.0.1", "--num-cpus=2",
                    "--num-gpus=1", "--include-dashboard=false", "--disable-usage-stats"], check=True, capture_output=True, env=env, timeout=120)
    yield f"127.0.0.1:{port}"
    subprocess.run([str(ray), "stop", "--force"], capture_output=True, env=env, timeout=120)


AUTH = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": "hpo-test-token-0123456789abcdef"}


def test_run_joins_an_existing_cluster(ray_head, tmp_path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(textwrap.dedent(f"""
        name: c
        data: {{source: digits}}
        train: {{epochs: 6}}
        objective: {{metric: val_accuracy, function: "tests.cheap:objective"}}
        space: {{params: {{x: {{type: float, low: 0.0, high: 1.0}}, epochs: 6}}}}
        budget: {{trials: 4}}
        resources: {{concurrency: 2}}
        results_dir: {tmp_path / "results"}
    """))
    result = subprocess.run(
        [sys.executable, "-m", "hpo", "run", str(path), "--address", ray_head, "--gpus-per-trial", "0.5"],
        cwd=REPO, capture_output=True, text=True, timeout=600, env={**os.environ, "PYTHONPATH": str(REPO), **AUTH},
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    study = journal_study(tmp_path / "results" / "c" / "study.journal", "c")
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 4
    # --gpus-per-trial 0.5 packed two trials on the head's one (logical) GPU: each trial says where it ran.
    placements = [t.user_attrs["hpo:placement"] for t in study.trials]
    assert {tuple(p["gpus"]) for p in placements} == {("0",)} and all(p["host"] and p["pid"] and p["node"] for p in placements)
    # The cluster hpo joined is still there for the next sweep (hpo only disconnected).
    status = subprocess.run([str(Path(sys.executable).parent / "ray"), "status", "--address", ray_head], capture_output=True, text=True, timeout=120, env={**os.environ, **AUTH})
    assert status.returncode == 0 and "GPU" in status.stdout
