"""A raw TensorFlow training loop, tuned by hpo: ``tf.GradientTape`` over a ``tf.data`` pipeline.

hpo calls ``train(trial)`` in a worker process (the GPU share already set). ``trial.params`` holds
this trial's configuration, ``trial.data`` the splits (numpy, raw), ``trial.seed`` and
``trial.epochs`` the sweep's settings. ``trial.report(epoch, metrics)`` sends an epoch's metrics to
the driver, whose pruner decides; once the trial is stopped, ``report`` raises ``TrialStopped``,
which simply ends this function. The return value is the final metrics and the model, which hpo
scores on the test split and saves when this configuration is the best.
"""

from __future__ import annotations

import numpy as np

import hpo


def train(trial: hpo.TrialContext) -> hpo.TrialResult:
    import keras
    import tensorflow as tf

    params, data = trial.params, trial.data
    keras.utils.set_random_seed(trial.seed)
    scale = float(data.x_train.max())  # digits are 0..16: the model gets 0..1
    x_train, x_val = data.x_train / scale, data.x_val / scale

    inputs = keras.Input(shape=data.input_shape)
    x = keras.layers.Conv2D(int(params["filters"]), 3, padding="same", activation="relu")(inputs)
    x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(int(params["units"]), activation="relu")(x)
    outputs = keras.layers.Dense(data.n_classes, activation="softmax")(x)
    model = keras.Model(inputs, outputs)
    optimizer = keras.optimizers.SGD(float(params["learning_rate"]), momentum=float(params["momentum"]))
    loss_fn = keras.losses.SparseCategoricalCrossentropy()

    batches = (
        tf.data.Dataset.from_tensor_slices((x_train.astype("float32"), data.y_train))
        .shuffle(len(x_train), seed=trial.seed)
        .batch(int(params["batch_size"]))
    )

    @tf.function
    def step(x: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
        with tf.GradientTape() as tape:
            loss = loss_fn(y, model(x, training=True))
        gradients = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(gradients, model.trainable_variables))
        return loss

    metrics: dict[str, float] = {}
    for epoch in range(1, trial.epochs + 1):
        for x, y in batches:
            step(x, y)
        probs = model(x_val.astype("float32"), training=False).numpy()
        metrics = {
            "val_accuracy": float(np.mean(probs.argmax(axis=1) == data.y_val)),
            "val_loss": float(loss_fn(data.y_val, probs)),
        }
        trial.report(epoch, metrics)  # the pruner may stop the trial here
    return hpo.TrialResult(metrics=metrics, model=keras.Sequential([keras.Input(shape=data.input_shape), keras.layers.Rescaling(1.0 / scale), model]))
