"""What K Ray worker processes cost on this machine, before any trial runs in them: the CPU that K
idle actors take while they wait (Ray's own timers and polling in each process), and the CPU per
actor call (a call and its answer, all processes counted). The reason hpo's many-slot throughput
(benchmarks/throughput.py) falls short of the floor on 2 cores: at 64 slots the idle workers alone
take a quarter of the machine, and each trial's start, reports and end are calls like these.

Run: .venv/bin/python benchmarks/ray_worker_cost.py [--slots 16 32 64] [--idle-s 10] [--calls 5]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parent)]
from cpu_by_process import snapshot  # noqa: E402 (from beside this file)


def _cpu_s(pids: list[int] | None = None) -> float:
    """CPU seconds so far of ``pids`` (every process on the machine when None)."""
    seen = snapshot()
    return sum(cpu for pid, (_, cpu) in seen.items() if pids is None or pid in pids)


def measure(slots: int, idle_s: float, calls: int) -> dict[str, float]:
    """K actors of 2/K CPUs each (as ``concurrency: K`` on this machine): their idle CPU share and
    the CPU per call."""
    import ray as _ray

    @_ray.remote(num_cpus=2 / slots)
    class Idle:
        def pid(self) -> int:
            return os.getpid()

    actors = [Idle.remote() for _ in range(slots)]
    pids = _ray.get([a.pid.remote() for a in actors])
    time.sleep(2.0)  # the actors' own start settles
    machine, workers, start = _cpu_s(), _cpu_s(pids), time.monotonic()
    time.sleep(idle_s)
    elapsed = time.monotonic() - start
    idle_machine, idle_workers = (_cpu_s() - machine) / elapsed, (_cpu_s(pids) - workers) / elapsed
    machine, workers, start = _cpu_s(), _cpu_s(pids), time.monotonic()
    _ray.get([a.pid.remote() for a in actors for _ in range(calls)])
    n = slots * calls
    row = {
        "slots": slots,
        "idle_cores_workers": idle_workers,
        "idle_cores_machine": idle_machine,
        "call_ms_workers": 1000 * (_cpu_s(pids) - workers) / n,
        "call_ms_all": 1000 * (_cpu_s() - machine) / n,
        "calls_per_s": n / (time.monotonic() - start),
    }
    for actor in actors:
        _ray.kill(actor)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--slots", type=int, nargs="+", default=[16, 32, 64])
    parser.add_argument("--idle-s", type=float, default=10.0, help="how long the idle actors are watched")
    parser.add_argument("--calls", type=int, default=20, help="calls per actor for the per-call cost")
    args = parser.parse_args()
    import ray

    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    rows = [measure(k, args.idle_s, args.calls) for k in args.slots]
    ray.shutdown()
    print("| slots | idle workers' CPU (cores) | whole machine idle (cores) | CPU ms per call, workers | "
          "CPU ms per call, all | calls/s |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['slots']} | {r['idle_cores_workers']:.3f} | {r['idle_cores_machine']:.3f} | "
            f"{r['call_ms_workers']:.2f} | {r['call_ms_all']:.2f} | {r['calls_per_s']:.0f} |"
        )


if __name__ == "__main__":
    main()
