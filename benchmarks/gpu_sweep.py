"""A whole hpo sweep on a GPU host: ``hpo run`` with 1 and K trials per GPU, read back from its study.

For each packing it runs ``hpo run SWEEP --gpus-per-trial 1/K --concurrency K x GPUs`` in a fresh
process (Ray started by hpo, the driver's own study, Optuna's pruner), samples the GPUs through NVML
meanwhile, then reads the study the run left: trials by state, epochs trained, out-of-memory
failures, which GPU each trial ran on (the placement the worker recorded) and how many trials ran at
once, the slots' busy share between the first start and the last end, trials per hour, every GPU
process's peak memory against its share, mean GPU utilization, the best validation value and its
test accuracy.

Run on a host with hpo installed (``pip install -e ".[jax]"`` for Keras on JAX):

    KERAS_BACKEND=jax python benchmarks/gpu_sweep.py --packing 1 4 --trials 16

Without a GPU, ``RAY_OVERRIDE_RESOURCES='{"GPU": 1}'`` gives Ray a logical one (trials then train
on the CPU; memory and utilization are not measured); ``tests/test_benchmarks.py`` does that on a
tiny setting.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _nvml import NvmlSampler  # beside this script

REPO = Path(__file__).resolve().parents[1]


def _gpus(requested: int | None, nvml: NvmlSampler) -> int:
    if requested:
        return requested
    if nvml.total_mb:
        return len(nvml.total_mb)
    override = json.loads(os.environ.get("RAY_OVERRIDE_RESOURCES", "{}"))
    return max(1, int(override.get("GPU", 1)))


def _most_at_once(intervals: list[tuple[float, float]]) -> int:
    edges = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals])
    running = most = 0
    for _, step in edges:
        running += step
        most = max(most, running)
    return most


def _read_study(sweep: Path, folder: Path) -> dict[str, Any]:
    """What the run left in its study and best.json, read as `hpo status`/`hpo best` read them."""
    import hpo
    from hpo import _constants
    from hpo.results import load_best

    result = hpo.load(sweep, results_dir=str(folder))
    trials = result.study.get_trials(deepcopy=False)
    ended = [t for t in trials if t.datetime_start and t.datetime_complete]
    intervals = [(t.datetime_start.timestamp(), t.datetime_complete.timestamp()) for t in ended]
    span = max(e for _, e in intervals) - min(s for s, _ in intervals) if intervals else 0.0
    placements = [t.user_attrs.get(_constants.ATTR_PLACEMENT) or {} for t in trials]
    best_record = load_best(result.sweep, result.study) or {}
    states = [t.state.name for t in trials]
    return {
        "complete": states.count("COMPLETE"),
        "pruned": states.count("PRUNED"),
        "fail": states.count("FAIL"),
        "oom": sum("out of memory" in str(t.user_attrs.get(_constants.ATTR_FAIL_REASON, "")).lower() for t in trials),
        "epochs": sum(int(t.user_attrs.get(_constants.ATTR_EPOCHS, 0)) for t in trials),
        "on_gpu": sum(bool(p.get("gpus")) for p in placements),
        "gpu_ids": sorted({g for p in placements for g in p.get("gpus", [])}),
        "worker_pids": len({p["pid"] for p in placements if "pid" in p}),
        "most_at_once": _most_at_once(intervals),
        "sweep_s": span,
        "busy_s": sum(e - s for s, e in intervals),
        "best_val": best_record.get("objective", {}).get("value"),
        "test_accuracy": best_record.get("test_metrics", {}).get("test_accuracy"),
    }


def run_packing(sweep: Path, per_gpu: int, gpus: int, trials: int, out: Path, nvml_every: float) -> dict[str, Any]:
    """One ``hpo run`` with ``per_gpu`` trials sharing each GPU; its row of the table."""
    concurrency = per_gpu * gpus
    folder = out / f"per_gpu_{per_gpu}"
    command = [sys.executable, "-m", "hpo", "run", str(sweep), "--trials", str(trials), "--concurrency", str(concurrency),
               "--gpus-per-trial", f"{1 / per_gpu:g}", "--results-dir", str(folder), "--new-study"]
    start = time.perf_counter()
    with NvmlSampler(nvml_every) as nvml:
        done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"hpo run failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    study = _read_study(sweep, folder)
    share_mb = [total / per_gpu for total in nvml.total_mb]
    finished = study["complete"] + study["pruned"]
    return {
        "per_gpu": per_gpu,
        "concurrency": concurrency,
        **study,
        "wall_s": wall,
        "trials_per_hour": 3600 * finished / study["sweep_s"] if study["sweep_s"] else 0.0,
        "slots_busy": study["busy_s"] / (concurrency * study["sweep_s"]) if study["sweep_s"] else 0.0,
        "share_mb": min(share_mb) if share_mb else None,
        "peak_process_mb": max(nvml.process_peak_mb.values()) if nvml.process_peak_mb else None,
        "gpu_processes": len(nvml.process_peak_mb) if nvml.total_mb else None,
        "most_gpu_processes": max(nvml.busy_processes, default=0) if nvml.total_mb else None,
        "gpu_util_pct": statistics.mean(nvml.utilization) if nvml.utilization else None,
    }


def _fmt(value: Any, spec: str = "") -> str:
    if value is None:
        return "-"
    return format(value, spec) if spec else str(value)


_COLUMNS = [
    ("trials per GPU", "per_gpu", ""), ("concurrency", "concurrency", ""), ("complete", "complete", ""),
    ("pruned", "pruned", ""), ("fail (OOM)", None, ""), ("epochs", "epochs", ""),
    ("trials on a GPU", "on_gpu", ""), ("most trials at once", "most_at_once", ""),
    ("process wall s", "wall_s", ".1f"), ("sweep s", "sweep_s", ".1f"), ("trials/hour", "trials_per_hour", ".0f"),
    ("slots busy", "slots_busy", ".0%"), ("GPU processes (most at once)", None, ""),
    ("share MiB", "share_mb", ".0f"), ("peak process MiB", "peak_process_mb", ".0f"),
    ("mean GPU util %", "gpu_util_pct", ".1f"), ("best val", "best_val", ".4f"), ("test acc", "test_accuracy", ".4f"),
]


def _cells(row: dict[str, Any]) -> list[str]:
    cells = []
    for title, key, spec in _COLUMNS:
        if title == "fail (OOM)":
            cells.append(f"{row['fail']} ({row['oom']})")
        elif title.startswith("GPU processes"):
            cells.append("-" if row["gpu_processes"] is None else f"{row['gpu_processes']} ({row['most_gpu_processes']})")
        else:
            cells.append(_fmt(row[key], spec))
    return cells


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sweep", type=Path, default=REPO / "sweeps" / "digits_cnn.yaml")
    parser.add_argument("--packing", type=int, nargs="+", default=[1, 4], help="trials per GPU, one run each")
    parser.add_argument("--trials", type=int, default=16)
    parser.add_argument("--gpus", type=int, default=None, help="GPUs to use (default: every GPU NVML sees)")
    parser.add_argument("--out", type=Path, default=None, help="results folder (default: a temporary one)")
    parser.add_argument("--json", type=Path, default=None, help="also write the rows here")
    args = parser.parse_args(argv)
    out = args.out or Path(tempfile.mkdtemp(prefix="hpo-gpu-sweep-"))
    gpus = _gpus(args.gpus, NvmlSampler())
    print(f"{args.sweep.name}: {args.trials} trials per run on {gpus} GPU(s), backend "
          f"{os.environ.get('KERAS_BACKEND', 'tensorflow')}, results in {out}", flush=True)
    print("| " + " | ".join(title for title, _, _ in _COLUMNS) + " |", flush=True)
    print("|" + "---|" * len(_COLUMNS), flush=True)
    rows = []
    for per_gpu in args.packing:
        row = run_packing(args.sweep.resolve(), per_gpu, gpus, args.trials, out, 0.25)
        rows.append(row)
        print("| " + " | ".join(_cells(row)) + " |", flush=True)
        if args.json:
            args.json.write_text(json.dumps(rows, indent=2))
    return rows


if __name__ == "__main__":
    main()
