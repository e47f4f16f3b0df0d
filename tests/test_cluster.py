"""`hpo run --address` joins an existing Ray cluster (started with `ray start`), and leaves it up;
clusters that shrink and grow; the chaos run. Every `ray start` cluster of the suite is here, so that
no two run at once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from optuna.trial import TrialState

from tests._ray_head import AUTH, kill_groups, node_environ, start_head
from tests.conftest import REPO, SRC, TREE_PATH, free_port, journal_study

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("ray-start")]  # `ray start` clusters: one at a time


@pytest.fixture
def ray_head(tmp_path):
    port = free_port()
    # Ray >= 2.59 authenticates clients of a `ray start` cluster: one shared token for every node
    # and for the driver, as a real cluster would be set up.
    env = node_environ()
    head = start_head(env, f"--port={port}", "--node-ip-address=127.0.0.1", "--num-cpus=2", "--num-gpus=1",
                       "--include-dashboard=false", "--disable-usage-stats")
    yield f"127.0.0.1:{port}"
    kill_groups(head)



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
        cwd=REPO, capture_output=True, text=True, timeout=600, env={**node_environ(), "PYTHONPATH": TREE_PATH},
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


USER_CODE = '''
import json, os, time
from pathlib import Path


def train(trial):
    """Lives only in the driver's folder: the worker nodes get it from Ray, not from their disk."""
    for epoch in range(1, 5):
        time.sleep(float(trial.params["sleep"]))
        trial.report(epoch, {"val_accuracy": float(trial.params["x"]) * epoch / 4})
'''


def _user_sweep(folder: Path, *, trials: int, concurrency: int, storage: str | None = None, sleep: float = 0.3, retries: int = 0) -> Path:
    (folder / "mycode.py").write_text(USER_CODE)
    path = folder / "u.yaml"
    path.write_text(textwrap.dedent(f"""
        name: u
        data: {{source: digits}}
        train: {{epochs: 4}}
        objective: {{metric: val_accuracy, function: "mycode:train"}}
        space: {{params: {{x: {{type: float, low: 0.0, high: 1.0}}, sleep: {sleep}}}}}
        sampler: {{name: random, seed: 0}}
        pruner: {{name: none}}
        budget: {{trials: {trials}, max_retries: {retries}}}
        resources: {{concurrency: {concurrency}, gpus_per_trial: 0.5, worker_start_timeout: 120}}
        results_dir: {folder / "results"}
    """) + (f"storage: {storage}\n" if storage else ""))
    return path


@pytest.fixture
def three_nodes(tmp_path):
    """A head (no GPUs) and two worker nodes with two logical GPUs each, started with `ray start`.
    The worker nodes run in their own mount namespace where the driver's folder is an empty tmpfs
    (as on another host: they cannot read the user's code), from another working directory, with
    only hpo's own source on PYTHONPATH (no user code)."""
    ray = str(Path(sys.executable).parent / "ray")
    port = free_port()
    env = {**node_environ(), "PYTHONPATH": str(SRC)}  # hpo, not the user's code
    head = start_head(env, f"--port={port}", "--node-ip-address=127.0.0.1", "--num-cpus=1", "--num-gpus=0",
                       "--include-dashboard=false", "--disable-usage-stats")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / "driver").mkdir()  # the driver's folder, hidden from the worker nodes below
    isolated = subprocess.run(["unshare", "-m", "--propagation", "private", "true"], capture_output=True).returncode == 0
    workers = []
    groups = [head]
    address = f"127.0.0.1:{port}"
    try:
        for i in range(2):  # one at a time: two raylets starting at once on one host race for their ports
            start = f"{ray} start --address={address} --node-ip-address=127.0.0.1 --num-cpus=4 --num-gpus=2 --block --disable-usage-stats"
            script = f"mount -t tmpfs none {tmp_path / 'driver'} && exec {start}" if isolated else f"exec {start}"
            command = ["unshare", "-m", "--propagation", "private", "sh", "-c", script] if isolated else ["sh", "-c", script]
            log = tmp_path / f"worker-{i}.log"
            for attempt in range(3):  # `ray start` may exit at once while the head still settles: try again
                with log.open("w") as out:
                    worker = subprocess.Popen(command, cwd=elsewhere, env=env, start_new_session=True, stdout=out, stderr=subprocess.STDOUT)
                groups.append(worker.pid)  # a failed attempt may leave processes in its group too
                deadline = time.monotonic() + 120
                while time.monotonic() < deadline and worker.poll() is None:
                    status = subprocess.run([ray, "status", "--address", address], capture_output=True, text=True, env=env, timeout=60)
                    if status.stdout.count(" node_") >= 2 + i and f"{2 * (i + 1)}.0 GPU" in status.stdout:
                        break
                    time.sleep(1)
                if worker.poll() is None:
                    break
                time.sleep(3)
            else:
                raise AssertionError(f"worker node {i} exited with {worker.returncode}: {log.read_text()[-2000:]}")
            if time.monotonic() >= deadline:
                raise AssertionError(f"worker node {i} did not join: {status.stdout}")
            workers.append(worker)
    except BaseException:  # a set-up that fails leaves no cluster behind for the next tests
        kill_groups(*groups)
        raise
    yield {"address": address, "workers": workers, "isolated": isolated}
    kill_groups(*groups)


def _run_driver(folder: Path, path: Path, address: str, *extra: str, wait: bool = True):
    command = [str(Path(sys.executable).parent / "hpo"), "run", str(path), "--address", address, *extra]
    env = {**node_environ(), "PYTHONPATH": str(SRC)}  # hpo, not the user's code
    if wait:
        return subprocess.run(command, cwd=folder, capture_output=True, text=True, timeout=600, env=env)
    return subprocess.Popen(command, cwd=folder, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, start_new_session=True)


def test_trials_spread_over_nodes_and_gpu_shares_with_user_code_only_on_the_driver(three_nodes, tmp_path) -> None:
    driver = tmp_path / "driver"
    path = _user_sweep(driver, trials=12, concurrency=8)
    result = _run_driver(driver, path, three_nodes["address"])
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    study = journal_study(driver / "results" / "u" / "study.journal", "u")
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 12
    placements = [t.user_attrs["hpo:placement"] for t in study.trials]
    assert len({p["node"] for p in placements}) == 2  # both worker nodes (the head has no GPU)
    slots = {(p["node"], p["pid"]): tuple(p["gpus"]) for p in placements}
    assert len(slots) == 8 and set(slots.values()) == {("0",), ("1",)}
    per_gpu = {}
    for (node, _), gpus in slots.items():
        per_gpu[(node, gpus)] = per_gpu.get((node, gpus), 0) + 1
    assert sorted(per_gpu.values()) == [2, 2, 2, 2]  # gpus_per_trial 0.5: two workers per GPU, on every GPU
    assert three_nodes["isolated"], "could not hide the driver's folder from the worker nodes (unshare -m)"


def test_a_lost_node_fails_its_trials_which_are_retried_on_the_others(three_nodes, tmp_path) -> None:
    driver = tmp_path / "driver"
    path = _user_sweep(driver, trials=16, concurrency=8, sleep=1.0, retries=1)
    process = _run_driver(driver, path, three_nodes["address"], wait=False)
    journal = driver / "results" / "u" / "study.journal"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if journal.exists():
            try:
                running = [t for t in journal_study(journal, "u").trials if t.state == TrialState.RUNNING and "hpo:placement" in t.user_attrs]
            except KeyError:
                running = []
            if len({t.user_attrs["hpo:placement"]["node"] for t in running}) == 2:
                break
        time.sleep(0.5)
    victim = three_nodes["workers"][0]
    os.killpg(victim.pid, signal.SIGKILL)  # the whole node: its raylet and every worker on it
    output, _ = process.communicate(timeout=600)
    assert process.returncode == 0, output[-4000:]
    study = journal_study(journal, "u")
    lost = [t for t in study.trials if t.state == TrialState.FAIL]
    assert lost, "no trial was running on the lost node"
    for t in lost:
        node = t.user_attrs["hpo:placement"]["node"]
        assert t.user_attrs["hpo:fail_reason"].startswith(f"the worker running this trial was lost: its node was lost (Ray node {node}, host ")
        retry = [r for r in study.trials if r.user_attrs.get("hpo:retry_of") == t.number]
        assert len(retry) == 1 and retry[0].state == TrialState.COMPLETE and retry[0].params == t.params
        assert retry[0].user_attrs["hpo:placement"]["node"] != t.user_attrs["hpo:placement"]["node"]
    retried = {t.user_attrs.get("hpo:retry_of") for t in study.trials}
    assert sum(t.state != TrialState.FAIL or t.number not in retried for t in study.trials) == 16  # the budget was met
    assert not study.get_trials(states=(TrialState.RUNNING, TrialState.WAITING))


def test_two_drivers_on_one_postgresql_study_run_exactly_the_budget(postgres_url, tmp_path) -> None:
    folders = [tmp_path / "a", tmp_path / "b"]
    paths = []
    for folder in folders:
        folder.mkdir()
        paths.append(_user_sweep(folder, trials=10, concurrency=2, storage=postgres_url, sleep=0.1).read_text())
        (folder / "u.yaml").write_text(paths[-1].replace("gpus_per_trial: 0.5", "gpus_per_trial: 0"))
    env = {**{k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}, "PYTHONPATH": str(SRC)}
    hpo = str(Path(sys.executable).parent / "hpo")
    drivers = [subprocess.Popen([hpo, "run", "u.yaml"], cwd=folder, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for folder in folders]
    outputs = [d.communicate(timeout=600)[0] for d in drivers]
    assert [d.returncode for d in drivers] == [0, 0], outputs
    import optuna

    from hpo.storage import open_storage

    study = optuna.load_study(study_name="u", storage=open_storage(postgres_url))
    numbers = sorted(t.number for t in study.trials)
    assert numbers == list(range(10))  # exactly the budget, no number twice
    assert all(t.state == TrialState.COMPLETE for t in study.trials)
    assert len({t.user_attrs["hpo:run"] for t in study.trials}) == 2  # both drivers ran trials


def test_without_an_address_a_cluster_already_on_this_machine_is_left_alone(ray_head, tmp_path) -> None:
    """`ray.init()` alone would join the cluster `ray start` left on this machine (and fail: this
    driver has no token for it); hpo starts its own local Ray instead, as the README says."""
    path = tmp_path / "c.yaml"
    path.write_text(textwrap.dedent(f"""
        name: c
        data: {{source: digits}}
        objective: {{metric: val_accuracy, function: "tests.cheap:objective"}}
        space: {{params: {{x: {{type: float, low: 0.0, high: 1.0}}, epochs: 2}}}}
        budget: {{trials: 2}}
        results_dir: {tmp_path / "results"}
    """))
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", *AUTH)}
    result = subprocess.run([sys.executable, "-m", "hpo", "run", str(path)], cwd=REPO, capture_output=True, text=True,
                            timeout=600, env={**env, "PYTHONPATH": TREE_PATH})
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    study = journal_study(tmp_path / "results" / "c" / "study.journal", "c")
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 2
    head = subprocess.run([str(Path(sys.executable).parent / "ray"), "status", "--address", ray_head], capture_output=True,
                          text=True, timeout=120, env={**os.environ, **AUTH})
    assert head.returncode == 0  # and the other cluster is still up


# -- an elastic cluster: every node able to run a trial lost, then nodes joining -------------------


class _Elastic:
    """A head that cannot run a trial (no GPU) and GPU worker nodes added and killed at will."""

    def __init__(self, tmp_path: Path) -> None:
        self.ray = str(Path(sys.executable).parent / "ray")
        self.env = {**node_environ(), "PYTHONPATH": str(SRC)}
        port = free_port()
        self.address = f"127.0.0.1:{port}"
        self.groups = [start_head(self.env, f"--port={port}", "--node-ip-address=127.0.0.1", "--num-cpus=1",
                                   "--num-gpus=0", "--include-dashboard=false", "--disable-usage-stats")]
        self.tmp_path = tmp_path
        self.nodes: list[subprocess.Popen] = []

    def _gpus(self) -> float:
        status = subprocess.run([self.ray, "status", "--address", self.address], capture_output=True, text=True, env=self.env, timeout=60)
        used_total = [line.split()[0] for line in status.stdout.splitlines() if line.strip().endswith(" GPU")]
        return float(used_total[0].split("/")[1]) if used_total else 0.0

    def add_node(self) -> subprocess.Popen:
        command = [self.ray, "start", f"--address={self.address}", "--node-ip-address=127.0.0.1", "--num-cpus=2",
                   "--num-gpus=1", "--block", "--disable-usage-stats"]
        path = self.tmp_path / f"node-{len(self.nodes)}.log"
        log = path.open("w")
        node = subprocess.Popen(command, env=self.env, start_new_session=True, stdout=log, stderr=subprocess.STDOUT)
        self.groups.append(node.pid)
        deadline = time.monotonic() + 120
        # its own word that it joined (a killed node's GPU may still be counted for a while)
        while "Ray runtime started" not in path.read_text() or self._gpus() < 1.0:
            assert node.poll() is None and time.monotonic() < deadline, "the worker node did not join"
            time.sleep(1)
        self.nodes.append(node)
        return node

    def kill(self, node: subprocess.Popen) -> None:
        kill_groups(node.pid)

    def close(self) -> None:
        kill_groups(*self.groups)


@pytest.fixture
def elastic(tmp_path):
    cluster = _Elastic(tmp_path)
    try:
        yield cluster
    finally:
        cluster.close()


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _elastic_sweep(folder: Path, start_timeout: float, sleep: float = 0.5) -> Path:
    folder.mkdir(exist_ok=True)
    path = _user_sweep(folder, trials=6, concurrency=2, sleep=sleep)
    path.write_text(path.read_text().replace("worker_start_timeout: 120", f"worker_start_timeout: {start_timeout}"))
    return path


def _running_on(journal: Path, count: int) -> bool:
    try:
        trials = journal_study(journal, "u").trials
    except (KeyError, FileNotFoundError):
        return False
    return sum(t.state == TrialState.RUNNING and "hpo:placement" in t.user_attrs for t in trials) >= count


def _driver_idles_while_starved(process: subprocess.Popen, seconds: float = 4.0) -> float:
    """The driver's share of one core over ``seconds`` (a spinning loop takes most of one)."""
    before, start = _cpu_s(process.pid), time.monotonic()
    time.sleep(seconds)
    return (_cpu_s(process.pid) - before) / (time.monotonic() - start)


def test_at_zero_capacity_the_driver_waits_without_spinning_and_a_node_that_joins_is_used(elastic, tmp_path) -> None:
    """Race 2 and the elastic cluster of issue 26: the only GPU node is lost; the driver waits (it
    had spun at 100% CPU forever), and a node that joins later runs the rest of the sweep."""
    folder = tmp_path / "driver"
    path = _elastic_sweep(folder, start_timeout=300)
    first = elastic.add_node()
    process = _run_driver(folder, path, elastic.address, wait=False)
    journal = folder / "results" / "u" / "study.journal"
    deadline = time.monotonic() + 300
    while not _running_on(journal, 2):
        assert process.poll() is None and time.monotonic() < deadline, "no trial started"
        time.sleep(0.3)
    elastic.kill(first)
    time.sleep(3)  # the driver learns of the loss and retires its workers
    share = _driver_idles_while_starved(process)
    assert process.poll() is None and share < 0.25, f"the driver used {share:.0%} of a core with no worker to wait for"
    elastic.add_node()
    output, _ = process.communicate(timeout=600)
    assert process.returncode == 0, output[-4000:]
    study = journal_study(journal, "u")
    assert len(study.get_trials(states=(TrialState.COMPLETE,))) == 6  # the whole budget, on the node that joined
    assert all(t.user_attrs.get("hpo:interrupted") for t in study.get_trials(states=(TrialState.FAIL,)))
    assert "gained capacity" in output


def test_at_zero_capacity_past_worker_start_timeout_the_driver_exits_1_and_resume_finishes(elastic, tmp_path) -> None:
    folder = tmp_path / "driver"
    path = _elastic_sweep(folder, start_timeout=8, sleep=1.0)
    first = elastic.add_node()
    process = _run_driver(folder, path, elastic.address, wait=False)
    journal = folder / "results" / "u" / "study.journal"
    deadline = time.monotonic() + 300
    while not _running_on(journal, 2):  # both workers started: the 8 s are then the wait for a node alone
        assert process.poll() is None and time.monotonic() < deadline, "no trial started"
        time.sleep(0.3)
    elastic.kill(first)
    output, _ = process.communicate(timeout=300)
    assert process.returncode == 1, output[-4000:]
    assert "no Ray node could run a trial for" in output and "hpo resume" in output, output[-3000:]
    assert not journal_study(journal, "u").get_trials(states=(TrialState.RUNNING,))
    elastic.add_node()
    # the resumed run's workers start (TensorFlow's import) within the usual timeout, not the 8 s
    path.write_text(path.read_text().replace("worker_start_timeout: 8", "worker_start_timeout: 120"))
    resumed = _run_driver(folder, path, elastic.address)
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    assert len(journal_study(journal, "u").get_trials(states=(TrialState.COMPLETE,))) == 6


# -- the chaos run (benchmarks/chaos.py): here, so that its `ray start` cluster never runs beside another --


def test_a_chaos_run_keeps_every_invariant(tmp_path) -> None:
    """45 seconds of faults by benchmarks/chaos.py: a sweep on a 3-node `ray start` cluster with a
    PostgreSQL study under random faults (workers and nodes killed, nodes joining, the driver
    SIGKILLed or Ctrl+C'd and resumed, the database restarted), a fault every 3-6 s, checkpoints
    every 2 of 4 epochs; every invariant must hold. Longer runs: docs/reliability.md.

    A clean CI clone once met only 2 kinds in 4 faults (the kind was drawn from those possible at the
    moment, so the draws followed the timing): the kinds now come from a shuffled bag."""
    out = tmp_path / "chaos.json"
    result = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "chaos.py"), "--minutes", "0.75", "--fault-every", "3", "6",
         "--trials", "30", "--epochs", "4", "--sleep", "0.5", "--seed", "7", "--folder", str(tmp_path / "run"),
         "--json", str(out)],
        cwd=tmp_path, capture_output=True, text=True, timeout=900, env={**os.environ, "PYTHONPATH": TREE_PATH},
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-3000:]
    assert "invariants: all held" in result.stdout
    summary = json.loads(out.read_text())
    assert not summary["broken"]
    # seed 7's order of kinds: node_loss, driver_kill, worker_kill, pg_restart, node_join, ctrl_c (each kind
    # once before any again, whatever the timing; a kind not possible then keeps its turn for later). How
    # many faults fit in 45 s depends on the machine's speed: 4-5 here, and 3 on a loaded runner still
    # meet 3 kinds with the driver killed while its checkpointed trials ran.
    kinds = [fault["kind"] for fault in summary["faults"]]
    assert len(set(kinds)) >= 3 and "driver_kill" in kinds, summary["faults"]
    assert any(fault["interrupted"] for fault in summary["faults"] if fault["kind"] == "driver_kill"), summary
