"""Reference test: hpo's numpy metrics equal scikit-learn's on fixed predictions."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm

from hpo.engine._metrics import compute_metrics


def _case(n_classes: int, seed: int, drop_class: bool = False) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, n_classes, 200)
    logits = rng.normal(size=(200, n_classes)) + 1.5 * np.eye(n_classes)[y]
    if drop_class:  # a class that is never predicted: precision must be 0, not an error
        logits[:, n_classes - 1] = -50
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return y, probs


CASES = [("binary", 2, 0, False), ("multiclass", 5, 1, False), ("never_predicted", 4, 2, True), ("ten_classes", 10, 3, False)]


@pytest.mark.parametrize(("n_classes", "seed", "drop"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_metrics_match_sklearn(n_classes: int, seed: int, drop: bool) -> None:
    y, probs = _case(n_classes, seed, drop)
    pred = probs.argmax(axis=1)
    got = compute_metrics(y, probs, prefix="val_")
    assert got["val_accuracy"] == pytest.approx(skm.accuracy_score(y, pred))
    assert got["val_precision"] == pytest.approx(skm.precision_score(y, pred, average="macro", zero_division=0))
    assert got["val_recall"] == pytest.approx(skm.recall_score(y, pred, average="macro", zero_division=0))
    assert got["val_f1"] == pytest.approx(skm.f1_score(y, pred, average="macro", zero_division=0))
    assert got["val_loss"] == pytest.approx(skm.log_loss(y, probs, labels=list(range(n_classes))), rel=1e-5)
    if n_classes == 2:
        expected_auc = skm.roc_auc_score(y, probs[:, 1])
    else:
        expected_auc = skm.roc_auc_score(y, probs, multi_class="ovr", average="macro", labels=list(range(n_classes)))
    assert got["val_auc"] == pytest.approx(expected_auc)


def test_auc_with_ties_matches_sklearn() -> None:
    y = np.array([0, 1, 0, 1, 1, 0])
    p1 = np.array([0.5, 0.5, 0.2, 0.8, 0.5, 0.2])
    probs = np.stack([1 - p1, p1], axis=1)
    assert compute_metrics(y, probs)["auc"] == pytest.approx(skm.roc_auc_score(y, p1))
