"""Optimizers and learning-rate schedules from a trial's parameters, stepped per optimizer step."""

from __future__ import annotations

from typing import Any

import keras

from hpo._builtin_params import builtin_value
from hpo._errors import TrialFailed


def learning_rate_schedule(
    params: dict[str, Any], steps_per_epoch: int, epochs: int
) -> float | keras.optimizers.schedules.LearningRateSchedule:
    """The schedule named by ``lr_schedule`` (default ``none``), in optimizer steps."""
    lr = float(builtin_value(params, "learning_rate"))
    kind = builtin_value(params, "lr_schedule")
    spe = max(1, steps_per_epoch)
    schedules = keras.optimizers.schedules
    if kind == "none":
        return lr
    if kind == "exponential":
        return schedules.ExponentialDecay(
            lr, decay_steps=builtin_value(params, "decay_epochs") * spe, decay_rate=builtin_value(params, "decay_rate")
        )
    if kind == "inverse_time":
        return schedules.InverseTimeDecay(
            lr,
            decay_steps=builtin_value(params, "decay_epochs") * spe,
            decay_rate=builtin_value(params, "inverse_decay_rate"),
        )
    if kind == "cosine":
        warmup = builtin_value(params, "warmup_epochs") * spe
        total = max(1, epochs * spe - warmup)
        alpha = builtin_value(params, "cosine_alpha")
        if warmup:
            return schedules.CosineDecay(0.0, decay_steps=total, alpha=alpha, warmup_target=lr, warmup_steps=warmup)
        return schedules.CosineDecay(lr, decay_steps=total, alpha=alpha)
    if kind == "step":
        every = builtin_value(params, "step_epochs") * spe
        factor = builtin_value(params, "step_factor")
        n_drops = max(1, epochs * spe // every)
        boundaries = [every * (i + 1) for i in range(n_drops)]
        values = [lr * factor**i for i in range(n_drops + 1)]
        return schedules.PiecewiseConstantDecay(boundaries, values)
    raise TrialFailed(f"lr_schedule must be none, exponential, cosine, step or inverse_time, but got {kind!r}")


def build_optimizer(params: dict[str, Any], steps_per_epoch: int, epochs: int) -> keras.optimizers.Optimizer:
    """SGD (momentum, nesterov), Adam, AdamW (weight decay) or RMSprop (momentum, rho)."""
    lr = learning_rate_schedule(params, steps_per_epoch, epochs)
    name = builtin_value(params, "optimizer")
    if name == "sgd":
        return keras.optimizers.SGD(
            lr, momentum=builtin_value(params, "momentum"), nesterov=bool(builtin_value(params, "nesterov"))
        )
    if name == "adam":
        return keras.optimizers.Adam(lr)
    if name == "adamw":
        return keras.optimizers.AdamW(lr, weight_decay=builtin_value(params, "weight_decay"))
    if name == "rmsprop":
        return keras.optimizers.RMSprop(
            lr, rho=builtin_value(params, "rho"), momentum=builtin_value(params, "momentum")
        )
    raise TrialFailed(f"optimizer must be sgd, adam, adamw or rmsprop, but got {name!r}")
