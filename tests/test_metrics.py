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


def test_a_class_predicted_but_absent_from_the_truth_counts_in_the_macro_averages() -> None:
    """As scikit-learn: the labels are those of truth *and* prediction, so a wrongly predicted
    class that never occurs pulls macro precision, recall and f1 down (precision 0 for it)."""
    y = np.array([0, 0, 1, 1])
    probs = np.array([[0.9, 0.05, 0.05], [0.1, 0.1, 0.8], [0.1, 0.8, 0.1], [0.2, 0.7, 0.1]])  # class 2: predicted, never true
    pred = probs.argmax(axis=1)
    got = compute_metrics(y, probs)
    for name, score in (("precision", skm.precision_score), ("recall", skm.recall_score), ("f1", skm.f1_score)):
        assert got[name] == pytest.approx(score(y, pred, average="macro", zero_division=0)), name
    assert got["precision"] == pytest.approx((1.0 + 1.0 + 0.0) / 3)


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


@pytest.mark.parametrize("loss", ["mse", "mae", "huber"])
def test_regression_metrics_match_sklearn(loss: str) -> None:
    from hpo.engine._metrics import regression_metrics

    rng = np.random.default_rng(4)
    y = rng.normal(size=150) * 3
    pred = y + rng.normal(size=150)
    got = regression_metrics(y, pred, loss=loss, prefix="val_", huber_delta=1.0)
    assert got["val_mse"] == pytest.approx(skm.mean_squared_error(y, pred))
    assert got["val_mae"] == pytest.approx(skm.mean_absolute_error(y, pred))
    assert got["val_r2"] == pytest.approx(skm.r2_score(y, pred))
    error = pred - y
    huber = np.mean(np.where(np.abs(error) <= 1.0, 0.5 * error**2, np.abs(error) - 0.5))
    assert got["val_loss"] == pytest.approx({"mse": got["val_mse"], "mae": got["val_mae"], "huber": huber}[loss])
