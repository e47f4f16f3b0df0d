"""Sampling configurations from a space through a real Optuna sampler, without training."""

from __future__ import annotations

from typing import Any

import optuna

from hpo.space._space import SearchSpace


def sample_configurations(
    space: SearchSpace,
    n: int,
    seed: int,
    sampler: optuna.samplers.BaseSampler | None = None,
) -> list[dict[str, Any]]:
    """``n`` configurations drawn by ``sampler`` (random with ``seed`` by default) in an in-memory study."""
    sampler = sampler or optuna.samplers.RandomSampler(seed=seed)
    study = optuna.create_study(sampler=sampler, storage=optuna.storages.InMemoryStorage())
    configs = []
    for i in range(n):
        trial = study.ask()
        config = space.sample(trial)
        study.tell(trial, float(i % 7))
        configs.append(config)
    return configs
