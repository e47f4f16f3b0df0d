"""scikit-learn's ``train_test_split`` indices and its bundled data sets, without importing
scikit-learn: its import (scipy.stats among it) costs about 2 CPU-seconds, which every driver and
``hpo`` command paid before its first trial. The same seed gives the very split scikit-learn gives,
so a study resumed across this change trains on the same samples (tests/test_data.py compares the
two on a table of shapes, fractions and seeds, and the data sets value by value)."""

from __future__ import annotations

import gzip
import importlib.util
import math
from pathlib import Path

import numpy as np

from hpo._errors import DataError


def shuffle_split(
    n_samples: int, test_size: float, seed: int, stratify: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(train, test) indices, as ``train_test_split(..., test_size, stratify=stratify, random_state=seed)``
    takes them: ``ShuffleSplit`` or ``StratifiedShuffleSplit`` with the same random stream."""
    n_test = math.ceil(test_size * n_samples)
    n_train = n_samples - n_test
    rng = np.random.RandomState(seed)
    if stratify is None:
        permutation = rng.permutation(n_samples)
        return permutation[n_test : n_test + n_train], permutation[:n_test]
    classes, y_indices, class_counts = np.unique(stratify, return_inverse=True, return_counts=True)
    if class_counts.min() < 2 or min(n_train, n_test) < len(classes):
        raise DataError(
            f"a stratified split needs 2 samples of every class and at least one per class on each side, but "
            f"{n_samples} samples of {len(classes)} classes (the smallest has {class_counts.min()}) split "
            f"{n_train}/{n_test}; use more data or larger data.validation_fraction / data.test_fraction"
        )
    class_indices = np.split(np.argsort(y_indices, kind="stable"), np.cumsum(class_counts)[:-1])
    n_i = _approximate_mode(class_counts, n_train, rng)
    t_i = _approximate_mode(class_counts - n_i, n_test, rng)
    train: list[int] = []
    test: list[int] = []
    for i, indices in enumerate(class_indices):
        shuffled = indices.take(rng.permutation(class_counts[i]), mode="clip")
        train.extend(shuffled[: n_i[i]])
        test.extend(shuffled[n_i[i] : n_i[i] + t_i[i]])
    return rng.permutation(train), rng.permutation(test)


def _approximate_mode(class_counts: np.ndarray, n_draws: int, rng: np.random.RandomState) -> np.ndarray:
    """Draws per class in proportion to ``class_counts``; the left-over draws go to the largest
    remainders, ties broken at random (scikit-learn's ``_approximate_mode``)."""
    continuous = class_counts / class_counts.sum() * n_draws
    floored = np.floor(continuous)
    need_to_add = int(n_draws - floored.sum())
    if need_to_add > 0:
        remainder = continuous - floored
        for value in np.sort(np.unique(remainder))[::-1]:
            (inds,) = np.where(remainder == value)
            add_now = min(len(inds), need_to_add)
            floored[rng.choice(inds, size=add_now, replace=False)] += 1
            need_to_add -= add_now
            if need_to_add == 0:
                break
    return floored.astype(int)


def bundled_file(name: str) -> Path | None:
    """scikit-learn's file ``datasets/data/<name>``, found without importing scikit-learn (None when
    it is not there: the caller loads through scikit-learn's own loader)."""
    spec = importlib.util.find_spec("sklearn")
    for folder in (spec.submodule_search_locations or []) if spec is not None else []:
        path = Path(folder) / "datasets" / "data" / name
        if path.is_file():
            return path
    return None


def gzip_table(path: Path, delimiter: str | None = None) -> np.ndarray:
    """A gzipped table of numbers (``np.loadtxt``, as scikit-learn reads it)."""
    with gzip.open(path, "rt", encoding="utf-8") as text:
        return np.loadtxt(text, delimiter=delimiter)


def header_csv(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """A scikit-learn CSV whose first row says the sample and feature counts: (data, integer target)."""
    rows = path.read_text(encoding="utf-8").splitlines()
    n_samples, n_features = (int(v) for v in rows[0].split(",")[:2])
    table = np.array([row.split(",") for row in rows[1 : 1 + n_samples]])
    return table[:, :n_features].astype(np.float64), table[:, -1].astype(int)


def standardized(x: np.ndarray) -> np.ndarray:
    """Each column centred and divided by its standard deviation, in place (scikit-learn's
    ``scale`` on finite columns that are not constant)."""
    mean, std = np.nanmean(x, axis=0), np.nanstd(x, axis=0)
    x -= mean
    x /= std
    return x
