"""The chaos run (benchmarks/chaos.py), two minutes of it: a sweep on a 3-node `ray start` cluster
with a PostgreSQL study under random faults (workers and nodes killed, nodes joining, the driver
SIGKILLed or Ctrl+C'd and resumed, the database restarted); every invariant must hold."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import REPO, TREE_PATH

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("ray-start")]  # `ray start` clusters: one at a time


def test_a_two_minute_chaos_run_keeps_every_invariant(tmp_path) -> None:
    out = tmp_path / "chaos.json"
    result = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "chaos.py"), "--minutes", "1.5", "--fault-every", "8", "16",
         "--trials", "60", "--epochs", "6", "--sleep", "0.5", "--seed", "3", "--folder", str(tmp_path / "run"),
         "--json", str(out)],
        cwd=tmp_path, capture_output=True, text=True, timeout=900, env={**os.environ, "PYTHONPATH": TREE_PATH},
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-3000:]
    assert "invariants: all held" in result.stdout
    summary = json.loads(out.read_text())
    assert len(summary["faults"]) >= 4 and not summary["broken"]
    assert len({fault["kind"] for fault in summary["faults"]}) >= 3, summary["faults"]
