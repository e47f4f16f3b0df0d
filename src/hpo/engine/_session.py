"""Keras session state between trials in one reused process: seeding and cleanup."""

from __future__ import annotations

import gc

import keras

_CUSTOM_GRADIENT_PREFIX = "CustomGradient-"


def seed_everything(seed: int) -> None:
    keras.utils.set_random_seed(seed)


def _forget_custom_gradients() -> int:
    """Drop TensorFlow's registered custom gradients; how many there were.

    Every traced use of ``tf.custom_gradient`` (Keras's optimizer all-reduce makes two per trial)
    adds an entry to a process-wide registry that TensorFlow never clears, and each entry keeps its
    trial's whole training graph alive: about 4 MB per trial. Between trials no graph is in use,
    so the entries are stale. The registry is TensorFlow's private ``ops._gradient_registry``;
    ``tests/test_worker_memory.py`` fails if it moves and the leak comes back.
    """
    if keras.backend.backend() != "tensorflow":
        return 0
    from tensorflow.python.framework import ops

    registry = getattr(getattr(ops, "_gradient_registry", None), "_registry", None)
    if not isinstance(registry, dict):
        return 0
    stale = [name for name in registry if isinstance(name, str) and name.startswith(_CUSTOM_GRADIENT_PREFIX)]
    for name in stale:
        del registry[name]
    return len(stale)


def release_trial_state() -> None:
    """Free the finished trial's graphs and tensors so the next trial in this process starts clean
    (one garbage collection: ``clear_session(free_memory=True)`` would run a second one)."""
    keras.backend.clear_session(free_memory=False)
    _forget_custom_gradients()
    gc.collect()


def freeze_imports() -> None:
    """Exclude everything imported so far (TensorFlow alone is about half a million objects) from
    future garbage collections: a collection after each trial, and the automatic ones during
    training, then cost milliseconds instead of a few hundred (benchmarks/worker_gc.py). No
    collection first: it would cost a few hundred milliseconds of every worker's start."""
    gc.freeze()
