"""One trial: build the model and optimizer from the parameters, fit once, report every epoch."""

from __future__ import annotations

import dataclasses
import math
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import keras
import numpy as np

from hpo._builtin_params import builtin_value
from hpo._errors import TrialFailed, TrialOutOfMemory
from hpo._trial import TrialContext, TrialStopped
from hpo.data import Dataset, load_dataset
from hpo.engine._batches import epoch_order, tf_batches, uses_tf_data
from hpo.engine._checkpoint import Checkpoint, capture, restore
from hpo.engine._efficiency import CostMeter, latency
from hpo.engine._metrics import compute_metrics, regression_metrics
from hpo.engine._models import build_model
from hpo.engine._optimizers import build_optimizer
from hpo.engine._plan import TrainPlan
from hpo.engine._session import release_trial_state, seed_everything
from hpo.gpu import is_out_of_memory

_PREDICT_BATCH = 1024


@dataclass
class TrainedModel:
    """What training produced: the per-epoch validation metrics and, if kept, the model."""

    history: list[dict[str, float]] = field(default_factory=list)
    model: keras.Model | None = None
    normalization: str = "none"
    measured: dict[str, float] = field(default_factory=dict)  # after training: inference latency
    checkpoint: Checkpoint | None = None  # set when training paused before its last epoch

    @property
    def epochs(self) -> int:
        return len(self.history)

    @property
    def last(self) -> dict[str, float]:
        return self.history[-1] if self.history else {}

    @property
    def final(self) -> dict[str, float]:
        """The last epoch's metrics with what was measured after training."""
        return {**self.last, **self.measured}


_LOSSES = ("mse", "mae", "huber")


def training_loss(params: dict[str, Any], task: str) -> keras.losses.Loss:
    """Cross-entropy for classes; ``loss`` (mse, mae or huber with ``huber_delta``) for a regression target."""
    if task == "classification":
        return keras.losses.SparseCategoricalCrossentropy()
    name = str(builtin_value(params, "loss"))
    if name == "mse":
        return keras.losses.MeanSquaredError()
    if name == "mae":
        return keras.losses.MeanAbsoluteError()
    if name == "huber":
        return keras.losses.Huber(delta=float(builtin_value(params, "huber_delta")))
    raise TrialFailed(f"loss must be one of {', '.join(_LOSSES)} for a regression target, but got {name!r}")


def validation_metrics(
    model: keras.Model, data: Dataset, x: np.ndarray, y: np.ndarray, params: dict[str, Any], prefix: str
) -> dict[str, float]:
    """The task's metrics of ``model`` on ``(x, y)``: classification from probabilities, regression from values."""
    outputs = _predict(model, x)
    if not np.all(np.isfinite(outputs)):
        raise TrialFailed("the model's predictions hold NaN or inf; lower learning_rate")
    if data.task == "classification":
        return compute_metrics(y, outputs, prefix=prefix)
    return regression_metrics(
        y, outputs, str(builtin_value(params, "loss")), prefix, float(builtin_value(params, "huber_delta"))
    )


def with_normalization(model: keras.Model, data: Dataset, method: str) -> keras.Model:
    """``model`` behind a Normalization layer fitted on the training split (per feature, or per
    channel of images): the saved model then takes raw inputs. ``none`` leaves it as it is."""
    if method == "none":
        return model
    x = data.x_train
    axes = tuple(range(x.ndim - 1))
    if method == "standard":
        shift, scale = x.mean(axis=axes), x.std(axis=axes)
    elif method == "minmax":
        shift, scale = x.min(axis=axes), x.max(axis=axes) - x.min(axis=axes)
    else:
        raise TrialFailed(f"normalization must be none, standard or minmax, but got {method!r}")
    scale = np.where(scale > 0, scale, 1.0)  # a constant feature stays as it is, centred
    inputs = keras.Input(shape=data.input_shape)
    normalized = keras.layers.Normalization(axis=-1, mean=shift, variance=scale**2, name="normalization")(inputs)
    wrapped = keras.Model(inputs, model(normalized), name=model.name)
    if model.compiled:  # a user's own compile: its optimizer, loss, steps per execution and XLA choice
        wrapped.compile(
            optimizer=model.optimizer,
            loss=model.loss,
            steps_per_execution=model.steps_per_execution,
            jit_compile=model.jit_compile,
        )
    return wrapped


def _one_shape() -> bool:
    """Whether each new input shape compiles the model's step again (JAX, which jit-compiles per
    shape; TensorFlow's traced functions take any batch size)."""
    return keras.backend.backend() == "jax"


def _predict(model: keras.Model, x: np.ndarray) -> np.ndarray:
    """Probabilities in chunks through the compiled predict step (``predict()`` builds a dataset
    per call, which costs ~15x more per epoch on small validation sets). On JAX a shorter last
    chunk is padded to the others' size (rows are predicted independently), so that the predict
    step compiles once."""
    size = max(1, min(_PREDICT_BATCH, len(x)))
    chunks = []
    for i in range(0, len(x), size):
        chunk = x[i : i + size]
        if _one_shape() and len(chunk) < size:
            padded = np.concatenate([chunk, np.zeros((size - len(chunk), *chunk.shape[1:]), chunk.dtype)])
            chunks.append(keras.ops.convert_to_numpy(model.predict_on_batch(padded))[: len(chunk)])
        else:
            chunks.append(keras.ops.convert_to_numpy(model.predict_on_batch(chunk)))
    return np.concatenate(chunks)


def epoch_samples(n: int, batch_size: int) -> int:
    """How many training samples an epoch uses: all of them, but on JAX only whole batches (when
    there is at least one). A smaller last batch is a new shape, for which JAX compiles the
    training step a second time (2.4–3 s per trial for the default sweep's CNN on CPU, more than
    its epochs); the samples left out (fewer than a batch) differ from epoch to epoch."""
    return n - n % batch_size if _one_shape() and n >= batch_size else n


class _EpochReporter(keras.callbacks.Callback):
    """Validation metrics after each epoch, reported; a stop from the sweep ends training at the
    next batch; a non-finite loss or prediction fails the trial."""

    def __init__(self, context: TrialContext, data: Dataset, result: TrainedModel, costs: CostMeter) -> None:
        super().__init__()
        self._context = context
        self._data = data
        self._result = result
        self._costs = costs

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        if self._context.should_stop:
            raise TrialStopped(f"trial {self._context.number} was stopped by the sweep")

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        costs = self._costs.measure()
        loss = (logs or {}).get("loss")
        if loss is None or not math.isfinite(float(loss)):
            raise TrialFailed(
                f"training loss became {loss} at epoch {epoch + 1}; lower learning_rate "
                "(or its upper bound in the space) or add batch normalization"
            )
        try:
            scores = validation_metrics(
                self.model, self._data, self._data.x_val, self._data.y_val, self._context.params, "val_"
            )
        except TrialFailed as exc:
            raise TrialFailed(f"at epoch {epoch + 1}: {exc}") from None
        metrics = {"loss": float(loss), **scores, **costs}
        self._result.history.append(metrics)
        self._context.report(epoch + 1, metrics)


def _fit_by_epoch(
    model: keras.Model,
    data: Dataset,
    batch_size: int,
    epochs: int,
    seed: int,
    callbacks: list[keras.callbacks.Callback],
    verbose: int,
    result: TrainedModel,
    start: Checkpoint | None,
    pause_after: Callable[[], int | None],
    context: TrialContext,
) -> Checkpoint | None:
    """Train one epoch per ``fit`` with each epoch's data order drawn from (seed, epoch), so that
    training continued from a checkpoint follows the same curve as training that never paused;
    the checkpoint after epoch ``pause_after()`` when that comes before the last epoch (asked
    after every epoch: the sweep may promote the trial at its rung, which moves it on). Each
    epoch takes the first ``epoch_samples`` of its order. After an epoch where the sweep's
    periodic checkpoint is due, the same state goes to ``context.save``."""
    epoch = 0
    if start is not None:
        restore(model, start)
        result.history, epoch = list(start.history), start.epoch
    used = epoch_samples(len(data.y_train), batch_size)
    while epoch < min(pause_after() or epochs, epochs):
        order = epoch_order(len(data.y_train), used, seed, epoch)
        one = {
            "epochs": epoch + 1,
            "initial_epoch": epoch,
            "callbacks": callbacks,
            "verbose": verbose,
            "shuffle": False,
        }
        if uses_tf_data():
            model.fit(tf_batches(data.x_train, data.y_train, batch_size, seed, order), **one)
        else:
            model.fit(data.x_train[order], data.y_train[order], batch_size=batch_size, **one)
        epoch += 1
        if context.checkpoint_due:
            context.save(capture(model, epoch, result.history))
    return capture(model, epoch, result.history) if epoch < epochs else None


def train_trial(
    plan: TrainPlan,
    context: TrialContext,
    keep_model: bool = False,
    *,
    resumable: bool = False,
    start: Checkpoint | None = None,
    pause_after: int | None = None,
) -> TrainedModel:
    """Train ``context.params`` on ``context.data`` (the plan's data when None) as ``plan`` says,
    reporting each epoch.

    ``resumable``: train so that the trial can pause and continue with the same curve; it then
    continues from ``start`` (a checkpoint) when given, and pauses after epoch ``pause_after``
    (by default ``context.pause_after``, which the sweep may move on at the rung) with
    ``result.checkpoint`` holding its state.

    Raises TrialFailed for a configuration that cannot train (NaN loss, CNN on tabular data, ...),
    TrialOutOfMemory when it does not fit, TrialStopped when the sweep stopped it.
    """
    params = context.params
    normalization = str(builtin_value(params, "normalization"))
    data = context.data if context.data is not None else load_dataset(plan.data)
    seed_everything(context.seed)
    batch_size = int(builtin_value(params, "batch_size"))
    used = epoch_samples(len(data.y_train), batch_size)
    steps_per_epoch = math.ceil(used / batch_size)
    result = TrainedModel(normalization=normalization)
    try:
        model = build_model(plan.model.builder, params, data.input_shape, data.n_classes, seed=context.seed)
        if not model.compiled:
            model.compile(
                optimizer=build_optimizer(params, steps_per_epoch, plan.train.epochs),
                loss=training_loss(params, data.task),
                steps_per_execution=min(plan.train.steps_per_execution, steps_per_epoch),
            )
        model = with_normalization(model, data, normalization)
        costs = CostMeter()
        callbacks = [costs, _EpochReporter(context, data, result, costs)]
        verbose = 2 if plan.train.verbose else 0
        if resumable or used < len(data.y_train):  # on JAX: whole batches, one epoch's order at a time
            result.checkpoint = _fit_by_epoch(
                model,
                data,
                batch_size,
                plan.train.epochs,
                context.seed,
                callbacks,
                verbose,
                result,
                start,
                (lambda: context.pause_after) if pause_after is None else (lambda: pause_after),
                context,
            )
        elif uses_tf_data():
            model.fit(
                tf_batches(data.x_train, data.y_train, batch_size, context.seed),
                epochs=plan.train.epochs,
                callbacks=callbacks,
                verbose=verbose,
                shuffle=False,
            )
        else:
            model.fit(
                data.x_train,
                data.y_train,
                batch_size=batch_size,
                epochs=plan.train.epochs,
                callbacks=callbacks,
                verbose=verbose,
                shuffle=True,
            )
        if result.checkpoint is None and plan.measure_latency:
            result.measured = latency(model, data.x_val)
        if keep_model:
            result.model = model
    except (ValueError, TypeError) as exc:  # Keras rejects the configuration (shapes, arguments)
        raise TrialFailed(f"Keras rejected this configuration: {exc}") from exc
    except Exception as exc:
        if is_out_of_memory(exc):
            raise TrialOutOfMemory(
                f"out of memory with batch_size={batch_size} ({type(exc).__name__}); lower batch_size "
                "(or its choices in the space), shrink the model, or give each trial more memory "
                "(raise resources.gpus_per_trial)"
            ) from exc
        raise
    finally:
        if not keep_model:
            release_trial_state()
    return result


def model_bytes(model: keras.Model) -> bytes:
    """The model as the bytes of a ``.keras`` file (to send it from a worker to the driver)."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "model.keras"
        model.save(path)
        return path.read_bytes()


def score_best(plan: TrainPlan, context: TrialContext, resumable: bool = False) -> dict[str, Any]:
    """Re-train the best configuration once and score it on the held-out test split (its only use);
    ``resumable`` trains as a sweep with a promotion scheduler did, so the model is the trial's."""
    data = context.data if context.data is not None else load_dataset(plan.data)
    context = dataclasses.replace(context, data=data)
    result = train_trial(plan, context, keep_model=True, resumable=resumable)
    try:
        return {
            "validation_metrics": result.final,
            "test_metrics": evaluate_on_test(result.model, data, context.params),
            "model": model_bytes(result.model),
        }
    finally:
        release_trial_state()


def evaluate_on_test(model: keras.Model, data: Dataset, params: dict[str, Any] | None = None) -> dict[str, float]:
    """The task's metrics on the held-out test split, from raw inputs (the model holds its own
    normalization); used once, for the best trial, after the sweep."""
    return validation_metrics(model, data, data.x_test, data.y_test, params or {}, "test_")
