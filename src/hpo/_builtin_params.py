"""The parameters the built-in Keras trainer reads, with their defaults, written once.

The engine reads every parameter through ``builtin_value``; `hpo validate` uses ``unread`` to
refuse a space parameter the built-in trainer would never read (usually a typo: ``dropuot``).
Keras-free, so that validation stays fast.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

DEFAULTS: dict[str, Any] = {
    # model
    "family": "mlp",
    "depth": 1,
    "activation": "relu",
    "kernel_initializer": "glorot_uniform",
    "batch_norm": False,
    "use_l2": False,
    "l2": 0.0,
    "conv_blocks": 1,
    "kernel_size": 3,
    "pooling": "max",
    "conv_dropout": 0.0,
    "augment": False,
    "augment_strength": 0.1,
    "augment_flip": False,
    # optimizer and schedule
    "optimizer": "adam",
    "learning_rate": 1e-3,
    "momentum": 0.0,
    "nesterov": False,
    "weight_decay": 0.004,
    "rho": 0.9,
    "lr_schedule": "none",
    "decay_epochs": 1,
    "decay_rate": 0.9,
    "inverse_decay_rate": 0.5,
    "warmup_epochs": 0,
    "cosine_alpha": 0.0,
    "step_epochs": 3,
    "step_factor": 0.5,
    # data and loss
    "batch_size": 64,
    "normalization": "none",
    "loss": "mse",
    "huber_delta": 1.0,
}
# Per-layer parameters: ``units_0``, ``units_1``, ... (declared as ``units`` with ``per_layer``;
# a plain ``units`` sets every layer).
PER_LAYER: dict[str, Any] = {"units": 64, "dropout": 0.0, "filters": 32}
_PER_LAYER = re.compile(rf"^({'|'.join(PER_LAYER)})_(\d+)$")


def builtin_value(params: Mapping[str, Any], name: str) -> Any:
    """``params[name]``, or the built-in trainer's default for it."""
    if name in params:
        return params[name]
    if name in DEFAULTS:
        return DEFAULTS[name]
    match = _PER_LAYER.match(name)
    if match:  # ``units`` declared without per_layer: the same value for every layer
        return params[match.group(1)] if match.group(1) in params else PER_LAYER[match.group(1)]
    raise KeyError(f"the built-in trainer has no parameter {name!r}")


def reads(name: str) -> bool:
    """Whether the built-in trainer reads a parameter of this (declared or expanded) name."""
    return name in DEFAULTS or name in PER_LAYER or bool(_PER_LAYER.match(name))


def unread(names: Iterable[str]) -> list[str]:
    """The names the built-in trainer never reads."""
    return [name for name in names if not reads(name)]


def known_names() -> list[str]:
    return [*DEFAULTS, *PER_LAYER]
