"""Read a sweep file: resolve its search-space includes, validate everything, report every defect."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_args

import pydantic

from hpo import _constants
from hpo._builtin_params import known_names, reads
from hpo._errors import ConfigError, HpoError, Problem
from hpo._text import did_you_mean
from hpo._yaml import KeyPath, YamlDocument, read_yaml
from hpo.config._base import is_reference
from hpo.config._sweep import FILE_DATASETS, SweepConfig
from hpo.space import SearchSpace, space_from_document
from hpo.storage import mask_url, storage_kind
from hpo.study import make_pruner, make_sampler


@dataclass(frozen=True)
class Sweep:
    """A validated sweep: its file, its config and its search space."""

    path: Path
    config: SweepConfig
    space: SearchSpace
    overrides: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def study_name(self) -> str:
        return self.config.study_name or self.config.name

    @property
    def results_dir(self) -> Path:
        """``<results_dir>/<name>``, relative to the current directory unless absolute."""
        return Path(self.config.results_dir) / self.config.name

    def storage_url(self) -> str:
        """The storage as given, or the default journal file in the results folder."""
        return self.config.storage or str(self.results_dir / _constants.JOURNAL_FILE)

    def with_overrides(self, **updates: Any) -> Sweep:
        """A copy with settings replaced (dotted keys, e.g. ``budget.trials``), validated again;
        ``overrides`` remembers them (a resumed run reapplies those that shape a run)."""
        updates = {k: v for k, v in updates.items() if v is not None}
        data = self.config.model_dump()
        for dotted, value in updates.items():
            *sections, key = dotted.split(".")
            target = data
            for section in sections:
                if target.get(section) is None:  # an unset optional section (tracking.mlflow) starts empty
                    target[section] = {}
                target = target[section]
            target[key] = value
        doc = YamlDocument(f"{self.path} (with command-line overrides)", data)
        config = _validate_config(doc)
        _cross_check(doc, config, self.space)
        return Sweep(self.path, config, self.space, {**self.overrides, **updates})

    def references(self) -> dict[tuple[str, str], str]:
        """The user code the sweep names, by key path: builder, data loader, objective function."""
        config = self.config
        found = {
            ("model", "builder"): config.model.builder,
            ("data", "source"): config.data.source,
            ("objective", "function"): config.objective.function,
        }
        return {key: value for key, value in found.items() if value and is_reference(value)}

    def run_overrides(self) -> dict[str, Any]:
        """The overrides that shape a run (budget, width, seed), as kept with the study for `hpo resume`."""
        return {k: v for k, v in self.overrides.items() if k in _constants.RUN_OVERRIDE_KEYS}


def check_references(sweep: Sweep) -> None:
    """Import every function the sweep references, as the driver and the workers will; ConfigError
    naming the key and what is wrong (runs the user's module code: only for sweeps you trust)."""
    from hpo._references import resolve_reference

    problems = []
    for key, reference in sweep.references().items():
        try:
            resolve_reference(reference, key[-1])
        except HpoError as exc:
            problems.append((key, str(exc)))
    if problems:
        doc = read_yaml(sweep.path) if sweep.path.exists() else YamlDocument(str(sweep.path), {})
        raise ConfigError([doc.problem(key, message, "fix the reference or the module") for key, message in problems])


def load_sweep(path: str | Path) -> Sweep:
    """Read and fully validate ``path``; raise ConfigError listing every problem found."""
    path = Path(path)
    doc = read_yaml(path)
    if not isinstance(doc.data, dict):
        raise ConfigError(
            [
                doc.problem(
                    (),
                    f"a sweep file is a mapping of settings, but got {type(doc.data).__name__}",
                    "start from sweeps/digits_cnn.yaml",
                )
            ]
        )
    space = _build_space(doc)
    config = _validate_config(doc)
    _cross_check(doc, config, space)
    return Sweep(path, config, space)


def _build_space(doc: YamlDocument) -> SearchSpace:
    raw = doc.data.get("space")
    if raw is None:
        raise ConfigError(
            [doc.problem(("space",), "a sweep needs a `space` section", "add space: {include: [...], params: {...}}")]
        )
    if not isinstance(raw, dict):
        raise ConfigError([doc.problem(("space",), f"`space` must be a mapping, but got {raw!r}")])
    return space_from_document(doc, ("space",))


def _validate_config(doc: YamlDocument) -> SweepConfig:
    try:
        return SweepConfig.model_validate(doc.data)
    except pydantic.ValidationError as exc:
        raise ConfigError([_pydantic_problem(doc, err) for err in exc.errors()]) from None


# pydantic's bound errors: the comparison and the key of its limit in the error's context
_BOUNDS = {
    "greater_than_equal": (">=", "ge"),
    "greater_than": (">", "gt"),
    "less_than_equal": ("<=", "le"),
    "less_than": ("<", "lt"),
}


def _pydantic_problem(doc: YamlDocument, err: Any) -> Problem:
    loc: KeyPath = tuple(err["loc"])
    kind = err["type"]
    value = err.get("input")
    if kind == "extra_forbidden":
        allowed = _fields_at(loc[:-1])
        return doc.problem(
            loc,
            f"unknown key {loc[-1]!r}{did_you_mean(loc[-1], allowed)}",
            f"allowed keys here: {', '.join(allowed)}",
        )
    if kind == "literal_error":
        expected = err["ctx"]["expected"]  # e.g. "'tpe', 'random' or 'grid'"
        names = re.findall(r"'([^']*)'", expected)
        return doc.problem(
            loc,
            f"must be one of {expected}, but got {value!r}{did_you_mean(value, names)}",
            "use one of the listed names",
        )
    if kind == "value_error":
        return doc.problem(loc, str(err["ctx"]["error"]))
    if kind == "missing":
        return doc.problem(loc, "required key is missing", f"add `{loc[-1]}:`")
    if kind in _BOUNDS:
        op, bound = _BOUNDS[kind]
        return doc.problem(loc, f"{err['msg']}, but got {value!r}", f"set it to a value {op} {err['ctx'][bound]}")
    return doc.problem(loc, f"{err['msg']}, but got {value!r}")


def _fields_at(loc: KeyPath) -> list[str]:
    model: Any = SweepConfig
    for part in loc:
        field = getattr(model, "model_fields", {}).get(part)
        if field is None:
            return []
        model = _section_model(field.annotation)
    return list(getattr(model, "model_fields", {}))


def _section_model(annotation: Any) -> Any:
    """The settings model of a section annotated ``Model`` or ``Model | None`` (an optional section)."""
    if hasattr(annotation, "model_fields"):
        return annotation
    return next((arg for arg in get_args(annotation) if hasattr(arg, "model_fields")), annotation)


def builtin_metrics(task: str | None) -> tuple[str, ...]:
    """The metrics the built-in trainer reports for a task (both tasks' when unknown): validation
    metrics every epoch, then what it measures about the model."""
    validation: tuple[str, ...]
    if task == "classification":
        validation = _constants.VALIDATION_METRICS
    elif task == "regression":
        validation = _constants.REGRESSION_METRICS
    else:
        validation = tuple(dict.fromkeys(_constants.VALIDATION_METRICS + _constants.REGRESSION_METRICS))
    return validation + _constants.EFFICIENCY_METRICS


def _check_goals(doc: YamlDocument, config: SweepConfig) -> list[Problem]:
    """Several goals need a sampler and a pruner that can serve them, and no single target value."""
    objective = config.objective
    problems: list[Problem] = []
    if not objective.multi:
        return problems
    if config.sampler.name not in _constants.MULTI_OBJECTIVE_SAMPLERS:
        problems.append(
            doc.problem(
                ("sampler", "name"),
                f"sampler {config.sampler.name!r} cannot optimize several goals ({len(objective.targets)} given)",
                f"use one of {', '.join(_constants.MULTI_OBJECTIVE_SAMPLERS)}, or keep a single objective",
            )
        )
    pruners = [config.pruner.name]
    if config.pruner.name == "patient" and isinstance(config.pruner.args.get("wrapped"), dict):
        pruners.append(str(config.pruner.args["wrapped"].get("name")))
    for name in pruners:
        if name not in _constants.MULTI_OBJECTIVE_PRUNERS:
            problems.append(
                doc.problem(
                    ("pruner", "name"),
                    f"pruner {name!r} cannot prune one goal of a multi-objective study",
                    f"use one of {', '.join(_constants.MULTI_OBJECTIVE_PRUNERS)}",
                )
            )
    if config.budget.stop_when is not None:
        problems.append(
            doc.problem(
                ("budget", "stop_when"),
                f"budget.stop_when watches one objective value, but the sweep has {len(objective.targets)} goals "
                f"(got patience={config.budget.stop_when.patience})",
                "remove budget.stop_when, or keep a single objective",
            )
        )
    if config.budget.target is not None:
        problems.append(
            doc.problem(
                ("budget", "target"),
                f"budget.target stops at one objective value, but the sweep has {len(objective.targets)} goals "
                f"(got target={config.budget.target})",
                "remove budget.target, or turn the other goals into constraints",
            )
        )
    return problems


def _check_checkpoint_path(doc: YamlDocument, path: str, options: dict[str, Any]) -> list[Problem]:
    """The checkpoint location's filesystem must be one fsspec has, with its library installed
    (nothing is contacted here)."""
    import fsspec

    try:
        fsspec.core.url_to_fs(path, **options)
    except ImportError as exc:
        fix = "pip install 'hpo[s3]'" if path.startswith(("s3://", "s3a://")) else "install the fsspec library it names"
        return [doc.problem(("checkpoint", "path"), f"{path!r} needs a library that is not installed: {exc}", fix)]
    except (ValueError, TypeError) as exc:
        return [
            doc.problem(
                ("checkpoint", "path"),
                f"fsspec cannot open {path!r}: {exc}",
                "use a folder, or a URL such as s3://bucket/prefix, with options that filesystem accepts",
            )
        ]
    return []


def _check_shared_workers(doc: YamlDocument, config: SweepConfig) -> list[Problem]:
    """Several trials per worker process run as threads of it: only trial functions (a Keras model
    per trial owns its process's backend state) and only without GPUs (a GPU share is per process)."""
    resources = config.resources
    if resources.trials_per_worker == 1:
        return []
    if config.objective.function is None:
        return [
            doc.problem(
                ("resources", "trials_per_worker"),
                "several trials per worker process run as threads of one process, which only trial functions "
                f"(objective.function) can share; the built-in trainer trains one trial per process, but got "
                f"trials_per_worker: {resources.trials_per_worker}",
                "set resources.trials_per_worker: 1, or name a trial function in objective.function",
            )
        ]
    if resources.gpus_per_trial > 0:
        return [
            doc.problem(
                ("resources", "trials_per_worker"),
                "a GPU share belongs to a worker process, so trials that share a process cannot each hold one, "
                f"but got trials_per_worker: {resources.trials_per_worker} with gpus_per_trial: "
                f"{resources.gpus_per_trial:g}",
                "set resources.trials_per_worker: 1, or gpus_per_trial: 0",
            )
        ]
    return []


def _cross_check(doc: YamlDocument, config: SweepConfig, space: SearchSpace) -> None:
    """Rules that span sections: metric names, storage, sampler and pruner arguments, warm starts."""
    problems: list[Problem] = []
    if config.model.builder == "builtin" and config.objective.function is None:
        task = config.data.task if config.data.task != "auto" else _constants.BUILTIN_TASKS.get(config.data.source)
        for param in space.declared:
            if not reads(param.name):
                origin = space.origin(param.name)
                problems.append(
                    (origin[0] if origin else doc).problem(
                        origin[1] if origin else ("space", "params", param.name),
                        "the built-in trainer never reads a parameter "
                        f"{param.name!r}{did_you_mean(param.name, known_names())}",
                        "rename it to one the trainer reads (README: Parameters of the built-in trainer), or remove it",
                    )
                )
        reported = builtin_metrics(task)
        target = f"for a {task} target" if task else "(classification or regression)"
        for name in config.objective.metrics_used():
            if name not in reported:
                problems.append(
                    doc.problem(
                        ("objective", "metric") if not config.objective.goals else ("objective",),
                        f"the built-in trainer reports {', '.join(reported)} {target}, but got {name!r}"
                        f"{did_you_mean(name, reported)}",
                        "pick a reported metric",
                    )
                )
    problems += _check_goals(doc, config)
    problems += _check_shared_workers(doc, config)
    if config.checkpoint.enabled and config.pruner.name in _constants.PROMOTION_SCHEDULERS:
        every = config.checkpoint.every_epochs or config.checkpoint.every_minutes
        problems.append(
            doc.problem(
                ("checkpoint",),
                f"pruner {config.pruner.name!r} (promotion) checkpoints trials at its rungs, so periodic "
                f"checkpoints are for the other pruners, but got checkpoint every {every} "
                f"{'epochs' if config.checkpoint.every_epochs else 'minutes'}",
                "remove the checkpoint section, or use a pruner that stops trials (median, hyperband, ...)",
            )
        )
    if config.checkpoint.path is not None:
        problems += _check_checkpoint_path(doc, config.checkpoint.path, config.checkpoint.options)
    if config.storage is not None:
        try:
            kind = storage_kind(config.storage)
        except ValueError as exc:
            problems.append(
                doc.problem(
                    ("storage",), str(exc), "use postgresql://..., mysql://..., sqlite:///... or a journal file path"
                )
            )
        else:
            if kind == "sqlite" and config.resources.concurrency > 1:
                problems.append(
                    doc.problem(
                        ("storage",),
                        "SQLite is not safe with several concurrent trials (Optuna's FAQ: 'database is locked'), "
                        f"but got {mask_url(config.storage)!r} with "
                        f"resources.concurrency={config.resources.concurrency}",
                        "remove `storage` to use the default journal file, use PostgreSQL, or set "
                        "resources.concurrency: 1",
                    )
                )
    if config.data.source in FILE_DATASETS and config.data.path and not Path(config.data.path).exists():
        problems.append(
            doc.problem(
                ("data", "path"),
                f"data file does not exist: {config.data.path!r} (relative to {Path.cwd()})",
                "check the path",
            )
        )
    try:
        make_sampler(config.sampler.name, config.sampler.args, config.sampler.seed, space)
    except (ValueError, TypeError, ImportError) as exc:
        problems.append(doc.problem(("sampler", "args"), str(exc), "see the sampler's Optuna documentation"))
    try:
        make_pruner(config.pruner.name, config.pruner.args, config.train.epochs)
    except (ValueError, TypeError) as exc:
        promotion = config.pruner.name in _constants.PROMOTION_SCHEDULERS
        fix = "see the README's section on promotion" if promotion else "see the pruner's Optuna documentation"
        problems.append(doc.problem(("pruner", "args"), str(exc), fix))
    for i, values in enumerate(config.enqueue):
        for reason in space.check_warm_start(values):
            problems.append(
                doc.problem(
                    ("enqueue", i), f"warm-start configuration does not fit the space: {reason}", "edit or remove it"
                )
            )
    if problems:
        raise ConfigError(problems)
