"""Keras session state between trials in one reused process: seeding and cleanup."""

from __future__ import annotations

import gc

import keras


def seed_everything(seed: int) -> None:
    keras.utils.set_random_seed(seed)


def release_trial_state() -> None:
    """Free the finished trial's graphs and tensors so the next trial in this process starts clean
    (one garbage collection: ``clear_session(free_memory=True)`` would run a second one)."""
    keras.backend.clear_session(free_memory=False)
    gc.collect()


def freeze_imports() -> None:
    """Exclude everything imported so far (TensorFlow alone is about a million objects) from
    future garbage collections: a collection after each trial, and the automatic ones during
    training, then cost milliseconds instead of a few hundred (benchmarks/worker_gc.py)."""
    gc.collect()
    gc.freeze()
