"""Classification metrics from predicted probabilities, in numpy (backend-independent).

Macro averages over the labels present in truth or prediction, zero where undefined, as
scikit-learn does with ``zero_division=0``; AUC is binary, or one-vs-rest macro for multiclass.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import rankdata

_EPS = float(np.finfo(np.float64).eps)  # the clip scikit-learn's log_loss uses


def _binary_auc(positive: np.ndarray, scores: np.ndarray) -> float:
    n_pos = int(positive.sum())
    n_neg = len(positive) - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(scores)
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def compute_metrics(y_true: np.ndarray, probs: np.ndarray, prefix: str = "") -> dict[str, float]:
    """loss, accuracy, precision, recall, f1 (macro) and auc, each named ``prefix + name``."""
    y_true = np.asarray(y_true).astype(int)
    probs = np.asarray(probs, dtype=np.float64)
    n_classes = probs.shape[1]
    y_pred = probs.argmax(axis=1)
    picked = np.clip(probs[np.arange(len(y_true)), y_true], _EPS, 1.0)
    labels = np.union1d(y_true, y_pred)
    precision, recall, f1 = [], [], []
    for label in labels:
        tp = np.sum((y_pred == label) & (y_true == label))
        fp = np.sum((y_pred == label) & (y_true != label))
        fn = np.sum((y_pred != label) & (y_true == label))
        p = tp / (tp + fp) if tp + fp else 0.0
        r = tp / (tp + fn) if tp + fn else 0.0
        precision.append(p)
        recall.append(r)
        f1.append(2 * p * r / (p + r) if p + r else 0.0)
    if n_classes == 2:
        auc = _binary_auc(y_true == 1, probs[:, 1])
    else:
        per_class = [_binary_auc(y_true == k, probs[:, k]) for k in range(n_classes)]
        defined = [a for a in per_class if not np.isnan(a)]
        auc = float(np.mean(defined)) if defined else float("nan")
    values = {
        "loss": float(-np.mean(np.log(picked))),
        "accuracy": float(np.mean(y_pred == y_true)),
        "precision": float(np.mean(precision)),
        "recall": float(np.mean(recall)),
        "f1": float(np.mean(f1)),
        "auc": auc,
    }
    return {prefix + k: v for k, v in values.items()}


def regression_metrics(
    y_true: np.ndarray, y_pred: np.ndarray, loss: str = "mse", prefix: str = "", huber_delta: float = 1.0
) -> dict[str, float]:
    """loss (the training loss's value), mse, mae and r2, each named ``prefix + name``, as
    scikit-learn's ``mean_squared_error``, ``mean_absolute_error`` and ``r2_score`` compute them."""
    y_true = np.asarray(y_true, dtype=np.float64).ravel()
    error = np.asarray(y_pred, dtype=np.float64).ravel() - y_true
    mse = float(np.mean(error**2))
    mae = float(np.mean(np.abs(error)))
    total = float(np.sum((y_true - y_true.mean()) ** 2))
    r2 = 1.0 - float(np.sum(error**2)) / total if total > 0 else float("nan")
    small = np.abs(error) <= huber_delta
    huber = float(np.mean(np.where(small, 0.5 * error**2, huber_delta * (np.abs(error) - 0.5 * huber_delta))))
    values = {"loss": {"mse": mse, "mae": mae, "huber": huber}[loss], "mse": mse, "mae": mae, "r2": r2}
    return {prefix + k: v for k, v in values.items()}
