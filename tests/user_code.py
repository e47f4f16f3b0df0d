"""A user's own model builder and data loader, referenced from sweep YAML in the tests."""

from __future__ import annotations

from typing import Any

import numpy as np


def build(params: dict[str, Any], input_shape: tuple[int, ...], n_classes: int):
    import keras

    inputs = keras.Input(shape=input_shape)
    x = keras.layers.Flatten()(inputs)
    x = keras.layers.Dense(int(params.get("width", 8)), activation="relu")(x)
    outputs = keras.layers.Dense(n_classes, activation="softmax")(x)
    return keras.Model(inputs, outputs, name="user_built")


def build_compiled(params: dict[str, Any], input_shape: tuple[int, ...], n_classes: int):
    """``build``, compiled by the user: SGD, 4 steps per execution, XLA on (not Keras' choice on a CPU)."""
    import keras

    model = build(params, input_shape, n_classes)
    model.compile(optimizer=keras.optimizers.SGD(0.05), loss="sparse_categorical_crossentropy", steps_per_execution=4,
                  jit_compile=True)
    return model


def load(samples: int = 120, features: int = 5) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(samples, features))
    y = (x[:, 0] > 0).astype(int)
    return x, y


def oom_builder(params: dict[str, Any], input_shape: tuple[int, ...], n_classes: int):
    """A model whose construction runs out of host memory (a real failed allocation)."""
    np.ones((2**22, 2**22), dtype=np.float64)  # 128 TiB: numpy raises MemoryError
    raise AssertionError("unreachable")


def broken_loader() -> tuple[np.ndarray, np.ndarray]:
    """A data loader that fails the way real ones do (a missing file, a lost network share)."""
    raise OSError("cannot read the data")
