"""A Keras functional model trained with its own ``fit``, tuned by hpo.

The callback reports each epoch's validation metrics to hpo; when the pruner stops the trial,
``trial.report`` raises ``TrialStopped`` from inside ``fit``, which ends training and this function.
The model normalizes its own inputs (a ``Normalization`` layer adapted on the training split), so
the saved best model takes raw inputs.
"""

from __future__ import annotations

import hpo


def train(trial: hpo.TrialContext) -> hpo.TrialResult:
    import keras

    params, data = trial.params, trial.data
    keras.utils.set_random_seed(trial.seed)

    normalize = keras.layers.Normalization()
    normalize.adapt(data.x_train)
    inputs = keras.Input(shape=data.input_shape)
    x = keras.layers.Flatten()(normalize(inputs))
    for _ in range(int(params["depth"])):
        x = keras.layers.Dense(int(params["units"]), activation=params["activation"])(x)
        x = keras.layers.Dropout(float(params["dropout"]))(x)
    outputs = keras.layers.Dense(data.n_classes, activation="softmax")(x)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer=keras.optimizers.Adam(float(params["learning_rate"])),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])

    class ReportToHpo(keras.callbacks.Callback):
        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            trial.report(epoch + 1, {"val_accuracy": logs["val_accuracy"], "val_loss": logs["val_loss"]})

    history = model.fit(data.x_train, data.y_train, batch_size=int(params["batch_size"]), epochs=trial.epochs,
                        validation_data=(data.x_val, data.y_val), callbacks=[ReportToHpo()], verbose=0)
    final = {"val_accuracy": history.history["val_accuracy"][-1], "val_loss": history.history["val_loss"][-1]}
    return hpo.TrialResult(metrics=final, model=model)
