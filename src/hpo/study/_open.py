"""Open (or create) a sweep's Optuna study, refusing to continue one under a different space."""

from __future__ import annotations

import re
import warnings
from typing import TYPE_CHECKING

import optuna

from hpo import _constants
from hpo._errors import UsageError
from hpo.storage import Store
from hpo.study._carry import carry_trials, space_changes
from hpo.study._factories import make_pruner, make_sampler
from hpo.study._grid import AskTellGridSampler
from hpo.study._promotion import PausedAwareSampler

if TYPE_CHECKING:  # the study package never imports config at run time (config imports it)
    from hpo.config import Sweep


def study_names(storage: optuna.storages.BaseStorage, base: str) -> list[str]:
    """``base`` and its ``base-2``, ``base-3`` … successors that exist, oldest first."""
    pattern = re.compile(rf"^{re.escape(base)}(?:-(\d+))?$")
    found = []
    for study in storage.get_all_studies():  # names only: study summaries would copy every trial
        match = pattern.match(study.study_name)
        if match:
            found.append((int(match.group(1) or 1), study.study_name))
    return [name for _, name in sorted(found)]


def _space_changed(sweep: Sweep, study: optuna.Study) -> bool:
    stored = study.user_attrs.get(_constants.ATTR_SPACE_FINGERPRINT)
    return stored is not None and stored != sweep.space.fingerprint()


def _changes(sweep: Sweep, study: optuna.Study) -> str:
    old = study.user_attrs.get(_constants.ATTR_SPACE)
    if old is None:
        return " (the study predates hpo keeping its space, so what changed cannot be listed)"
    return ":\n  " + "\n  ".join(space_changes(old, sweep.space.to_dict()) or ["(only the parameters' order)"])


def _check_continuable(sweep: Sweep, study: optuna.Study, store: Store) -> None:
    if _space_changed(sweep, study):
        raise UsageError(
            f"study {study.study_name!r} in {store.masked} was created with a different search space"
            f"{_changes(sweep, study)}\ncontinuing it would mix incomparable trials. Run with --carry-over to start "
            "a new study beside it that keeps the finished trials the new space can still produce (the sampler "
            "learns from them), with --new-study to start one from nothing (nothing is deleted), or restore the "
            "previous space"
        )
    wanted = [g.direction for g in sweep.config.objective.targets]
    stored_directions = [d.name.lower() for d in study.directions]
    if stored_directions != wanted:
        raise UsageError(
            f"study {study.study_name!r} optimizes {stored_directions}, but the sweep file's objective says "
            f"{wanted}; use --new-study or restore the objective"
        )


def open_study(
    sweep: Sweep,
    storage: optuna.storages.BaseStorage | None = None,
    new_study: bool = False,
) -> optuna.Study:
    """The sweep's latest study, continued; or a fresh ``<name>-k`` when ``new_study`` is set."""
    store = Store(sweep.storage_url())
    storage = storage or store.open()
    config = sweep.config
    sampler = make_sampler(config.sampler.name, config.sampler.args, config.sampler.seed, sweep.space)
    pruner = make_pruner(config.pruner.name, config.pruner.args, config.train.epochs)
    if config.pruner.name in _constants.PROMOTION_SCHEDULERS and not isinstance(sampler, AskTellGridSampler):
        sampler = PausedAwareSampler(sampler)
    existing = study_names(storage, sweep.study_name)
    earlier: optuna.Study | None = None
    if existing and not new_study:
        study = optuna.load_study(study_name=existing[-1], storage=storage, sampler=sampler, pruner=pruner)
        if _constants.ATTR_SPACE_FINGERPRINT not in study.user_attrs:  # its creator died setting it up
            _check_continuable(sweep, study, store)  # the directions
            _set_up(study, sweep, _carry_source(sweep, storage, existing), again=True)
            return study
        if not (config.carry_over and _space_changed(sweep, study) and _constants.ATTR_SPACE in study.user_attrs):
            _check_continuable(sweep, study, store)
            return study
        earlier = study  # the space changed: a new study that carries what still fits
    name = sweep.study_name if not existing else f"{sweep.study_name}-{len(existing) + 1}"
    while name in existing:
        name += "-new"
    try:
        study = optuna.create_study(
            study_name=name,
            storage=storage,
            sampler=sampler,
            pruner=pruner,
            directions=[g.direction for g in config.objective.targets],
        )
    except optuna.exceptions.DuplicatedStudyError:  # another driver created it a moment ago: join it
        study = optuna.load_study(study_name=name, storage=storage, sampler=sampler, pruner=pruner)
        _check_continuable(sweep, study, store)
        return study
    _set_up(study, sweep, earlier)
    return study


def _carry_source(sweep: Sweep, storage: optuna.storages.BaseStorage, existing: list[str]) -> optuna.Study | None:
    """For a study left half set up: the study before it, when this run carries over from it (the
    sweep asks for it and that study ran under another space)."""
    if not sweep.config.carry_over or len(existing) < 2:
        return None
    earlier = optuna.load_study(study_name=existing[-2], storage=storage)
    return earlier if _space_changed(sweep, earlier) and _constants.ATTR_SPACE in earlier.user_attrs else None


def _set_up(study: optuna.Study, sweep: Sweep, earlier: optuna.Study | None, again: bool = False) -> None:
    """Write what hpo keeps with a new study, its space's fingerprint last: a study without one was
    left by a driver that died while creating it, and the next run sets it up ``again`` (the
    enqueued points and the carried trials only where the study does not hold them yet, so a second
    driver doing the same adds none)."""
    with warnings.catch_warnings():  # "experimental" since Optuna 3.2; hpo relies on it only for display
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study.set_metric_names([g.metric for g in sweep.config.objective.targets])  # the dashboard's axis titles
    study.set_user_attr(_constants.ATTR_SPACE, sweep.space.to_dict())
    study.set_user_attr(_constants.ATTR_SWEEP_NAME, sweep.name)
    if earlier is not None:
        carry_trials(earlier, study, sweep.space, earlier.user_attrs[_constants.ATTR_SPACE])
    for values in sweep.config.enqueue:
        study.enqueue_trial(values, skip_if_exists=again)
    study.set_user_attr(_constants.ATTR_SPACE_FINGERPRINT, sweep.space.fingerprint())


def open_existing_storage(sweep: Sweep) -> optuna.storages.BaseStorage:
    """The sweep's storage for reading; UsageError (nothing created) when its journal does not exist."""
    store = Store(sweep.storage_url())
    if not store.exists():  # don't create files just to look
        raise UsageError(
            f"no study for sweep {sweep.name!r}: {store.url} does not exist; run `hpo run {sweep.path}` first"
        )
    return store.open()


def load_existing_study(sweep: Sweep) -> optuna.Study:
    """The sweep's latest study for read-only commands; UsageError when there is none yet."""
    storage = open_existing_storage(sweep)
    names = study_names(storage, sweep.study_name)
    if not names:
        raise UsageError(
            f"no study {sweep.study_name!r} in {Store(sweep.storage_url()).masked} yet; run `hpo run {sweep.path}` "
            "first"
        )
    return optuna.load_study(study_name=names[-1], storage=storage)
