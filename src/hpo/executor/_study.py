"""Open (or create) a sweep's Optuna study, refusing to continue one under a different space."""

from __future__ import annotations

import re
from pathlib import Path

import optuna

from hpo import _constants, _optuna
from hpo._errors import UsageError
from hpo._storage_url import mask_url, storage_kind
from hpo.config import Sweep


def study_names(storage: optuna.storages.BaseStorage, base: str) -> list[str]:
    """``base`` and its ``base-2``, ``base-3`` … successors that exist, oldest first."""
    pattern = re.compile(rf"^{re.escape(base)}(?:-(\d+))?$")
    found = []
    for summary in optuna.get_all_study_summaries(storage, include_best_trial=False):
        match = pattern.match(summary.study_name)
        if match:
            found.append((int(match.group(1) or 1), summary.study_name))
    return [name for _, name in sorted(found)]


def open_study(
    sweep: Sweep,
    new_study: bool = False,
    seed: int | None = None,
    storage: optuna.storages.BaseStorage | None = None,
) -> optuna.Study:
    """The sweep's latest study, continued; or a fresh ``<name>-k`` when ``new_study`` is set."""
    storage = storage or _optuna.open_storage(sweep.storage_url())
    config = sweep.config
    sampler = _optuna.make_sampler(config.sampler.name, config.sampler.args, config.sampler.seed if seed is None else seed, sweep.space)
    pruner = _optuna.make_pruner(config.pruner.name, config.pruner.args, config.train.epochs)
    existing = study_names(storage, sweep.study_name)
    fingerprint = sweep.space.fingerprint()
    if existing and not new_study:
        name = existing[-1]
        study = optuna.load_study(study_name=name, storage=storage, sampler=sampler, pruner=pruner)
        stored = study.user_attrs.get(_constants.ATTR_SPACE_FINGERPRINT)
        if stored is not None and stored != fingerprint:
            raise UsageError(
                f"study {name!r} in {mask_url(sweep.storage_url())} was created with a different search space "
                f"(fingerprint {stored}, the sweep file now gives {fingerprint}); continuing it would mix "
                "incomparable trials. Run with --new-study to start a new study beside it (nothing is deleted), "
                "or restore the previous space"
            )
        direction = optuna.study.StudyDirection.MAXIMIZE if config.objective.direction == "maximize" else optuna.study.StudyDirection.MINIMIZE
        if study.direction != direction:
            raise UsageError(
                f"study {name!r} optimizes {study.direction.name.lower()}, but the sweep file says "
                f"{config.objective.direction}; use --new-study or restore objective.direction"
            )
        return study
    name = sweep.study_name if not existing else f"{sweep.study_name}-{len(existing) + 1}"
    while name in existing:
        name += "-new"
    study = optuna.create_study(
        study_name=name,
        storage=storage,
        sampler=sampler,
        pruner=pruner,
        direction=config.objective.direction,
    )
    study.set_user_attr(_constants.ATTR_SPACE_FINGERPRINT, fingerprint)
    study.set_user_attr(_constants.ATTR_SWEEP_NAME, sweep.name)
    for values in config.enqueue:
        study.enqueue_trial(values)
    return study


def open_existing_storage(sweep: Sweep) -> optuna.storages.BaseStorage:
    """The sweep's storage for reading; UsageError (nothing created) when its journal does not exist."""
    url = sweep.storage_url()
    if storage_kind(url) == "journal" and not Path(url).exists():  # don't create files just to look
        raise UsageError(f"no study for sweep {sweep.name!r}: {url} does not exist; run `hpo run {sweep.path}` first")
    return _optuna.open_storage(url)


def load_existing_study(sweep: Sweep) -> optuna.Study:
    """The sweep's latest study for read-only commands; UsageError when there is none yet."""
    storage = open_existing_storage(sweep)
    names = study_names(storage, sweep.study_name)
    if not names:
        raise UsageError(
            f"no study {sweep.study_name!r} in {mask_url(sweep.storage_url())} yet; run `hpo run {sweep.path}` first"
        )
    return optuna.load_study(study_name=names[-1], storage=storage)
