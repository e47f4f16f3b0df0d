"""Each learning-rate schedule's value at chosen optimizer steps matches its formula."""

from __future__ import annotations

import math

import keras
import pytest

from hpo.engine import build_optimizer, learning_rate_schedule

SPE = 10  # steps per epoch
EPOCHS = 12
LR = 0.1


def _cosine(step: float, total: float, alpha: float) -> float:
    step = min(step, total)
    return LR * ((1 - alpha) * 0.5 * (1 + math.cos(math.pi * step / total)) + alpha)


# (id, params, {step: expected learning rate})
SCHEDULES = [
    ("none", {"lr_schedule": "none"}, {0: LR, 57: LR}),
    ("exponential", {"lr_schedule": "exponential", "decay_rate": 0.5, "decay_epochs": 2},
     {0: LR, 20: LR * 0.5, 35: LR * 0.5 ** (35 / 20), 80: LR * 0.5**4}),
    ("inverse_time", {"lr_schedule": "inverse_time", "inverse_decay_rate": 0.5, "decay_epochs": 1},
     {0: LR, 10: LR / 1.5, 25: LR / (1 + 0.5 * 2.5)}),
    ("cosine", {"lr_schedule": "cosine", "warmup_epochs": 0, "cosine_alpha": 0.1},
     {0: LR, 30: _cosine(30, 120, 0.1), 60: _cosine(60, 120, 0.1), 119: _cosine(119, 120, 0.1), 200: LR * 0.1}),
    ("cosine_warmup", {"lr_schedule": "cosine", "warmup_epochs": 2, "cosine_alpha": 0.0},
     {0: 0.0, 5: LR * 5 / 20, 20: LR, 20 + 50: _cosine(50, 100, 0.0)}),
    ("step", {"lr_schedule": "step", "step_epochs": 3, "step_factor": 0.5},
     {0: LR, 29: LR, 31: LR * 0.5, 61: LR * 0.25, 95: LR * 0.125}),
]


@pytest.mark.parametrize(("params", "expected"), [(p, e) for _, p, e in SCHEDULES], ids=[i for i, _, _ in SCHEDULES])
def test_schedule_matches_formula(params, expected) -> None:
    schedule = learning_rate_schedule({"learning_rate": LR, **params}, SPE, EPOCHS)
    for step, value in expected.items():
        got = schedule if isinstance(schedule, float) else float(keras.ops.convert_to_numpy(schedule(step)))
        assert got == pytest.approx(value, rel=1e-5, abs=1e-9), f"step {step}"


@pytest.mark.parametrize(
    ("params", "cls", "attrs"),
    [
        ({"optimizer": "sgd", "momentum": 0.9, "nesterov": True}, keras.optimizers.SGD, {"momentum": 0.9, "nesterov": True}),
        ({"optimizer": "adam"}, keras.optimizers.Adam, {}),
        ({"optimizer": "adamw", "weight_decay": 0.01}, keras.optimizers.AdamW, {"weight_decay": 0.01}),
        ({"optimizer": "rmsprop", "rho": 0.85, "momentum": 0.5}, keras.optimizers.RMSprop, {"rho": 0.85, "momentum": 0.5}),
    ],
    ids=["sgd", "adam", "adamw", "rmsprop"],
)
def test_optimizers_take_their_parameters(params, cls, attrs) -> None:
    opt = build_optimizer({"learning_rate": 0.01, **params}, SPE, EPOCHS)
    assert type(opt) is cls
    for name, value in attrs.items():
        assert getattr(opt, name) == pytest.approx(value)
