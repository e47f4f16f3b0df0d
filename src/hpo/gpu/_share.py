"""A trial process's share of its GPUs, set before the backend first touches a device.

TensorFlow maps nearly all GPU memory by default and JAX preallocates 75%, so trials packed onto
one GPU (``gpus_per_trial: 0.5``) must each be capped at their share: TensorFlow with a
logical-device ``memory_limit`` computed from the device's total memory, JAX with
``XLA_PYTHON_CLIENT_MEM_FRACTION``. A whole GPU per trial lets TensorFlow grow on demand.
"""

from __future__ import annotations

import glob
import logging
import os

from hpo.gpu._memory import GpuMemoryUnknown, total_memory_mb

_log = logging.getLogger(__name__)


def backend_name() -> str:
    return os.environ.get("KERAS_BACKEND", "tensorflow")


def _gpu_device_files() -> bool:
    """Whether the host exposes a GPU driver's device files (NVIDIA or AMD ROCm)."""
    return bool(glob.glob("/dev/nvidia[0-9]*")) or os.path.exists("/dev/kfd")


def limit_gpu_memory(fraction: float) -> dict[str, int | float]:
    """Cap this process's memory on every visible GPU at ``fraction`` (0 < fraction <= 1).

    Call before Keras, TensorFlow or JAX first use a GPU. Returns what was set, by device
    (``{"GPU:0": limit_mb}`` for TensorFlow, ``{"fraction": f}`` for JAX).
    """
    if not 0 < fraction <= 1:
        raise ValueError(f"GPU memory fraction must be in (0, 1], but got {fraction}")
    if backend_name() == "jax":
        os.environ["XLA_PYTHON_CLIENT_PREALLOCATE"] = "false"  # allocate on demand, up to the fraction
        os.environ["XLA_PYTHON_CLIENT_MEM_FRACTION"] = f"{fraction:.3f}"
        return {"fraction": round(fraction, 3)}
    if backend_name() != "tensorflow" or not _gpu_device_files():
        return {}  # no GPU driver on this host (e.g. logical GPUs in tests): nothing to cap, no TensorFlow import
    import tensorflow as tf

    devices = tf.config.list_physical_devices("GPU")
    if not devices:
        return {}
    if fraction >= 1:
        for device in devices:
            tf.config.experimental.set_memory_growth(device, True)
        return {}
    try:
        totals = total_memory_mb()
    except GpuMemoryUnknown as exc:
        _log.warning("GPU memory share not enforced, growing on demand instead: %s", exc)
        for device in devices:
            tf.config.experimental.set_memory_growth(device, True)
        return {}
    limits: dict[str, int | float] = {}
    for index, (device, total) in enumerate(zip(devices, totals, strict=False)):
        limit = int(total * fraction)
        tf.config.set_logical_device_configuration(device, [tf.config.LogicalDeviceConfiguration(memory_limit=limit)])
        limits[f"GPU:{index}"] = limit
    return limits
