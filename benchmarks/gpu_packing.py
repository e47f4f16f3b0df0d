"""Packing small-model trials onto one GPU: 1, 2 and 4 trial processes per GPU, each capped at its
share by the same code the executor's workers run (``hpo.gpu.limit_gpu_memory``).

For each packing it reports the trials' wall time and trials per hour, every process's peak GPU
memory (from the backend's allocator and from NVML) against its cap, the mean GPU utilization
sampled through NVML, out-of-memory failures and the mean final validation accuracy.

It starts the trial processes itself and needs only Python with Keras on JAX (or TensorFlow),
numpy and ``nvidia-ml-py``: no Ray, no Optuna, no package registry. On a bare GPU host, carry the
Keras wheel (and namex, optree) and run:

    KERAS_BACKEND=jax python benchmarks/gpu_packing.py --packing 1 2 4 --trials 8 --epochs 4

Without a GPU it runs the same trials on the CPU (memory and utilization are then not measured);
``tests/test_benchmarks.py`` does that on a tiny setting.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import queue
import statistics
import sys
import time
import types
from pathlib import Path
from typing import Any

from _nvml import NvmlSampler  # beside this script

SRC = Path(__file__).resolve().parents[1] / "src"


def _hpo_gpu() -> types.ModuleType:
    """``hpo.gpu``: from the installed hpo, or straight from ``src/`` on a host without hpo's other
    dependencies (``hpo.gpu`` itself needs none of them)."""
    try:
        import hpo.gpu
    except ImportError:
        for name in [n for n in sys.modules if n == "hpo" or n.startswith("hpo.")]:
            del sys.modules[name]
        package = types.ModuleType("hpo")
        package.__path__ = [str(SRC / "hpo")]
        sys.modules["hpo"] = package
        import hpo.gpu
    return hpo.gpu


def _data(samples: int, size: int, seed: int = 0) -> tuple[Any, ...]:
    """Seeded images: 10 class prototypes plus noise (learnable, nothing downloaded)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    prototypes = rng.random((10, size, size, 3)).astype("float32")
    y = rng.integers(0, 10, samples)
    x = (prototypes[y] + rng.normal(0.0, 0.5, (samples, size, size, 3))).astype("float32")
    cut = int(samples * 0.8)
    return x[:cut], y[:cut], x[cut:], y[cut:]


def _configuration(index: int) -> dict[str, Any]:
    """The i-th trial's hyperparameters: different models, as a sweep would try (each compiles anew)."""
    filters = (16, 32, 64, 32)[index % 4]
    return {"filters": filters, "dense": (64, 128, 256)[index % 3], "learning_rate": (3e-3, 1e-3, 3e-4)[index % 3], "batch_size": 128}


def _train(keras: Any, data: tuple[Any, ...], config: dict[str, Any], epochs: int) -> float:
    x, y, xv, yv = data
    model = keras.Sequential([
        keras.Input(shape=x.shape[1:]),
        keras.layers.Conv2D(config["filters"], 3, padding="same", activation="relu"),
        keras.layers.MaxPooling2D(),
        keras.layers.Conv2D(config["filters"] * 2, 3, padding="same", activation="relu"),
        keras.layers.MaxPooling2D(),
        keras.layers.Flatten(),
        keras.layers.Dense(config["dense"], activation="relu"),
        keras.layers.Dense(10, activation="softmax"),
    ])
    model.compile(optimizer=keras.optimizers.Adam(config["learning_rate"]), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, validation_data=(xv, yv), epochs=epochs, batch_size=config["batch_size"], verbose=0)
    accuracy = float(history.history["val_accuracy"][-1])
    keras.backend.clear_session(free_memory=True)
    return accuracy


def _peak_allocator_mb(keras: Any) -> float | None:
    """The backend allocator's peak bytes in use on the first GPU, in MiB (None on a CPU)."""
    if keras.backend.backend() == "jax":
        import jax

        gpus = [d for d in jax.devices() if d.platform == "gpu"]
        stats = gpus[0].memory_stats() if gpus else None
        return stats["peak_bytes_in_use"] / 2**20 if stats else None
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        if tf.config.list_logical_devices("GPU"):
            return tf.config.experimental.get_memory_info("GPU:0")["peak"] / 2**20
    return None


def worker(fraction: float, tasks: Any, results: Any, epochs: int, samples: int, size: int) -> None:
    """One trial process: cap this process at ``fraction`` of the GPU, then train trials until told to stop."""
    cap = _hpo_gpu().limit_gpu_memory(fraction)  # before Keras imports its backend
    import keras

    data = _data(samples, size)
    while True:
        index = tasks.get()
        if index is None:
            break
        start = time.perf_counter()
        try:
            accuracy = _train(keras, data, _configuration(index), epochs)
            results.put({"trial": index, "pid": os.getpid(), "seconds": time.perf_counter() - start, "val_accuracy": accuracy, "oom": False})
        except Exception as exc:  # noqa: BLE001 - a trial that fails is data for this benchmark
            oom = _hpo_gpu().is_out_of_memory(exc)
            results.put({"trial": index, "pid": os.getpid(), "seconds": time.perf_counter() - start, "error": f"{type(exc).__name__}: {str(exc)[:200]}", "oom": oom})
    results.put({"pid": os.getpid(), "peak_allocator_mb": _peak_allocator_mb(keras), "cap": cap})


def run_packing(per_gpu: int, trials: int, epochs: int, samples: int, size: int) -> dict[str, Any]:
    """``trials`` trials through ``per_gpu`` processes sharing GPU 0, each capped at 1/per_gpu."""
    ctx = multiprocessing.get_context("spawn")
    tasks, results = ctx.Queue(), ctx.Queue()
    for index in range(trials):
        tasks.put(index)
    for _ in range(per_gpu):
        tasks.put(None)
    processes = [ctx.Process(target=worker, args=(1.0 / per_gpu, tasks, results, epochs, samples, size)) for _ in range(per_gpu)]
    start = time.perf_counter()
    with NvmlSampler(indices=[0]) as sampler:  # the GPU the trials share
        for process in processes:
            process.start()
        rows, finals = [], []
        while len(finals) < per_gpu:
            try:
                item = results.get(timeout=1.0)
            except queue.Empty:
                if not any(p.is_alive() for p in processes):
                    break
                continue
            (finals if "peak_allocator_mb" in item else rows).append(item)
        wall = time.perf_counter() - start
    for process in processes:
        process.join(timeout=60)
    done = [r for r in rows if "error" not in r]
    peaks = [f["peak_allocator_mb"] for f in finals if f["peak_allocator_mb"] is not None]
    return {
        "per_gpu": per_gpu,
        "trials": trials,
        "completed": len(done),
        "oom": sum(r["oom"] for r in rows),
        "errors": sorted({r["error"] for r in rows if "error" in r})[:3],
        "wall_s": round(wall, 1),
        "trials_per_hour": round(3600 * len(done) / wall, 1) if wall else 0.0,
        "mean_trial_s": round(statistics.mean(r["seconds"] for r in done), 1) if done else None,
        "cap_fraction": round(1.0 / per_gpu, 3),
        "cap_mb": round(sampler.total_mb[0] / per_gpu) if sampler.total_mb else None,
        "peak_allocator_mb_max": round(max(peaks)) if peaks else None,
        "peak_nvml_process_mb_max": round(max(sampler.process_peak_mb.values())) if sampler.process_peak_mb else None,
        "mean_gpu_util_pct": round(statistics.mean(sampler.utilization), 1) if sampler.utilization else None,
        "mean_val_accuracy": round(statistics.mean(r["val_accuracy"] for r in done), 3) if done else None,
    }


def _cap_probe(fraction: float, results: Any) -> None:
    """In a fresh process capped at ``fraction``: allocate 1.5x the cap on the GPU and report whether
    the backend refused it (the cap is enforced) and whether half the cap fits."""
    gpu = _hpo_gpu()
    try:
        total = gpu.total_memory_mb()[0]
    except (gpu.GpuMemoryUnknown, IndexError) as exc:
        results.put({"fraction": fraction, "skipped": f"no GPU memory to cap ({exc})"})
        return
    gpu.limit_gpu_memory(fraction)
    import keras

    cap_mb = total * fraction
    outcome = {"fraction": fraction, "cap_mb": round(cap_mb), "backend": keras.backend.backend()}
    for label, mb in (("half_cap", cap_mb / 2), ("over_cap", cap_mb * 1.5)):
        try:
            block = keras.ops.ones((int(mb * 2**20 / 4),), dtype="float32")
            keras.ops.convert_to_numpy(keras.ops.sum(block[:8]))
            outcome[label] = "fits"
            del block
        except Exception as exc:  # noqa: BLE001 - an out-of-memory here is the expected result
            outcome[label] = "out of memory" if gpu.is_out_of_memory(exc) else f"{type(exc).__name__}: {str(exc)[:120]}"
    results.put(outcome)


def check_cap(fraction: float) -> dict[str, Any]:
    """Whether a process capped at ``fraction`` of the GPU really cannot take more."""
    ctx = multiprocessing.get_context("spawn")
    results = ctx.Queue()
    process = ctx.Process(target=_cap_probe, args=(fraction, results))
    process.start()
    try:
        return results.get(timeout=300)
    finally:
        process.join(timeout=60)


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--packing", type=int, nargs="+", default=[1, 2, 4], help="trial processes per GPU")
    parser.add_argument("--trials", type=int, default=8, help="trials per packing")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--samples", type=int, default=10000)
    parser.add_argument("--size", type=int, default=32, help="image height and width")
    parser.add_argument("--json", type=Path, default=None, help="also write the rows here")
    parser.add_argument("--check-cap", type=float, default=None, metavar="FRACTION",
                        help="first prove the cap: a process capped at FRACTION allocates half and 1.5x its share (GPU only)")
    args = parser.parse_args(argv)
    os.environ.setdefault("KERAS_BACKEND", "jax")
    print(f"backend {os.environ['KERAS_BACKEND']}, {args.trials} trials per packing, {args.epochs} epochs, "
          f"{args.samples} images {args.size}x{args.size}x3", flush=True)
    rows: list[dict[str, Any]] = []
    if args.check_cap is not None:
        probe = check_cap(args.check_cap)
        print(f"cap check: {probe}", flush=True)
        rows.append({"cap_check": probe})
    header = ("per_gpu", "completed", "oom", "wall_s", "trials_per_hour", "mean_trial_s", "cap_mb", "peak_allocator_mb_max", "peak_nvml_process_mb_max", "mean_gpu_util_pct", "mean_val_accuracy")
    print(" | ".join(header), flush=True)
    for per_gpu in args.packing:
        row = run_packing(per_gpu, args.trials, args.epochs, args.samples, args.size)
        rows.append(row)
        print(" | ".join(str(row[k]) for k in header), flush=True)
        if row["errors"]:
            print(f"  errors: {row['errors']}", flush=True)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return rows


if __name__ == "__main__":
    main()
