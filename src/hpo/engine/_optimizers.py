"""Optimizers and learning-rate schedules from a trial's parameters, stepped per optimizer step."""

from __future__ import annotations

from typing import Any

import keras

from hpo._errors import TrialFailed


def learning_rate_schedule(params: dict[str, Any], steps_per_epoch: int, epochs: int) -> float | keras.optimizers.schedules.LearningRateSchedule:
    """The schedule named by ``lr_schedule`` (default ``none``), in optimizer steps."""
    lr = float(params.get("learning_rate", 1e-3))
    kind = params.get("lr_schedule", "none")
    spe = max(1, steps_per_epoch)
    schedules = keras.optimizers.schedules
    if kind == "none":
        return lr
    if kind == "exponential":
        return schedules.ExponentialDecay(lr, decay_steps=params.get("decay_epochs", 1) * spe, decay_rate=params.get("decay_rate", 0.9))
    if kind == "inverse_time":
        return schedules.InverseTimeDecay(lr, decay_steps=params.get("decay_epochs", 1) * spe, decay_rate=params.get("inverse_decay_rate", 0.5))
    if kind == "cosine":
        warmup = params.get("warmup_epochs", 0) * spe
        total = max(1, epochs * spe - warmup)
        alpha = params.get("cosine_alpha", 0.0)
        if warmup:
            return schedules.CosineDecay(0.0, decay_steps=total, alpha=alpha, warmup_target=lr, warmup_steps=warmup)
        return schedules.CosineDecay(lr, decay_steps=total, alpha=alpha)
    if kind == "step":
        every = params.get("step_epochs", 3) * spe
        factor = params.get("step_factor", 0.5)
        n_drops = max(1, epochs * spe // every)
        boundaries = [every * (i + 1) for i in range(n_drops)]
        values = [lr * factor**i for i in range(n_drops + 1)]
        return schedules.PiecewiseConstantDecay(boundaries, values)
    raise TrialFailed(f"lr_schedule must be none, exponential, cosine, step or inverse_time, but got {kind!r}")


def build_optimizer(params: dict[str, Any], steps_per_epoch: int, epochs: int) -> keras.optimizers.Optimizer:
    """SGD (momentum, nesterov), Adam, AdamW (weight decay) or RMSprop (momentum, rho)."""
    lr = learning_rate_schedule(params, steps_per_epoch, epochs)
    name = params.get("optimizer", "adam")
    if name == "sgd":
        return keras.optimizers.SGD(lr, momentum=params.get("momentum", 0.0), nesterov=bool(params.get("nesterov", False)))
    if name == "adam":
        return keras.optimizers.Adam(lr)
    if name == "adamw":
        return keras.optimizers.AdamW(lr, weight_decay=params.get("weight_decay", 0.004))
    if name == "rmsprop":
        return keras.optimizers.RMSprop(lr, rho=params.get("rho", 0.9), momentum=params.get("momentum", 0.0))
    raise TrialFailed(f"optimizer must be sgd, adam, adamw or rmsprop, but got {name!r}")
