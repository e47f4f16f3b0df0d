"""Training batches: each epoch's sample order from (seed, epoch), and on TensorFlow the input
pipeline that feeds them to ``fit``.

Keras turns numpy arrays into a tf.data pipeline with autotuning on. Autotuning runs a thread
per iterator that sleeps for its tuning period between rounds, and destroying an iterator that
was not read to its end (the one ``fit`` leaves when a trial is stopped in the middle of an epoch
or after a report, or the next epoch's that Keras opens ahead) now and then waits out that sleep:
up to 3.8 s for one stopped trial in a sweep on 2 cores, its slot idle meanwhile
(docs/benchmarks.md). hpo's pipeline gathers whole batches by index, prefetches one, and does not
autotune; reading in-memory arrays gains nothing from autotuning (epochs are as fast or faster).
"""

from __future__ import annotations

import math
from typing import Any

import keras
import numpy as np


def epoch_order(n: int, used: int, seed: int, epoch: int) -> np.ndarray:
    """The first ``used`` of a permutation of ``n`` samples drawn from (seed, epoch): every run of
    the same trial, paused and continued or not, sees each epoch's samples in the same order."""
    return np.random.default_rng((seed, epoch)).permutation(n)[:used]


def tf_batches(x: np.ndarray, y: np.ndarray, batch_size: int, seed: int, order: np.ndarray | None = None) -> Any:
    """A ``tf.data.Dataset`` of one epoch's batches for ``fit``: in ``order`` when given (one
    epoch: a trial that pauses trains one ``fit`` per epoch), else in a new permutation of all
    samples for every iterator over it (``fit`` opens one per epoch), drawn from ``seed`` and the
    backend's global seed. TensorFlow backend only."""
    import tensorflow as tf

    used = len(y) if order is None else len(order)
    full = used // batch_size * batch_size
    x_all, y_all = tf.convert_to_tensor(x), tf.convert_to_tensor(y)
    if order is not None:
        orders = tf.data.Dataset.from_tensors(tf.constant(order, tf.int64))
    else:
        every_sample = tf.range(used, dtype=tf.int64)
        orders = (
            tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True)
            .take(1)
            .map(
                lambda draw: tf.random.experimental.stateless_shuffle(
                    every_sample, seed=tf.stack([draw, tf.constant(seed, tf.int64)])
                )
            )
        )

    def batch_indices(order: Any) -> Any:
        batches = tf.data.Dataset.from_tensor_slices(tf.reshape(order[:full], (-1, batch_size)))
        if full < used:
            batches = batches.concatenate(tf.data.Dataset.from_tensors(order[full:]))
        return batches

    options = tf.data.Options()
    options.autotune.enabled = False
    options.experimental_optimization.apply_default_optimizations = False  # no graph rewrite per iterator
    return (
        orders.flat_map(batch_indices)
        .map(lambda indices: (tf.gather(x_all, indices), tf.gather(y_all, indices)))
        .prefetch(1)
        .apply(tf.data.experimental.assert_cardinality(math.ceil(used / batch_size)))
        .with_options(options)
    )


def uses_tf_data() -> bool:
    """Whether ``fit`` is fed through ``tf_batches`` (the TensorFlow backend)."""
    return keras.backend.backend() == "tensorflow"
