"""Datasets as numpy arrays: stratified seeded splits and normalization fitted on training data only.

Nothing here imports Keras, so the driver can load and check data before any trial starts.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hpo._errors import DataError

TASKS = ("classification", "regression")


@dataclass(frozen=True)
class Dataset:
    """Train / validation / test splits. The test split is only used after the sweep.

    Classification labels are 0..n_classes-1; a regression target is a float (``n_classes`` 0).
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    n_classes: int
    name: str = "data"

    @property
    def task(self) -> str:
        return "regression" if self.n_classes == 0 else "classification"

    @property
    def n_outputs(self) -> int:
        """Units of the model's last layer: one per class, or one value."""
        return self.n_classes or 1

    @property
    def is_image(self) -> bool:
        """Images are (n, height, width, channels); tables are (n, features)."""
        return self.x_train.ndim == 4

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.x_train.shape[1:])

    def summary(self) -> str:
        kind = "images" if self.is_image else "table"
        target = f"{self.n_classes} classes" if self.n_classes else "a regression target"
        return (
            f"{self.name}: {kind} {self.input_shape}, {target}, "
            f"train/val/test = {len(self.y_train)}/{len(self.y_val)}/{len(self.y_test)}"
        )


def check_features(x: np.ndarray, y: np.ndarray, source: str) -> tuple[np.ndarray, np.ndarray]:
    """Shapes and finiteness checked; images get a channel axis; labels are returned as given."""
    x = np.asarray(x)
    y = np.asarray(y)
    if x.ndim not in (2, 3, 4):
        raise DataError(f"{source}: features must be (n, features) or images (n, h, w[, c]), but got shape {x.shape}")
    if y.ndim != 1:
        raise DataError(f"{source}: labels must be one label per sample, shape (n,), but got shape {y.shape}")
    if len(x) != len(y):
        raise DataError(f"{source}: features and labels must have the same length, but got {len(x)} and {len(y)}")
    x = x.astype(np.float32)
    if not np.all(np.isfinite(x)):
        bad = int(np.sum(~np.isfinite(x).reshape(len(x), -1).all(axis=1)))
        raise DataError(
            f"{source}: features must be finite, but {bad} samples hold NaN or inf; clean or impute them first"
        )
    if x.ndim == 3:
        x = x[..., None]
    return x, y


def encode_labels(y: np.ndarray, classes: np.ndarray, source: str) -> np.ndarray:
    """Labels as indices 0..k-1 into ``classes`` (the training split's sorted labels); DataError
    naming any label the training split never saw."""
    unseen = np.setdiff1d(np.unique(y), classes)
    if len(unseen):
        raise DataError(
            f"{source}: labels {unseen.tolist()!r} never appear in the training split ({classes.tolist()!r}), so no "
            "model can learn them; move samples of those classes into the training split or drop them"
        )
    return np.searchsorted(classes, y).astype(np.int32)


def check_arrays(x: np.ndarray, y: np.ndarray, source: str) -> tuple[np.ndarray, np.ndarray]:
    """Shapes, finiteness and labels checked; images get a channel axis; labels become 0..k-1."""
    x, y = check_features(x, y, source)
    classes = np.unique(y)
    if len(classes) < 2:
        raise DataError(f"{source}: classification needs at least 2 classes, but every label is {classes.tolist()!r}")
    return x, encode_labels(y, classes, source)


def infer_task(y: np.ndarray, task: str = "auto") -> str:
    """``task`` as given; for ``auto``: regression for numbers that are not all whole, or whole
    numbers with many distinct values (more than 50 and 10% of the samples); else classification."""
    if task != "auto":
        return task
    y = np.asarray(y)
    if y.dtype.kind not in "iuf" or not np.all(np.isfinite(y)):
        return "classification"
    if not np.all(np.equal(np.mod(y, 1), 0)):
        return "regression"
    distinct = len(np.unique(y))
    return "regression" if distinct > 50 and distinct > 0.1 * len(y) else "classification"


def check_target(x: np.ndarray, y: np.ndarray, source: str) -> tuple[np.ndarray, np.ndarray]:
    """Features checked as for classification; the target must be finite numbers."""
    x, y = check_features(x, y, source)
    try:
        y = y.astype(np.float32)
    except (TypeError, ValueError):
        raise DataError(
            f"{source}: a regression target must be numbers, but got {y.dtype} values; set data.task: classification"
        ) from None
    if not np.all(np.isfinite(y)):
        raise DataError(
            f"{source}: the regression target must be finite, but {int(np.sum(~np.isfinite(y)))} values are NaN or inf"
        )
    return x, y


def split(
    x: np.ndarray,
    y: np.ndarray,
    validation_fraction: float,
    test_fraction: float,
    seed: int,
    name: str,
    task: str = "auto",
) -> Dataset:
    """Seeded train / validation / test split, stratified by class for classification (the split
    scikit-learn's ``train_test_split`` makes, without its import)."""
    from hpo.data._shuffle import shuffle_split

    if infer_task(y, task) == "regression":
        x, y = check_target(x, y, name)
        stratify, n_classes = None, 0
    else:
        x, y = check_arrays(x, y, name)
        counts = np.bincount(y)
        if counts.min() < 3:
            raise DataError(
                f"{name}: every class needs at least 3 samples for a stratified 3-way split, but class "
                f"{int(counts.argmin())} has {int(counts.min())}"
            )
        stratify, n_classes = y, int(y.max()) + 1
    rest, test = shuffle_split(len(y), test_fraction, seed, stratify=stratify)
    val_share = validation_fraction / (1.0 - test_fraction)
    train, val = shuffle_split(len(rest), val_share, seed, stratify=None if stratify is None else y[rest])
    train, val = rest[train], rest[val]
    return Dataset(x[train], y[train], x[val], y[val], x[test], y[test], n_classes, name)


def normalize(data: Dataset, method: str) -> Dataset:
    """``standard`` or ``minmax`` statistics from the training split applied to all three; ``none``."""
    if method == "none":
        return data
    axes = tuple(range(data.x_train.ndim - 1))  # per feature, or per channel for images
    if method == "standard":
        shift = data.x_train.mean(axis=axes, keepdims=True)
        scale = data.x_train.std(axis=axes, keepdims=True)
    elif method == "minmax":
        shift = data.x_train.min(axis=axes, keepdims=True)
        scale = data.x_train.max(axis=axes, keepdims=True) - shift
    else:
        raise DataError(f"normalization must be none, standard or minmax, but got {method!r}")
    scale = np.where(scale > 0, scale, 1.0).astype(np.float32)

    def apply(x: np.ndarray) -> np.ndarray:
        return ((x - shift) / scale).astype(np.float32)

    return Dataset(
        apply(data.x_train),
        data.y_train,
        apply(data.x_val),
        data.y_val,
        apply(data.x_test),
        data.y_test,
        data.n_classes,
        data.name,
    )
