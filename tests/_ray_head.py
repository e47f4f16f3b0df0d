"""`ray start` nodes for the tests: each in a process group of its own, killed as a whole.

Two users: tests/test_cluster.py builds its clusters from them, and one head per test process
(`joined_ray` in conftest.py) serves the sweeps of modules whose subject is not how hpo starts Ray:
their CLI runs join it (``RAY_ADDRESS``) instead of each starting a local Ray of its own, which
costs about 6 CPU-seconds and 3-5 s per sweep on the 2-core CI machine.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.conftest import free_port

RAY = str(Path(sys.executable).parent / "ray")
# Ray >= 2.59 authenticates clients of a `ray start` cluster: one shared token for every node and
# for the driver, as a real cluster would be set up.
AUTH = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": "hpo-test-token-0123456789abcdef"}
# A Ray started in this test process (hpo's local one) set this switch in os.environ; `ray start`
# refuses to build a multi-node cluster under it, so the nodes get an environment without it.
LOCAL_ONLY = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"
QUIET = ("--include-dashboard=false", "--disable-usage-stats")


def node_environ(*drop: str) -> dict[str, str]:
    """This process's environment for a `ray start` node or a driver joining one."""
    return {k: v for k, v in os.environ.items() if k not in (LOCAL_ONLY, "RAY_ADDRESS", *drop)} | {
        "RAY_USAGE_STATS_ENABLED": "0", **AUTH,
    }


def start_head(env: dict[str, str], *args: str) -> int:
    """`ray start --head` in a session of its own; the process group holding every process of
    this node (its raylet starts the workers and agents in it too)."""
    process = subprocess.Popen([RAY, "start", "--head", *args], env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, start_new_session=True)
    output, _ = process.communicate(timeout=120)
    if process.returncode != 0:
        kill_groups(process.pid)
        raise AssertionError(f"ray start --head failed: {output[-2000:]}")
    return process.pid


def _live_in_groups(groups: set[int]) -> list[int]:
    live = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except (FileNotFoundError, ProcessLookupError):  # it ended meanwhile
            continue
        state, _, group = stat[stat.rfind(")") + 2:].split()[:3]
        if int(group) in groups and state != "Z":  # a zombie is dead, only not yet reaped
            live.append(int(entry.name))
    return live


def kill_groups(*groups: int) -> None:
    """SIGKILL these process groups and wait until none of their processes lives: what
    `ray stop --force` does for every Ray on the machine, without its 5-7 s of polling."""
    for group in groups:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(group, signal.SIGKILL)
    deadline = time.monotonic() + 60
    while (live := _live_in_groups(set(groups))) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not live, f"processes {live} outlived SIGKILL for 60 s"


@contextmanager
def one_node_head(num_cpus: int = 2) -> Iterator[dict[str, str]]:
    """A one-node `ray start` cluster of ``num_cpus`` CPUs and no GPU on loopback; yields what a
    driver's environment needs to join it (``RAY_ADDRESS`` and the token)."""
    env = node_environ()
    for attempt in range(3):  # two raylets starting at once on one host may race for a port: try again
        port = free_port()
        try:
            # Ports whose defaults are fixed (10001, 52365): a `ray start` cluster of test_cluster.py
            # may be up in the other test process.
            head = start_head(env, f"--port={port}", "--node-ip-address=127.0.0.1", f"--num-cpus={num_cpus}",
                              "--num-gpus=0", f"--ray-client-server-port={free_port()}",
                              f"--dashboard-agent-listen-port={free_port()}", *QUIET)
            break
        except AssertionError:
            if attempt == 2:
                raise
            time.sleep(2)
    try:
        yield {"RAY_ADDRESS": f"127.0.0.1:{port}", **AUTH}
    finally:
        kill_groups(head)
