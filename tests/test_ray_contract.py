"""What hpo relies on in Ray, checked against the installed Ray: if an upgrade changes any of it,
these fail loudly and name the behaviour (hpo's Ray code lives in hpo/executor/_ray.py only)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from tests.conftest import REPO

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("ray-contract")]  # one worker starts the module's Ray once


@pytest.fixture(scope="module")
def ray_local():
    from hpo.executor._ray import start_ray, stop_ray

    with pytest.MonkeyPatch.context() as env:  # Ray's processes inherit it; the workers must set it
        env.delenv("TF_CPP_MIN_LOG_LEVEL", raising=False)
        start_ray(None, num_cpus=2, num_gpus=2)
    import ray

    yield ray
    stop_ray()


class _Streamer:
    def __init__(self, fail: bool = False) -> None:
        if fail:
            raise ValueError("worker set-up broke")
        self.stopped = False

    def pid(self) -> int:
        return os.getpid()

    def stop(self) -> None:
        self.stopped = True

    def run(self, n: int, sleep: float = 0.0):
        for i in range(n):
            time.sleep(sleep)
            if self.stopped:
                yield "stopped"
                return
            yield i

    def placement(self) -> dict:
        import ray

        context = ray.get_runtime_context()
        return {"node": context.get_node_id(), "gpus": context.get_accelerator_ids().get("GPU", [])}


def _actor(ray, **options):
    return ray.remote(_Streamer).options(num_cpus=0.5, max_concurrency=2, **options)


def test_a_streaming_generator_method_yields_each_item_as_it_comes(ray_local) -> None:
    ray = ray_local
    actor = _actor(ray).remote()
    stream = actor.run.options(num_returns="streaming").remote(3)
    items = []
    while True:
        ready, _ = ray.wait([stream], num_returns=1, timeout=30)  # ray.wait takes generator objects
        assert ready == [stream]
        try:
            items.append(ray.get(next(stream)))
        except StopIteration:
            break
    assert items == [0, 1, 2]
    ray.kill(actor)


def test_a_threaded_actor_takes_a_stop_while_it_streams(ray_local) -> None:
    ray = ray_local
    actor = _actor(ray).remote()
    stream = actor.run.options(num_returns="streaming").remote(1000, 0.02)
    assert ray.get(next(stream)) == 0
    actor.stop.remote()  # runs concurrently thanks to max_concurrency=2
    assert [ray.get(ref) for ref in stream][-1] == "stopped"
    ray.kill(actor)


def test_a_killed_worker_process_surfaces_as_actor_died(ray_local) -> None:
    ray = ray_local
    actor = _actor(ray).remote()
    pid = ray.get(actor.pid.remote())
    stream = actor.run.options(num_returns="streaming").remote(1000, 0.05)
    ray.get(next(stream))
    os.kill(pid, signal.SIGKILL)
    with pytest.raises(ray.exceptions.ActorDiedError) as info:
        for ref in stream:
            ray.get(ref)
    assert issubclass(ray.exceptions.ActorDiedError, ray.exceptions.RayActorError)
    assert "because its worker process has died" in str(info.value) and not info.value.actor_init_failed


def test_a_failing_set_up_names_the_creation_task_and_the_error(ray_local) -> None:
    from hpo.executor._ray import _creation_error

    ray = ray_local
    actor = _actor(ray).remote(fail=True)
    stream = actor.run.options(num_returns="streaming").remote(3)
    with pytest.raises(ray.exceptions.RayActorError) as info:
        ray.get(next(stream))
    assert info.value.actor_init_failed  # what hpo/executor/_ray.py tells apart from a death
    assert _creation_error(info.value) == "ValueError: worker set-up broke"


def test_the_runtime_context_tells_node_and_gpu_ids(ray_local) -> None:
    ray = ray_local
    actor = _actor(ray, num_gpus=0.5).remote()
    placement = ray.get(actor.placement.remote())
    assert re.fullmatch(r"[0-9a-f]{56}", placement["node"])
    assert [str(g) for g in placement["gpus"]] in (["0"], ["1"])
    ray.kill(actor)


def test_a_local_ray_started_by_hpo_listens_on_loopback_only(tmp_path) -> None:
    """From outside: `ss` lists the sockets of the processes a fresh hpo driver started."""
    code = textwrap.dedent("""
        import json, os, subprocess, time
        from pathlib import Path
        from hpo.executor import _ray
        _ray.start_ray(None)
        time.sleep(2)
        parents = {}
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            parents[int(stat.parent.name)] = int(fields[1])
        mine = {os.getpid()}
        while True:
            more = {pid for pid, parent in parents.items() if parent in mine} - mine
            if not more:
                break
            mine |= more
        print(json.dumps(sorted(mine)))
        print(subprocess.run(["ss", "-ltnpH"], capture_output=True, text=True).stdout)
        _ray.stop_ray()
    """)
    env = {k: v for k, v in os.environ.items() if k != "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=REPO, env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    first, _, sockets = out.stdout.partition("\n")
    started = set(json.loads(first))
    ray_lines = [line for line in sockets.splitlines() if {int(p) for p in re.findall(r"pid=(\d+)", line)} & started]
    assert any("gcs_server" in line for line in ray_lines) and any("raylet" in line for line in ray_lines), out.stdout
    for line in ray_lines:
        local = line.split()[3]
        assert re.match(r"^(127\.0\.0\.1|\[::ffff:127\.0\.0\.1\]|\[::1\]):\d+$", local), line


def test_trial_workers_start_without_a_runtime_env_and_with_quiet_tensorflow(ray_local) -> None:
    """Any runtime_env, env_vars alone included, makes Ray set one up for each worker (about a
    second of every worker's start, benchmarks/startup.py): hpo's worker sets its own environment."""
    from hpo.executor._ray import _PlacedWorker

    class Probe(_PlacedWorker):
        def environment(self) -> tuple[str | None, dict]:
            import ray

            return os.environ.get("TF_CPP_MIN_LOG_LEVEL"), dict(ray.get_runtime_context().runtime_env)

    config = {"name": "probe", "objective": {"function": "tests.cheap:objective"}}
    actor = ray_local.remote(Probe).options(num_cpus=0.5).remote(config, None, 0.0)
    level, runtime_env = ray_local.get(actor.environment.remote(), timeout=120)
    assert level == "2"
    assert runtime_env == {}
    ray_local.kill(actor)


def test_ray_nodes_tell_liveness_and_the_raylet_address(ray_local) -> None:
    """What RayPool._node_gone reads to tell a lost node from a dead worker process."""
    import socket

    (node,) = ray_local.nodes()
    assert node["Alive"] is True and node["NodeID"] == ray_local.get_runtime_context().get_node_id()
    socket.create_connection((node["NodeManagerAddress"], int(node["NodeManagerPort"])), timeout=2).close()


def test_the_two_deaths_hpo_tells_apart_are_worded_as_it_expects() -> None:
    """RayPool reads these phrases in Ray's ActorDiedError: the process case is checked against a
    real kill above; the node case is worded by Ray's GCS (a node cannot be lost here on purpose)."""
    from pathlib import Path

    import ray

    from hpo.executor._ray import _NODE_DIED, _PROCESS_DIED

    gcs = (Path(ray.__file__).parent / "core" / "src" / "ray" / "gcs" / "gcs_server").read_bytes()
    assert _NODE_DIED.encode() in gcs and _PROCESS_DIED.encode() in gcs
