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
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE)]

import throughput  # noqa: E402 (the workload and hpo's run, from beside this file)
from cpu_by_process import Watch, kind_of, table  # noqa: E402 (from beside this file)


def _kind(cmdline: str, pid: int) -> str:
    return "driver (hpo.run, this process)" if pid == os.getpid() else kind_of(cmdline)


def measure(slots: int, args: argparse.Namespace) -> None:
    watch = Watch(_kind)
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        row = throughput.run_hpo(slots, "random", args, Path(tmp), memory=False)
        wall = time.perf_counter() - start
    totals = watch.stop()
    cores = os.cpu_count() or 1
    print(f"\n{slots} slots: {row['trials']} trials, {row['trials'] / row['span_s']:.1f} trials/s, run {wall:.1f} s "
          f"({cores * wall:.0f} CPU-s on {cores} cores)\n")
    print(table(totals, row["trials"]))


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
