"""CPU seconds by process kind while a command runs: the trial workers, the driver, Ray's own
processes, peers' processes, read from /proc (Linux) every quarter second; a process that ends
keeps its last reading (one that lives less than that may be missed). What a 2-core machine's CPU
went to, beside the command's own table.

Run: .venv/bin/python benchmarks/cpu_by_process.py -- COMMAND [ARGS...]
e.g. (cd benchmarks/compare) ../../.venv/bin/python ../cpu_by_process.py -- \\
         ../../.venv/bin/python ../compare.py --peers hpo --seeds 0 --code function
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")
# (a marker in the command line, the kind): the first that matches names the process
KINDS = (
    ("_PlacedWorker", "trial workers"),
    ("--child hpo", "hpo driver"),
    ("-m hpo", "hpo driver"),
    ("bin/hpo ", "hpo driver"),
    ("--child optuna", "Optuna processes"),
    ("multiprocessing.spawn", "Optuna processes"),  # compare.py's optuna-par workers
    ("raylet", "raylet"),
    ("gcs_server", "gcs_server"),
    ("ray::IDLE", "idle Ray workers"),
    ("ray", "other Ray processes"),
)

Snapshot = dict[int, tuple[str, float]]


def kind_of(cmdline: str) -> str:
    return next((kind for marker, kind in KINDS if marker in cmdline), "other")


def snapshot(kind: Callable[[str, int], str] = lambda cmdline, pid: kind_of(cmdline)) -> Snapshot:
    """Each process's kind and CPU seconds (user + system) so far."""
    found = {}
    for folder in Path("/proc").iterdir():
        if not folder.name.isdigit():
            continue
        try:
            cmdline = (folder / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            fields = (folder / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        found[int(folder.name)] = (kind(cmdline, int(folder.name)), (int(fields[11]) + int(fields[12])) / TICK)
    return found


class Watch:
    """CPU by kind from its start to its stop. A Ray worker that ran hpo's trial worker stays one
    (its title changes back and forth), and no process goes back to "other"."""

    def __init__(self, kind: Callable[[str, int], str] = lambda cmdline, pid: kind_of(cmdline)) -> None:
        self._kind = kind
        self._before = snapshot(kind)
        self._seen: Snapshot = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def _note(self, current: Snapshot) -> None:
        for pid, (kind, cpu) in current.items():
            known = self._seen.get(pid, ("other", 0.0))[0]
            if known == "trial workers" or (known != "other" and kind == "other"):
                kind = known  # a process keeps the kind it was once seen as (a forked child before its exec)
            self._seen[pid] = (kind, cpu)

    def _watch(self) -> None:
        while not self._stop.wait(0.25):
            self._note(snapshot(self._kind))

    def stop(self) -> dict[str, float]:
        """CPU seconds by kind since the start."""
        self._stop.set()
        self._thread.join()
        self._note(snapshot(self._kind))
        totals: dict[str, float] = {}
        for pid, (kind, cpu) in self._seen.items():
            totals[kind] = totals.get(kind, 0.0) + cpu - self._before.get(pid, (kind, 0.0))[1]
        return {kind: cpu for kind, cpu in totals.items() if cpu > 0}


def table(totals: dict[str, float], per: int | None = None, per_what: str = "trial") -> str:
    rows = ["| process kind | CPU s |" + (f" per {per_what} ms |" if per else ""),
            "|---|---|" + ("---|" if per else "")]
    for kind, cpu in sorted(totals.items(), key=lambda item: -item[1]):
        rows.append(f"| {kind} | {cpu:.1f} |" + (f" {1000 * cpu / per:.0f} |" if per else ""))
    return "\n".join(rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", nargs=argparse.REMAINDER, help="the command to run, after --")
    command = parser.parse_args().command
    command = command[1:] if command[:1] == ["--"] else command
    if not command:
        parser.error("give the command to run after --")
    this = os.getpid()
    watch = Watch(lambda cmdline, pid: "this script" if pid == this else kind_of(cmdline))
    start = time.perf_counter()
    code = subprocess.call(command)
    wall = time.perf_counter() - start
    totals = watch.stop()
    totals.pop("this script", None)
    cores = os.cpu_count() or 1
    print(f"\nrun {wall:.1f} s ({cores * wall:.0f} CPU-s on {cores} cores), {sum(totals.values()):.1f} CPU-s used\n")
    print(table(totals))
    return code


if __name__ == "__main__":
    sys.exit(main())
