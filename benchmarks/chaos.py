"""A chaos run: a sweep on a local 3-node Ray cluster with a PostgreSQL study, under random faults.

Trial functions (``tests.cheap:checkpointing``) sleep per epoch and checkpoint every 2 epochs.
Every ``--fault-every`` seconds (a random wait between the two numbers) one fault, the kinds drawn
from a shuffled bag (each kind once, in a random order that ``--seed`` fixes, before any comes again;
one not possible at the moment waits for a later turn), so that a short run still meets several kinds:

  worker_kill   SIGKILL one trial worker process
  node_loss     kill a worker node (its whole process group: raylet, workers)
  node_join     start a worker node (when fewer than two run)
  driver_kill   SIGKILL the driver, then `hpo resume`
  pg_restart    stop PostgreSQL for a few seconds, then start it again
  ctrl_c        SIGINT the driver, then `hpo resume`

After each fault and at the end it checks the invariants: every COMPLETE trial's curve holds
each epoch once, 1..epochs; the budget is never exceeded, and at the end it is exact; at the end
nothing is RUNNING or WAITING and no checkpoint is left; work lost per interruption is at most
one checkpoint interval (epochs trained again by a configuration, from the trials' own log). It
prints a table: faults by kind, epochs lost, recovery time (from the fault until a trial reports
again), final state. Exit 0 when every invariant held.

Run (about 20 minutes; docs/reliability.md has a run's table):
    .venv/bin/python benchmarks/chaos.py --minutes 20
The tests run 45 seconds of faults: tests/test_cluster.py::test_a_chaos_run_keeps_every_invariant.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import textwrap
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]

from tests._postgres import PostgresServer  # noqa: E402 - after the path: the tests' throwaway server

RAY = str(Path(sys.executable).parent / "ray")
HPO = str(Path(sys.executable).parent / "hpo")
AUTH = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": "hpo-chaos-token-0123456789abcdef"}
EVERY_EPOCHS = 2  # the sweep's checkpoint interval
KINDS = ("worker_kill", "node_loss", "node_join", "driver_kill", "pg_restart", "ctrl_c")


def _env() -> dict[str, str]:
    drop = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "RAY_ADDRESS"}
    env = {k: v for k, v in os.environ.items() if k not in drop}
    return {**env, "PYTHONPATH": f"{ROOT / 'src'}:{ROOT}", "RAY_USAGE_STATS_ENABLED": "0", "NO_COLOR": "1", **AUTH}


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _kill_group(pid: int, sig: int = signal.SIGKILL) -> None:
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        pass


class Cluster:
    """A head and worker nodes started with `ray start`, each in a session of its own."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.address = f"127.0.0.1:{_free_port()}"
        self.head = self._start(["--head", f"--port={self.address.split(':')[1]}", "--num-cpus=2",
                                 "--include-dashboard=false"], "head")
        self.nodes: list[subprocess.Popen] = []

    def _start(self, args: list[str], name: str) -> subprocess.Popen:
        log = (self.folder / f"{name}.log").open("w")
        command = [RAY, "start", "--node-ip-address=127.0.0.1", "--block", "--disable-usage-stats", *args]
        process = subprocess.Popen(command, env=_env(), start_new_session=True, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 120
        while "Ray runtime started" not in (self.folder / f"{name}.log").read_text():
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"`ray start` ({name}) did not come up: see {self.folder / f'{name}.log'}")
            time.sleep(0.5)
        return process

    def add_node(self) -> None:
        self.nodes.append(self._start([f"--address={self.address}", "--num-cpus=2"], f"node-{len(self.nodes)}"))

    def lose_node(self, rng: random.Random) -> None:
        node = self.nodes.pop(rng.randrange(len(self.nodes)))
        _kill_group(node.pid)
        node.wait(timeout=60)

    def close(self) -> None:
        for process in (*self.nodes, self.head):
            _kill_group(process.pid)


def _worker_pids() -> list[int]:
    """Processes of hpo's trial-worker actors on this machine (their command line is Ray's)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "cmdline").read_bytes().startswith(b"ray::_PlacedWorker"):
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


@dataclass
class Fault:
    kind: str
    at: float
    recovery_s: float | None = None
    interrupted: int = 0  # trials it cut short (marked interrupted after it, before the next fault)


@dataclass
class Run:
    args: argparse.Namespace
    folder: Path
    url: str
    sweep: Path
    started: float = field(default_factory=time.monotonic)
    driver: subprocess.Popen | None = None
    runs: int = 0
    faults: list[Fault] = field(default_factory=list)
    broken: list[str] = field(default_factory=list)

    def study(self) -> Any:
        import optuna

        return optuna.load_study(study_name="chaos", storage=self.url)

    def start_driver(self, command: str) -> None:
        self.runs += 1
        out = (self.folder / f"driver-{self.runs}.log").open("w")
        self.driver = subprocess.Popen([HPO, command, str(self.sweep)], cwd=self.folder, env=_env(),
                                       stdout=out, stderr=subprocess.STDOUT, start_new_session=True)

    def has_study(self) -> bool:
        """Whether the driver got as far as creating the study (a driver killed in its start-up did not)."""
        import optuna

        try:
            return "chaos" in optuna.get_all_study_names(self.url)
        except Exception:  # noqa: BLE001 - the server is down: not known yet, so not there
            return False

    def _count(self, per_trial: Callable[[Any], int]) -> int:
        """``per_trial`` summed over the study's trials (-1 while the server is down)."""
        try:
            return sum(per_trial(t) for t in self.study().trials)
        except Exception:  # noqa: BLE001 - the server is down or the study not there yet: nothing to count
            return -1

    def interrupted(self) -> int:
        """Trials the study marks as interrupted."""
        return self._count(lambda t: bool(t.user_attrs.get("hpo:interrupted")))

    def reported(self) -> int:
        """Epochs reported, over all trials."""
        return self._count(lambda t: len(t.intermediate_values))


def _sweep(folder: Path, url: str, address: str, args: argparse.Namespace) -> Path:
    logs = folder / "logs"
    logs.mkdir(exist_ok=True)
    path = folder / "chaos.yaml"
    path.write_text(textwrap.dedent(f"""
        name: chaos
        data: {{source: digits}}
        train: {{epochs: {args.epochs}}}
        objective: {{metric: val_accuracy, function: "tests.cheap:checkpointing"}}
        space:
          params:
            x: {{type: float, low: 0.0, high: 1.0}}
            epochs: {args.epochs}
            sleep: {args.sleep}
            log_dir: {logs}
        sampler: {{name: random, seed: {args.seed}}}
        pruner: {{name: none}}
        budget: {{trials: {args.trials}, max_interruptions: 50, max_consecutive_failures: 50}}
        resources: {{concurrency: 4, address: "{address}", worker_start_timeout: 600}}
        checkpoint: {{every_epochs: {EVERY_EPOCHS}}}
        storage: "{url}"
        results_dir: {folder / "results"}
    """))
    return path


# -- the invariants ------------------------------------------------------------------------------


def _counted(trials: list[Any]) -> int:
    from optuna.trial import TrialState

    retried = {t.user_attrs.get("hpo:retry_of") for t in trials}
    return sum(1 for t in trials if t.state != TrialState.FAIL or t.number not in retried)


def _check(run: Run, final: bool) -> None:
    from optuna.trial import TrialState

    try:
        trials = run.study().trials
    except Exception as exc:  # noqa: BLE001 - mid-run the server may be restarting: checked at the next fault
        if final:
            run.broken.append(f"the study cannot be read at the end: {exc}")
        return
    epochs = set(range(1, run.args.epochs + 1))
    for t in trials:
        if t.state == TrialState.COMPLETE and set(t.intermediate_values) != epochs:
            run.broken.append(f"trial {t.number} is COMPLETE with epochs {sorted(t.intermediate_values)}")
    finished = [t for t in trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    if len(finished) > run.args.trials:
        run.broken.append(f"{len(finished)} trials finished, more than the budget of {run.args.trials}")
    if not final:
        return
    if len(finished) != run.args.trials or _counted(trials) != run.args.trials:
        run.broken.append(f"the budget is not exact: {len(finished)} finished, {_counted(trials)} counted")
    left = [t.number for t in trials if t.state in (TrialState.RUNNING, TrialState.WAITING)]
    if left:
        run.broken.append(f"trials left RUNNING or WAITING: {left}")
    folder = run.folder / "results" / "chaos" / "checkpoints"
    orphans = sorted(p.name for p in folder.glob("*")) if folder.exists() else []
    if orphans:
        run.broken.append(f"checkpoints left behind: {orphans}")


def _lost_epochs(run: Run) -> tuple[int, list[str]]:
    """Epochs trained again, over all configurations, and the configurations that lost more than one
    checkpoint interval per interruption: from the trials' own log of the epochs they finished,
    a configuration (a trial and its re-runs) that ends after E epochs trained E plus what it lost."""
    trials = {t.number: t for t in run.study().trials}
    trained: dict[int, list[int]] = {}
    for line in (run.folder / "logs" / "epochs").read_text().splitlines():
        number, epoch = map(int, line.split())
        trained.setdefault(number, []).append(epoch)

    def root(number: int) -> int:
        earlier = trials[number].user_attrs.get("hpo:retry_of")
        return number if earlier is None else root(int(earlier))

    chains: dict[int, list[int]] = {}
    for number in trials:
        chains.setdefault(root(number), []).append(number)
    lost, over = 0, []
    for first, numbers in chains.items():
        last = trials[max(numbers)]
        if last.state.name != "COMPLETE":
            continue
        runs = []
        for number in numbers:
            epochs = trained.get(number, [])
            # a trial's own training only (the best trial is re-trained from epoch 1 after the sweep)
            runs.append(len(epochs[: next((i for i in range(1, len(epochs)) if epochs[i] <= epochs[i - 1]), len(epochs))]))
        again = sum(runs) - len(last.intermediate_values)
        interruptions = sum(1 for number in numbers if trials[number].user_attrs.get("hpo:interrupted"))
        lost += again
        if again > EVERY_EPOCHS * interruptions:
            over.append(f"configuration of trial {first} trained {again} epochs again over {interruptions} interruptions")
    return lost, over


# -- faults --------------------------------------------------------------------------------------


class FaultBag:
    """The order of the fault kinds: each kind once, shuffled, before any kind comes again.

    The order depends on the seed alone, not on what the run was doing: a kind that cannot happen at
    the moment (a node joining when two run) is passed over and stays in the bag for a later turn.
    """

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._bag: list[str] = []

    def take(self, possible: set[str]) -> str:
        if not any(kind in possible for kind in self._bag):
            self._bag += self._rng.sample(KINDS, len(KINDS))
        kind = next(kind for kind in self._bag if kind in possible)
        self._bag.remove(kind)
        return kind


def _possible(cluster: Cluster) -> set[str]:
    return {k for k in KINDS if not (k == "node_join" and len(cluster.nodes) >= 2)
            and not (k == "node_loss" and not cluster.nodes)
            and not (k == "worker_kill" and not _worker_pids())}


def _inject(run: Run, cluster: Cluster, server: PostgresServer, kind: str, rng: random.Random) -> tuple[Fault, int]:
    """Inject one fault; with it, the epochs reported when it took effect (a killed driver's last
    reports land while it is killed, so they are counted once it is dead: its recovery is the new
    driver's first report, not the old one's last)."""
    fault = Fault(kind, time.monotonic() - run.started)
    driver_fault = kind in ("driver_kill", "ctrl_c")
    reported = -1 if driver_fault else run.reported()  # (a driver fault counts once the driver is dead)
    assert run.driver is not None
    if kind == "worker_kill":
        os.kill(rng.choice(_worker_pids()), signal.SIGKILL)
    elif kind == "node_loss":
        cluster.lose_node(rng)
    elif kind == "node_join":
        cluster.add_node()
    elif kind == "pg_restart":
        server.stop()
        time.sleep(rng.uniform(2, 6))
        server.start()
    elif driver_fault:
        if kind == "driver_kill":
            _kill_group(run.driver.pid)
        else:
            os.killpg(run.driver.pid, signal.SIGINT)
        try:
            run.driver.wait(timeout=120)
        except subprocess.TimeoutExpired:
            _kill_group(run.driver.pid)
            run.driver.wait(timeout=60)
        reported = run.reported()
        if run.driver.returncode == 0:  # it had just finished: nothing to resume
            return fault, reported
        # what a user does: `hpo resume`, or `hpo run` again when the driver died before it created the
        # study (`hpo resume` refuses that: "no study ... yet; run `hpo run` first")
        run.start_driver("resume" if run.has_study() else "run")
    return fault, reported


def _recovered(run: Run, fault: Fault, before: int, deadline: float) -> None:
    """Seconds from the fault until some trial reported again (None: the sweep ended first)."""
    while time.monotonic() < deadline and run.driver is not None and run.driver.poll() is None:
        if run.reported() > before:
            fault.recovery_s = time.monotonic() - run.started - fault.at
            return
        time.sleep(0.5)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=20.0, help="inject faults for this long, then let it finish")
    parser.add_argument("--fault-every", type=float, nargs=2, default=(30.0, 60.0), metavar=("MIN_S", "MAX_S"))
    parser.add_argument("--trials", type=int, default=None, help="the budget (default: about what the time allows)")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--sleep", type=float, default=1.0, help="seconds per epoch")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--folder", type=Path, default=None, help="keep the run's files here (default: a temporary folder)")
    parser.add_argument("--json", type=Path, default=None, help="write the faults and the result here")
    args = parser.parse_args()
    if args.trials is None:  # 4 slots busy for the time given, at epochs x sleep seconds a trial
        args.trials = max(8, int(args.minutes * 60 * 4 / (args.epochs * args.sleep)))
    import tempfile

    folder = args.folder or Path(tempfile.mkdtemp(prefix="hpo-chaos-"))
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(args.seed)  # the waits and the order of the kinds
    within = random.Random(args.seed + 1)  # the choices inside a fault (which worker, which node, how long)
    bag = FaultBag(rng)
    cut: list[int] = []  # trials marked interrupted before each fault, and at the end
    server = PostgresServer()
    cluster = Cluster(folder)
    try:
        cluster.add_node()
        cluster.add_node()
        run = Run(args, folder, server.url, _sweep(folder, server.url, cluster.address, args))
        run.start_driver("run")
        end_faults = time.monotonic() + 60 * args.minutes
        while time.monotonic() < end_faults:
            wait_until = time.monotonic() + rng.uniform(*args.fault_every)
            while time.monotonic() < wait_until and run.driver is not None and run.driver.poll() is None:
                time.sleep(0.5)
            assert run.driver is not None
            if run.driver.poll() is not None or time.monotonic() >= end_faults:
                break
            cut.append(run.interrupted())
            fault, before = _inject(run, cluster, server, bag.take(_possible(cluster)), within)
            run.faults.append(fault)
            print(f"[{fault.at:7.1f}s] {fault.kind}", flush=True)
            _recovered(run, fault, before, time.monotonic() + 300)
            _check(run, final=False)
        assert run.driver is not None
        code = run.driver.wait(timeout=60 * 60)
        # the trials each fault cut short: those marked interrupted after it, before the next one (a
        # lost worker's trial is marked once the driver hears of the death, which can be after another
        # trial reported again)
        cut.append(run.interrupted())
        for i, fault in enumerate(run.faults):
            fault.interrupted = max(0, cut[i + 1] - cut[i]) if min(cut[i], cut[i + 1]) >= 0 else 0
        if code != 0:
            run.broken.append(f"the last driver exited {code} (see {folder}/driver-{run.runs}.log)")
        _check(run, final=True)
        if not run.has_study():
            print("invariants BROKEN:\n  " + "\n  ".join(run.broken))
            return 1
        lost, over = _lost_epochs(run)
        run.broken += over
        _report(run, lost)
        if args.json:
            args.json.write_text(json.dumps({"faults": [vars(f) for f in run.faults], "lost_epochs": lost,
                                             "broken": run.broken, "trials": args.trials}, indent=2))
        return 0 if not run.broken else 1
    finally:
        cluster.close()
        server.close()


def _report(run: Run, lost: int) -> None:
    from optuna.trial import TrialState

    trials = run.study().trials
    kinds = Counter(f.kind for f in run.faults)
    recoveries = [f.recovery_s for f in run.faults if f.recovery_s is not None]
    states = Counter(t.state.name + (" (interrupted)" if t.user_attrs.get("hpo:interrupted") else "") for t in trials)
    resumed = sum(1 for t in trials if t.user_attrs.get("hpo:resumed_from"))
    print()
    print("| fault | count | trials cut short |")
    print("|---|---|---|")
    for kind in KINDS:
        cut = sum(f.interrupted for f in run.faults if f.kind == kind)
        print(f"| {kind} | {kinds.get(kind, 0)} | {cut} |")
    print()
    print(f"faults: {len(run.faults)}; drivers: {run.runs}; epochs trained again (lost): {lost}, "
          f"at most {EVERY_EPOCHS} per interruption")
    if recoveries:
        print(f"recovery (fault -> a trial reports again): median {statistics.median(recoveries):.1f} s, "
              f"max {max(recoveries):.1f} s")
    complete = sum(1 for t in trials if t.state == TrialState.COMPLETE)
    print(f"final state: {dict(states)}; {complete} of a budget of {run.args.trials} complete; "
          f"{resumed} re-runs continued from a checkpoint")
    print("invariants: all held" if not run.broken else "invariants BROKEN:\n  " + "\n  ".join(run.broken))


if __name__ == "__main__":
    sys.exit(main())
