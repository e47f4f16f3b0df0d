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


# The digits training split hpo and every peer train on (1,077 of scikit-learn's 1,797 images): a
# builder does not see the data, so a user's own learning-rate schedule counts its steps from this.
TRAIN_SAMPLES = 1077


def build_compiled(params: dict[str, Any], input_shape: tuple[int, ...], n_classes: int):
    """``build``, compiled the way a user would: SGD with momentum and exponential decay per epoch,
    Keras' defaults otherwise (one step per execution). hpo keeps a compiled model's compile."""
    import math

    import keras

    model = build(params, input_shape, n_classes)
    steps_per_epoch = math.ceil(TRAIN_SAMPLES / int(params["batch_size"]))
    schedule = keras.optimizers.schedules.ExponentialDecay(
        float(params["learning_rate"]), decay_steps=steps_per_epoch * int(params.get("decay_epochs", 1)),
        decay_rate=float(params["decay_rate"]), staircase=True)
    model.compile(optimizer=keras.optimizers.SGD(schedule, momentum=float(params["momentum"])),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def train(trial):
    """The whole trial as a user's own function (``objective.function: "model:train"``): the same
    compiled model, normalized inputs, Keras ``fit`` with a callback that reports each epoch."""
    import keras

    import hpo

    params, data = trial.params, trial.data
    keras.utils.set_random_seed(trial.seed)
    low, high = data.x_train.min(), data.x_train.max()
    scale = (high - low) or 1.0
    model = build_compiled(params, data.input_shape, data.n_classes)

    class ReportToHpo(keras.callbacks.Callback):
        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            trial.report(epoch + 1, {"val_accuracy": float(logs["val_accuracy"])})

    history = model.fit((data.x_train - low) / scale, data.y_train, batch_size=int(params["batch_size"]), epochs=trial.epochs,
                        validation_data=((data.x_val - low) / scale, data.y_val), callbacks=[ReportToHpo()], verbose=0)
    return hpo.TrialResult(metrics={"val_accuracy": float(history.history["val_accuracy"][-1])}, model=model)
