"""Where the CPU goes while hpo runs many slots of sleeping trials: CPU seconds by process kind
(the driver, the trial workers, Ray's raylet and GCS, other Ray processes), read from /proc
(Linux) before, during and after one run of ``benchmarks/throughput.py``'s hpo workload.

Run: .venv/bin/python benchmarks/throughput_cpu.py [--slots 16 64] [--trials 480]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE)]

import throughput  # noqa: E402 (the workload and hpo's run, from beside this file)

TICK = os.sysconf("SC_CLK_TCK")


def _kind(cmdline: str, pid: int) -> str:
    if pid == os.getpid():
        return "driver (hpo.run, this process)"
    for marker, kind in (("_PlacedWorker", "trial workers"), ("raylet", "raylet"), ("gcs_server", "gcs_server"),
                         ("ray::IDLE", "idle Ray workers"), ("ray", "other Ray processes")):
        if marker in cmdline:
            return kind
    return "other"


def _snapshot() -> dict[int, tuple[str, float]]:
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
        found[int(folder.name)] = (_kind(cmdline, int(folder.name)), (int(fields[11]) + int(fields[12])) / TICK)
    return found


def measure(slots: int, args: argparse.Namespace) -> None:
    before = _snapshot()
    seen: dict[int, tuple[str, float]] = {}
    stop = threading.Event()

    def note(snapshot: dict[int, tuple[str, float]]) -> None:
        """Processes that end keep their last reading; a Ray worker that ran hpo's trial worker
        stays one (its title changes back and forth)."""
        for pid, (kind, cpu) in snapshot.items():
            if seen.get(pid, ("", 0.0))[0] == "trial workers":
                kind = "trial workers"
            seen[pid] = (kind, cpu)

    def watch() -> None:
        while not stop.wait(0.25):
            note(_snapshot())

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        row = throughput.run_hpo(slots, "random", args, Path(tmp), memory=False)
        wall = time.perf_counter() - start
    stop.set()
    watcher.join()
    note(_snapshot())
    totals: dict[str, float] = {}
    for pid, (kind, cpu) in seen.items():
        totals[kind] = totals.get(kind, 0.0) + cpu - before.get(pid, (kind, 0.0))[1]
    cores = os.cpu_count() or 1
    print(f"\n{slots} slots: {row['trials']} trials, {row['trials'] / row['span_s']:.1f} trials/s, run {wall:.1f} s "
          f"({cores * wall:.0f} CPU-s on {cores} cores)\n")
    print("| process kind | CPU s | per trial ms |")
    print("|---|---|---|")
    for kind, cpu in sorted(totals.items(), key=lambda item: -item[1]):
        print(f"| {kind} | {cpu:.1f} | {1000 * cpu / row['trials']:.0f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slots", nargs="+", type=int, default=[16, 64])
    parser.add_argument("--trials", type=int, default=480)
    parser.add_argument("--reports", type=int, default=5)
    parser.add_argument("--sleep", type=float, default=0.2)
    args = parser.parse_args()
    for slots in args.slots:
        measure(slots, args)


if __name__ == "__main__":
    main()
