"""Per-epoch validation metrics: hpo's numpy implementation versus the same six metrics from
scikit-learn (which the tests use as the oracle), on a validation split the size of the default
sweep's (360 samples, 10 classes). Run: .venv/bin/python benchmarks/metrics_cost.py [--repeats 200]
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def sklearn_metrics(y: np.ndarray, probs: np.ndarray) -> dict[str, float]:
    from sklearn import metrics

    labels = np.arange(probs.shape[1])
    pred = probs.argmax(axis=1)
    precision, recall, f1, _ = metrics.precision_recall_fscore_support(y, pred, average="macro", zero_division=0)
    return {
        "loss": metrics.log_loss(y, probs, labels=labels),
        "accuracy": metrics.accuracy_score(y, pred),
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "auc": metrics.roc_auc_score(y, probs, multi_class="ovr", labels=labels),
    }


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser()
    parser.add_argument("--samples", type=int, default=360)
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=200)
    args = parser.parse_args(argv)
    from hpo.engine import compute_metrics

    rng = np.random.default_rng(0)
    y = rng.integers(0, args.classes, args.samples)
    probs = rng.random((args.samples, args.classes))
    probs /= probs.sum(axis=1, keepdims=True)
    timings = {}
    for name, function in (("hpo numpy", compute_metrics), ("scikit-learn", sklearn_metrics)):
        function(y, probs)
        start = time.perf_counter()
        for _ in range(args.repeats):
            function(y, probs)
        timings[name] = 1000 * (time.perf_counter() - start) / args.repeats
    ours, theirs = compute_metrics(y, probs), sklearn_metrics(y, probs)
    agree = all(abs(ours[k] - theirs[k]) < 1e-9 for k in theirs)
    print(f"{args.samples} samples, {args.classes} classes; the two agree: {agree}")
    for name, ms in timings.items():
        print(f"{name:<14} {ms:7.2f} ms per epoch")
    return timings


if __name__ == "__main__":
    main()
