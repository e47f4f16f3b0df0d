"""When a trial function's slots would start more than 4 Ray worker processes per CPU of the
cluster, hpo suggests the `resources.trials_per_worker` that makes them 2 per CPU
(benchmarks/throughput.py: 64 slots on 2 CPUs run within 4% of the floor in 4 processes of 16
trials, and at 3-5x the floor in 64 processes)."""

from __future__ import annotations

import pytest

from hpo.executor._ray import suggested_trials_per_worker

# (slots, trials per worker now, the cluster's CPUs, the suggestion: None for none)
CASES = [
    (64, 1, 2, 16),  # 64 processes on 2 CPUs: 4 of 16 trials
    (32, 1, 2, 8),
    (16, 1, 2, 4),  # 16 processes: more than 4 per CPU
    (8, 1, 2, None),  # 8 processes: 4 per CPU, not more
    (9, 1, 2, 3),
    (64, 2, 2, 16),  # 32 processes of 2 are still too many
    (64, 16, 2, None),  # already 4 processes
    (32, 8, 2, None),
    (64, 1, 100, None),  # a cluster with the CPUs for them
    (64, 1, 1, 32),
    (5, 1, 0.5, 5),  # half a CPU: one process for all
    (4, 1, 0, None),  # no CPU count: nothing to say
]


@pytest.mark.parametrize(("slots", "per_worker", "cpus", "expected"), CASES)
def test_many_worker_processes_per_cpu_get_a_trials_per_worker_suggestion(slots, per_worker, cpus, expected) -> None:
    assert suggested_trials_per_worker(slots, per_worker, cpus) == expected
