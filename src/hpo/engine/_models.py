"""Model families built from a trial's parameters: MLP and CNN, or a user's own builder."""

from __future__ import annotations

import random
from typing import Any

import keras

from hpo._builtin_params import builtin_value
from hpo._errors import TrialFailed
from hpo._references import resolve_reference

# Keras defaults BatchNormalization's moving-statistics momentum to 0.99: with the few steps per
# epoch of small data sets the inference statistics stay near their initial values and validation
# accuracy collapses to chance. 0.9 (PyTorch's default) tracks the batch statistics within an epoch.
_BN_MOMENTUM = 0.9


def _batch_norm() -> keras.layers.BatchNormalization:
    return keras.layers.BatchNormalization(momentum=_BN_MOMENTUM)


class _Seeds:
    """The seed of each random layer and initializer of one model, drawn from the trial's seed.

    Keras draws an unseeded layer's seed from Python's global ``random``, which any thread of the
    process (a tracker client's retry jitter, a user's callback) may draw from between the trial's
    seeding and its build: the same trial then builds another model. Explicit seeds make the model
    a function of the trial's seed alone.
    """

    def __init__(self, seed: int) -> None:
        self._draws = random.Random(seed)

    def next(self) -> int:
        return self._draws.randrange(2**31)

    def initializer(self, name: str) -> keras.initializers.Initializer:
        """Keras' initializer ``name``, seeded when it draws at random (``zeros`` does not)."""
        initializer = keras.initializers.get(name)
        config = initializer.get_config()
        if "seed" not in config:
            return initializer
        return type(initializer).from_config({**config, "seed": self.next()})


def _regularizer(params: dict[str, Any]) -> keras.regularizers.Regularizer | None:
    return keras.regularizers.L2(params["l2"]) if builtin_value(params, "use_l2") and "l2" in params else None


def _augmentation(params: dict[str, Any], seeds: _Seeds) -> list[keras.layers.Layer]:
    """Random flip/rotation/translation/zoom: Keras applies them only when training."""
    if not builtin_value(params, "augment"):
        return []
    strength = float(builtin_value(params, "augment_strength"))
    layers: list[keras.layers.Layer] = []
    if builtin_value(params, "augment_flip"):
        layers.append(keras.layers.RandomFlip("horizontal", seed=seeds.next()))
    layers += [
        keras.layers.RandomRotation(strength, seed=seeds.next()),
        keras.layers.RandomTranslation(strength, strength, seed=seeds.next()),
        keras.layers.RandomZoom(strength, seed=seeds.next()),
    ]
    if keras.backend.backend() == "jax":
        # Keras marks these three jit-incompatible for TensorFlow (its image transform has no XLA
        # kernel), and one such layer makes Keras train the whole model op by op. On JAX their
        # transform is jax.numpy and compiles: an augmented trial's epoch 2.8 s -> 0.19 s.
        for layer in layers:
            layer.supports_jit = True
    return layers


def _dense_stack(x: Any, params: dict[str, Any], reg: Any, seeds: _Seeds) -> Any:
    activation = builtin_value(params, "activation")
    for i in range(int(builtin_value(params, "depth"))):
        x = keras.layers.Dense(
            int(builtin_value(params, f"units_{i}")),
            kernel_initializer=seeds.initializer(builtin_value(params, "kernel_initializer")),
            kernel_regularizer=reg,
        )(x)
        if builtin_value(params, "batch_norm"):
            x = _batch_norm()(x)
        x = keras.layers.Activation(activation)(x)
        rate = float(builtin_value(params, f"dropout_{i}"))
        if rate > 0:
            x = keras.layers.Dropout(rate, seed=seeds.next())(x)
    return x


def build_builtin(params: dict[str, Any], input_shape: tuple[int, ...], n_classes: int, *, seed: int) -> keras.Model:
    """An MLP or CNN (``family``) with a softmax over ``n_classes``, or one linear output for a
    regression target (``n_classes`` 0); its initial weights, dropout and augmentation drawn from
    ``seed`` alone."""
    family = builtin_value(params, "family")
    reg = _regularizer(params)
    seeds = _Seeds(seed)
    inputs = keras.Input(shape=input_shape)
    x = inputs
    if len(input_shape) == 3:
        for layer in _augmentation(params, seeds):
            x = layer(x)
    if family == "cnn":
        if len(input_shape) != 3:
            raise TrialFailed(
                f"family 'cnn' needs image input (height, width, channels), but the data has shape {input_shape}; use "
                "family 'mlp'"
            )
        pool = keras.layers.MaxPooling2D if builtin_value(params, "pooling") == "max" else keras.layers.AveragePooling2D
        size = min(input_shape[0], input_shape[1])
        for i in range(int(builtin_value(params, "conv_blocks"))):
            x = keras.layers.Conv2D(
                int(builtin_value(params, f"filters_{i}")),
                int(builtin_value(params, "kernel_size")),
                padding="same",
                kernel_initializer=seeds.initializer(builtin_value(params, "kernel_initializer")),
                kernel_regularizer=reg,
            )(x)
            if builtin_value(params, "batch_norm"):
                x = _batch_norm()(x)
            x = keras.layers.Activation(builtin_value(params, "activation"))(x)
            if size >= 2:
                x = pool(2)(x)
                size //= 2
            rate = float(builtin_value(params, "conv_dropout"))
            if rate > 0:
                x = keras.layers.Dropout(rate, seed=seeds.next())(x)
    elif family != "mlp":
        raise TrialFailed(f"family must be 'mlp' or 'cnn', but got {family!r}")
    x = keras.layers.Flatten()(x)
    x = _dense_stack(x, params, reg, seeds)
    output = seeds.initializer("glorot_uniform")  # Keras' default for Dense, seeded
    if n_classes:
        outputs = keras.layers.Dense(n_classes, activation="softmax", kernel_initializer=output)(x)
    else:
        outputs = keras.layers.Dense(1, kernel_initializer=output)(x)
    return keras.Model(inputs, outputs, name=f"hpo_{family}")


def build_model(
    builder: str, params: dict[str, Any], input_shape: tuple[int, ...], n_classes: int, *, seed: int
) -> keras.Model:
    """The built-in family (its randomness drawn from ``seed``), or ``builder(params, input_shape,
    n_classes)`` from a user reference (seeded through Keras' global seed, set for the trial).

    A user builder returns a ``keras.Model`` whose output is class probabilities (softmax), or one
    value for a regression target (``n_classes`` 0); if it is not compiled, hpo compiles it with
    the trial's optimizer and loss.
    """
    if builder == "builtin":
        return build_builtin(params, input_shape, n_classes, seed=seed)
    model = resolve_reference(builder, "model builder")(params, input_shape, n_classes)
    if not isinstance(model, keras.Model):
        raise TrialFailed(f"model builder {builder!r} must return a keras.Model, but returned {type(model).__name__}")
    return model
