"""The comparison's model, as a user's own builder: a small CNN for 8x8 digits.

hpo references it as ``model: {builder: "model:build"}`` and compiles it with the trial's SGD and
exponential decay; benchmarks/compare.py gives the peers the same model and optimizer.
"""

from __future__ import annotations

from typing import Any


def build(params: dict[str, Any], input_shape: tuple[int, ...], n_classes: int):
    import keras

    inputs = keras.Input(shape=input_shape)
    x = keras.layers.Conv2D(int(params["filters_0"]), int(params["kernel_size"]), padding="same", activation="relu")(inputs)
    x = keras.layers.MaxPooling2D(2)(x)
    x = keras.layers.Conv2D(int(params["filters_1"]), int(params["kernel_size"]), padding="same", activation="relu")(x)
    x = keras.layers.MaxPooling2D(2)(x)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(int(params["units"]), activation="relu")(x)
    x = keras.layers.Dropout(float(params["dropout"]))(x)
    outputs = keras.layers.Dense(n_classes, activation="softmax")(x)
    return keras.Model(inputs, outputs)
