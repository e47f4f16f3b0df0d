"""Keras session state between trials in one reused process: seeding and cleanup."""

from __future__ import annotations

import gc

import keras


def seed_everything(seed: int) -> None:
    keras.utils.set_random_seed(seed)


def release_trial_state() -> None:
    """Free the finished trial's graphs and tensors so the next trial in this process starts clean."""
    keras.backend.clear_session(free_memory=True)
    gc.collect()
