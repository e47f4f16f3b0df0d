"""Everything that depends on the Keras backend: GPU memory share, seeding and cleanup between trials.

TensorFlow maps nearly all GPU memory by default and JAX preallocates 75%, so trials packed onto
one GPU must each be limited to their share before the backend first touches the device.
"""

from __future__ import annotations

import gc
import os


def backend_name() -> str:
    return os.environ.get("KERAS_BACKEND", "tensorflow")


def limit_gpu_memory(fraction: float) -> None:
    """Cap this process's GPU memory at ``fraction`` of each visible device (0 < fraction <= 1).

    Call before Keras/TensorFlow/JAX is first imported in the process (the JAX settings are
    environment variables read at import; TensorFlow's logical-device limit must precede GPU use).
    """
    if not 0 < fraction <= 1:
        raise ValueError(f"GPU memory fraction must be in (0, 1], but got {fraction}")
    if backend_name() == "jax":
        os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
        os.environ["XLA_PYTHON_CLIENT_MEM_FRACTION"] = f"{fraction:.3f}"
        return
    if backend_name() != "tensorflow":
        return
    import tensorflow as tf

    for device in tf.config.list_physical_devices("GPU"):
        if fraction >= 1:
            tf.config.experimental.set_memory_growth(device, True)
            continue
        total_mb = tf.config.experimental.get_device_details(device).get("device_memory_size", 0) // 2**20
        if total_mb:
            limit = int(total_mb * fraction)
            tf.config.set_logical_device_configuration(device, [tf.config.LogicalDeviceConfiguration(memory_limit=limit)])
        else:  # size unknown: grow on demand instead of mapping everything
            tf.config.experimental.set_memory_growth(device, True)


def is_out_of_memory(exc: BaseException) -> bool:
    """Whether ``exc`` is the backend's (or Python's) out-of-memory error."""
    if isinstance(exc, MemoryError):
        return True
    text = f"{type(exc).__name__} {exc}"
    return "ResourceExhausted" in text or "RESOURCE_EXHAUSTED" in text or "out of memory" in text.lower()


def seed_everything(seed: int) -> None:
    import keras

    keras.utils.set_random_seed(seed)


def release_trial_state() -> None:
    """Free the finished trial's graphs and tensors so the next trial in this process starts clean."""
    import keras

    keras.backend.clear_session(free_memory=True)
    gc.collect()
