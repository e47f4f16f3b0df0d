"""The one place hpo builds Optuna samplers and pruners from a sweep's names and arguments."""

from __future__ import annotations

import inspect
import warnings
from typing import Any

import optuna

from hpo.space import SearchSpace
from hpo.space._params import CategoricalParam, FloatParam, IntParam
from hpo.space._parse import did_you_mean


def _grid_values(space: SearchSpace) -> dict[str, list[Any]]:
    """Every tunable parameter's grid; raises ValueError naming a parameter with no finite grid."""
    grid: dict[str, list[Any]] = {}
    for param in space:
        if isinstance(param, CategoricalParam):
            grid[param.name] = list(param.choices)
        elif isinstance(param, IntParam):
            grid[param.name] = list(range(param.low, param.max_value + 1, param.step))
        elif isinstance(param, FloatParam):
            if param.step is None:
                raise ValueError(
                    f"the grid sampler needs a finite grid, but float parameter {param.name!r} has no `step`; "
                    "add `step` to it or choose another sampler"
                )
            n = int(round((param.high - param.low) / param.step))
            grid[param.name] = [param.low + i * param.step for i in range(n + 1)]
    return grid


class _AskTellGridSampler(optuna.samplers.BaseSampler):
    """GridSampler for ask/tell: its ``after_trial`` calls ``study.stop()``, which only works inside
    ``study.optimize``; here the searcher ends the sweep through ``is_exhausted`` instead."""

    def __init__(self, grid: optuna.samplers.GridSampler, size: int) -> None:
        self._grid = grid
        self.size = size

    def infer_relative_search_space(self, study: optuna.Study, trial: Any) -> dict[str, Any]:
        return self._grid.infer_relative_search_space(study, trial)

    def sample_relative(self, study: optuna.Study, trial: Any, search_space: dict[str, Any]) -> dict[str, Any]:
        return self._grid.sample_relative(study, trial, search_space)

    def sample_independent(self, study: optuna.Study, trial: Any, param_name: str, param_distribution: Any) -> Any:
        return self._grid.sample_independent(study, trial, param_name, param_distribution)

    def before_trial(self, study: optuna.Study, trial: Any) -> None:
        self._grid.before_trial(study, trial)

    def is_exhausted(self, study: optuna.Study) -> bool:
        return self._grid.is_exhausted(study)


def grid_exhausted(study: optuna.Study) -> bool:
    """Whether the study's sampler is a grid with every point taken."""
    return isinstance(study.sampler, _AskTellGridSampler) and study.sampler.is_exhausted(study)


def trial_cap(study: optuna.Study, budget: int | None) -> int | None:
    """The trial budget, capped at the grid's size for a grid sampler (running trials hold points)."""
    if isinstance(study.sampler, _AskTellGridSampler):
        return study.sampler.size if budget is None else min(budget, study.sampler.size)
    return budget


def _sampler_classes() -> dict[str, type]:
    return {
        "tpe": optuna.samplers.TPESampler,
        "random": optuna.samplers.RandomSampler,
        "cmaes": optuna.samplers.CmaEsSampler,
        "gp": optuna.samplers.GPSampler,
        "qmc": optuna.samplers.QMCSampler,
        "grid": optuna.samplers.GridSampler,
    }


def _pruner_classes() -> dict[str, type]:
    return {
        "median": optuna.pruners.MedianPruner,
        "percentile": optuna.pruners.PercentilePruner,
        "successive_halving": optuna.pruners.SuccessiveHalvingPruner,
        "hyperband": optuna.pruners.HyperbandPruner,
        "patient": optuna.pruners.PatientPruner,
        "wilcoxon": optuna.pruners.WilcoxonPruner,
        "threshold": optuna.pruners.ThresholdPruner,
        "none": optuna.pruners.NopPruner,
    }


def _check_args(cls: type, args: dict[str, Any], reserved: tuple[str, ...]) -> None:
    accepted = [n for n in inspect.signature(cls.__init__).parameters if n not in ("self", *reserved)]
    for key in args:
        if key not in accepted:
            raise ValueError(
                f"{cls.__name__} takes no argument {key!r}{did_you_mean(key, accepted)}; "
                f"it accepts: {', '.join(accepted) or 'none'}"
            )


def make_sampler(name: str, args: dict[str, Any], seed: int | None, space: SearchSpace) -> optuna.samplers.BaseSampler:
    """A sampler by its sweep name. Raises ValueError with the sampler's own rule on bad arguments."""
    cls = _sampler_classes()[name]
    with warnings.catch_warnings():
        # The sweep file chose the sampler deliberately; Optuna's "experimental" notice is noise here.
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        if name == "grid":
            _check_args(cls, args, ("search_space", "seed"))
            grid = _grid_values(space)
            size = 1
            for values in grid.values():
                size *= len(values)
            return _AskTellGridSampler(cls(grid, seed=seed, **args), size)
        _check_args(cls, args, ("seed",))
        return cls(seed=seed, **args)


def make_pruner(name: str, args: dict[str, Any], epochs: int) -> optuna.pruners.BasePruner:
    """A pruner by its sweep name; ``patient`` wraps ``args.wrapped`` ({name, args}), default median."""
    cls = _pruner_classes()[name]
    args = dict(args)
    positional: tuple[Any, ...] = ()
    if name == "patient":
        wrapped = args.pop("wrapped", {"name": "median"})
        if not isinstance(wrapped, dict) or wrapped.get("name") not in _pruner_classes():
            raise ValueError(
                f"`wrapped` must be {{name: <pruner>, args: {{...}}}} with a pruner name from "
                f"{', '.join(_pruner_classes())}, but got {wrapped!r}"
            )
        _check_args(cls, args, ("wrapped_pruner",))
        positional = (make_pruner(wrapped["name"], dict(wrapped.get("args", {})), epochs),)
    else:
        if name == "hyperband":
            args.setdefault("max_resource", epochs)
        _check_args(cls, args, ())
    with warnings.catch_warnings():
        # The sweep file chose the pruner deliberately; Optuna's "experimental" notice is noise here.
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return cls(*positional, **args)


def startup_trials(name: str, args: dict[str, Any]) -> int:
    """How many finished trials the sampler needs before it stops sampling at random (0 if none)."""
    cls = _sampler_classes()[name]
    parameter = inspect.signature(cls.__init__).parameters.get("n_startup_trials")
    if parameter is None:
        return 0
    return int(args.get("n_startup_trials", parameter.default))


def _check_journal_tail(path: Any) -> None:
    """Refuse to append to a journal whose last record is incomplete: Optuna would glue the next
    record onto it and the study could no longer be read."""
    from hpo._errors import HpoError

    if not path.exists() or path.stat().st_size == 0:
        return
    with path.open("rb") as file:
        data = file.read()
    if data.endswith(b"\n"):
        return
    keep = data.rfind(b"\n") + 1
    raise HpoError(
        f"the study journal {path} ends with an incomplete record (a write was cut off: disk full or a kill "
        f"during a write); hpo will not append to it. It was left untouched. To continue, keep a backup and drop "
        f"the incomplete tail: cp {path} {path}.bak && head -c {keep} {path}.bak > {path}"
    )


def open_storage(url: str, append: bool = False) -> optuna.storages.BaseStorage:
    """A journal file (path) or an RDB storage (URL). Raises HpoError naming the masked URL.

    ``append`` (the run path) also refuses a journal with a truncated last record.
    """
    from hpo._errors import HpoError
    from hpo._storage_url import mask_url, storage_kind

    kind = storage_kind(url)
    if kind == "journal":
        from pathlib import Path

        path = Path(url)
        if append:
            _check_journal_tail(path)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            backend = optuna.storages.journal.JournalFileBackend(str(path))
            return optuna.storages.JournalStorage(backend)
        except (PermissionError, NotADirectoryError, FileExistsError, IsADirectoryError) as exc:
            raise HpoError(
                f"cannot create or write the study journal {path}: {exc.strerror}; "
                "choose a writable --results-dir or --storage"
            ) from None
        except (ValueError, UnicodeDecodeError, KeyError) as exc:
            raise HpoError(
                f"the study journal {path} is corrupt or truncated ({type(exc).__name__}: {exc}); "
                "it was left untouched: restore it from a backup or point --storage elsewhere"
            ) from None
    import sqlalchemy.exc

    try:
        return optuna.storages.RDBStorage(url, engine_kwargs={"pool_pre_ping": True})
    except (ImportError, ValueError, sqlalchemy.exc.SQLAlchemyError, optuna.exceptions.StorageInternalError) as exc:
        message = str(exc).replace(url, mask_url(url)).splitlines()[0]
        raise HpoError(
            f"cannot open storage {mask_url(url)}: {type(exc).__name__}: {message}; "
            "check that the server is running and the URL (user, password, database) is right"
        ) from None
