"""One trial: build the model and optimizer from the parameters, fit once, report every epoch."""

from __future__ import annotations

import dataclasses
import math
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import keras
import numpy as np

from hpo._errors import TrialFailed, TrialOutOfMemory
from hpo._trial import TrialContext, TrialStopped
from hpo.config import SweepConfig
from hpo.data import Dataset, load_dataset, normalize
from hpo.engine._metrics import compute_metrics
from hpo.engine._models import build_model
from hpo.engine._optimizers import build_optimizer
from hpo.engine._session import release_trial_state, seed_everything
from hpo.gpu import is_out_of_memory

_PREDICT_BATCH = 1024


@dataclass
class TrainedModel:
    """What training produced: the per-epoch validation metrics and, if kept, the model."""

    history: list[dict[str, float]] = field(default_factory=list)
    model: keras.Model | None = None
    normalization: str = "none"

    @property
    def epochs(self) -> int:
        return len(self.history)

    @property
    def last(self) -> dict[str, float]:
        return self.history[-1] if self.history else {}


def _predict(model: keras.Model, x: np.ndarray) -> np.ndarray:
    """Probabilities in chunks through the compiled predict step (``predict()`` builds a dataset
    per call, which costs ~15x more per epoch on small validation sets)."""
    chunks = [model.predict_on_batch(x[i : i + _PREDICT_BATCH]) for i in range(0, len(x), _PREDICT_BATCH)]
    return np.concatenate([keras.ops.convert_to_numpy(c) for c in chunks])


class _EpochReporter(keras.callbacks.Callback):
    """Validation metrics after each epoch, reported; a stop from the sweep ends training at the
    next batch; a non-finite loss or prediction fails the trial."""

    def __init__(self, context: TrialContext, data: Dataset, result: TrainedModel) -> None:
        super().__init__()
        self._context = context
        self._data = data
        self._result = result

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        if self._context.should_stop:
            raise TrialStopped(f"trial {self._context.number} was stopped by the sweep")

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        loss = (logs or {}).get("loss")
        if loss is None or not math.isfinite(float(loss)):
            raise TrialFailed(
                f"training loss became {loss} at epoch {epoch + 1}; lower learning_rate "
                "(or its upper bound in the space) or add batch normalization"
            )
        probs = _predict(self.model, self._data.x_val)
        if not np.all(np.isfinite(probs)):
            raise TrialFailed(f"validation predictions hold NaN or inf at epoch {epoch + 1}; lower learning_rate")
        metrics = {"loss": float(loss), **compute_metrics(self._data.y_val, probs, prefix="val_")}
        self._result.history.append(metrics)
        self._context.report(epoch + 1, metrics)


def train_trial(config: SweepConfig, context: TrialContext, keep_model: bool = False) -> TrainedModel:
    """Train ``context.params`` on ``context.data`` (the sweep's data when None), reporting each epoch.

    Raises TrialFailed for a configuration that cannot train (NaN loss, CNN on tabular data, ...),
    TrialOutOfMemory when it does not fit, TrialStopped when the sweep stopped it.
    """
    params = context.params
    normalization = str(params.get("normalization", "none"))
    data = normalize(context.data if context.data is not None else load_dataset(config), normalization)
    seed_everything(context.seed)
    batch_size = int(params.get("batch_size", 64))
    steps_per_epoch = math.ceil(len(data.y_train) / batch_size)
    result = TrainedModel(normalization=normalization)
    try:
        model = build_model(config.model.builder, params, data.input_shape, data.n_classes)
        if not model.compiled:
            model.compile(
                optimizer=build_optimizer(params, steps_per_epoch, config.train.epochs),
                loss=keras.losses.SparseCategoricalCrossentropy(),
                steps_per_execution=min(config.train.steps_per_execution, steps_per_epoch),
            )
        model.fit(
            data.x_train,
            data.y_train,
            batch_size=batch_size,
            epochs=config.train.epochs,
            callbacks=[_EpochReporter(context, data, result)],
            verbose=2 if config.train.verbose else 0,
            shuffle=True,
        )
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


def score_best(config: SweepConfig, context: TrialContext) -> dict[str, Any]:
    """Re-train the best configuration once and score it on the held-out test split (its only use)."""
    data = context.data if context.data is not None else load_dataset(config)
    context = dataclasses.replace(context, data=data)
    result = train_trial(config, context, keep_model=True)
    try:
        return {
            "validation_metrics": result.last,
            "test_metrics": evaluate_on_test(result.model, data, result.normalization),
            "model": model_bytes(result.model),
        }
    finally:
        release_trial_state()


def evaluate_on_test(model: keras.Model, data: Dataset, normalization: str) -> dict[str, float]:
    """Full metric set on the held-out test split; used once, for the best trial, after the sweep."""
    data = normalize(data, normalization)
    probs = _predict(model, data.x_test)
    return compute_metrics(data.y_test, probs, prefix="test_")
