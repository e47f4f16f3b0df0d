"""The schema of a sweep file (everything except the search space, which hpo.space parses)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, field_validator, model_validator

from hpo import _constants
from hpo.config._base import Strict as _Strict
from hpo.config._base import is_reference
from hpo.config._objective import ObjectiveConfig
from hpo.config._tracking import TrackingConfig

BUILTIN_DATASETS = _constants.BUILTIN_DATASETS
FILE_DATASETS = _constants.FILE_DATASETS
if TYPE_CHECKING:  # a Literal built from the constants is checked by pydantic, not by a type checker
    SamplerName = str
    PrunerName = str
else:
    SamplerName = Literal[tuple(_constants.SAMPLERS)]
    PrunerName = Literal[tuple(_constants.PRUNERS)]
_SWEEP_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")


class DataConfig(_Strict):
    """Which data, and how it is split. The test split is only used after the sweep."""

    source: str = "digits"
    path: str | None = None
    target: str | None = None
    task: Literal["auto", "classification", "regression"] = "auto"
    options: dict[str, Any] = Field(default_factory=dict)
    validation_fraction: float = Field(0.2, gt=0, lt=1)
    test_fraction: float = Field(0.2, gt=0, lt=1)
    seed: int = 0

    @model_validator(mode="after")
    def _check(self) -> DataConfig:
        known = BUILTIN_DATASETS + FILE_DATASETS
        if self.source not in known and not is_reference(self.source):
            raise ValueError(
                f"`source` must be one of {', '.join(known)} or a `package.module:function` loader, "
                f"but got {self.source!r}"
            )
        if self.source in FILE_DATASETS and not self.path:
            raise ValueError(f"source {self.source!r} reads a file, but `path` is missing; add data.path")
        if self.source == "csv" and not self.target:
            raise ValueError("source 'csv' needs `target`, the name of the label column; add data.target")
        if self.validation_fraction + self.test_fraction >= 0.9:
            raise ValueError(
                "validation_fraction + test_fraction < 0.9 must hold to leave training data, but got "
                f"{self.validation_fraction} + {self.test_fraction}"
            )
        return self


class ModelConfig(_Strict):
    """``builtin`` builds an MLP or CNN from the ``family`` parameter; else a user builder reference."""

    builder: str = "builtin"

    @field_validator("builder")
    @classmethod
    def _check_builder(cls, value: str) -> str:
        if value != "builtin" and not is_reference(value):
            raise ValueError(f"`builder` must be 'builtin' or 'package.module:function', but got {value!r}")
        return value


class TrainConfig(_Strict):
    epochs: int = Field(10, ge=1, le=100_000)
    seed: int = 0
    # Several optimizer steps per compiled call: small models are otherwise dominated by Python
    # overhead (benchmarks/engine_epochs.py).
    steps_per_execution: int = Field(8, ge=1)
    verbose: bool = False


class SamplerConfig(_Strict):
    name: SamplerName = "tpe"
    seed: int | None = None
    args: dict[str, Any] = Field(default_factory=dict)


class PrunerConfig(_Strict):
    name: PrunerName = "median"
    args: dict[str, Any] = Field(default_factory=dict)

    @property
    def answers_reports(self) -> bool:
        """Whether the driver answers each report (go on, or at a rung whether to pause), so that
        a trial waits briefly for it. Without a pruner only a stop can come, and it comes on its
        own: the trial goes straight on and the driver sends nothing back per report."""
        return self.name != "none"


class StopWhenConfig(_Strict):
    """Stop a study that has stopped improving: once ``patience`` trials have finished (complete
    or pruned, across runs) since the best value last improved by more than ``min_delta``, no
    new trial starts; running ones finish, and the best is re-trained as usual. ``noise_seeds``:
    once the best trial has held for half the patience, re-train it to this many seeds in all
    (its search run counts as one) beside the search; their standard deviation, the seed noise,
    becomes the smallest improvement that counts."""

    patience: int = Field(ge=1)
    min_delta: float = Field(0.0, ge=0)
    noise_seeds: int | None = Field(None, ge=2)


class BudgetConfig(_Strict):
    trials: int | None = Field(20, ge=1)
    timeout: float | None = Field(None, gt=0, description="seconds")
    target: float | None = None
    max_consecutive_failures: int = Field(5, ge=1)
    max_retries: int = Field(0, ge=0)
    max_oom_retries: int = Field(
        1, ge=0, description="re-runs on a whole GPU of a trial that ran out of memory on a GPU share"
    )
    max_interruptions: int = Field(
        _constants.MAX_INTERRUPTIONS,
        ge=0,
        description="re-runs of a configuration cut short by its driver, worker or node, in a row",
    )
    stop_when: StopWhenConfig | None = None

    @model_validator(mode="after")
    def _check(self) -> BudgetConfig:
        if self.trials is None and self.timeout is None and self.target is None:
            raise ValueError("a sweep needs an end: set budget.trials, budget.timeout or budget.target")
        return self


class ResourcesConfig(_Strict):
    """Where and how wide the sweep runs. ``address`` joins a Ray cluster (``--address`` and
    ``RAY_ADDRESS`` override it); without one hpo starts a local Ray. ``trials_per_worker`` above 1
    runs that many trials in one worker process, each in its own thread (a trial function that
    mostly waits: on a remote job, I/O, a sleep), so many slots need few processes: each idle Ray
    worker process costs CPU of its own (docs/benchmarks.md)."""

    concurrency: int = Field(2, ge=1)
    cpus_per_trial: float = Field(1.0, gt=0)
    gpus_per_trial: float = Field(0.0, ge=0)
    address: str | None = None
    worker_start_timeout: float = Field(300.0, gt=0, description="seconds a trial may wait for its worker to start")
    trials_per_worker: int = Field(
        1, ge=1, description="trials that share one worker process, as its threads: for trial functions that wait"
    )

    @field_validator("gpus_per_trial")
    @classmethod
    def _whole_above_one(cls, value: float) -> float:
        if value > 1 and not float(value).is_integer():
            raise ValueError(f"more than one GPU per trial must be a whole number, but got {value}")
        return value


class RecoveryConfig(_Strict):
    """Driver liveness: a driver writes a heartbeat every ``heartbeat_s``; one whose heartbeat is
    older than ``stale_after_s`` (or whose process is gone, on the same host) counts as dead and a
    later run recovers the trials it left RUNNING."""

    heartbeat_s: float = Field(_constants.HEARTBEAT_S, gt=0)
    stale_after_s: float = Field(_constants.STALE_AFTER_S, gt=0)
    storage_outage_s: float = Field(
        _constants.STORAGE_OUTAGE_S, ge=0, description="seconds the driver retries a storage that is unreachable"
    )

    @model_validator(mode="after")
    def _check(self) -> RecoveryConfig:
        if self.stale_after_s < 2 * self.heartbeat_s:
            raise ValueError(
                "stale_after_s >= 2 * heartbeat_s must hold (a live driver must never look dead), but got "
                f"stale_after_s={self.stale_after_s}, heartbeat_s={self.heartbeat_s}"
            )
        return self


class CheckpointConfig(_Strict):
    """Periodic checkpoints of running trials: a trial that is interrupted (its driver, worker or
    node lost, Ctrl+C) continues from its last checkpoint instead of from epoch 0. A checkpoint is
    due once ``every_epochs`` epochs or ``every_minutes`` minutes have passed since the last one
    (or the run's start), whichever comes first; none is taken after the last epoch. ``keep``:
    leave the files of ended trials (by default a trial's goes when it ends). ``path``: where the
    checkpoints (these and a promotion scheduler's) go, by default ``<results_dir>/<name>/checkpoints``;
    a folder or an fsspec URL (``s3://bucket/prefix``) that every driver of the study can reach, in a
    sub-folder named after the study (so several sweeps can share one), with
    ``options`` for its filesystem (e.g. ``endpoint_url``; credentials better from the environment)."""

    every_epochs: int | None = Field(None, ge=1)
    every_minutes: float | None = Field(None, gt=0)
    keep: bool = False
    path: str | None = None
    options: dict[str, Any] = Field(default_factory=dict)

    @property
    def enabled(self) -> bool:
        return self.every_epochs is not None or self.every_minutes is not None


class FinishConfig(_Strict):
    """How the sweep ends: the ``top_k`` best configurations (by the objective, or ``prune_on``
    with several goals) are each re-trained with ``seeds`` seeds (``train.seed``, ``train.seed + 1``,
    ...) in parallel on the pool, without pruning; the selected one is the best by the mean of its
    seeds' validation values, and only it is scored on the test split (every seed's model)."""

    top_k: int = Field(3, ge=1)
    seeds: int = Field(3, ge=2, description="re-trainings per configuration: two at least, for a spread")


class SpaceConfig(_Strict):
    include: list[str] = Field(default_factory=list)
    params: dict[str, Any] = Field(default_factory=dict)


class SweepConfig(_Strict):
    """A whole sweep file after validation."""

    name: str
    description: str = ""
    data: DataConfig = Field(default_factory=DataConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    objective: ObjectiveConfig = Field(default_factory=ObjectiveConfig)
    space: SpaceConfig = Field(default_factory=SpaceConfig)
    sampler: SamplerConfig = Field(default_factory=SamplerConfig)
    pruner: PrunerConfig = Field(default_factory=PrunerConfig)
    budget: BudgetConfig = Field(default_factory=BudgetConfig)
    resources: ResourcesConfig = Field(default_factory=ResourcesConfig)
    recovery: RecoveryConfig = Field(default_factory=RecoveryConfig)
    checkpoint: CheckpointConfig = Field(default_factory=CheckpointConfig)
    # None: the best trial is re-trained once and scored on the test split.
    finish: FinishConfig | None = None
    tracking: TrackingConfig = Field(default_factory=TrackingConfig)
    storage: str | None = None
    study_name: str | None = None
    results_dir: str = _constants.DEFAULT_RESULTS_DIR
    enqueue: list[dict[str, Any]] = Field(default_factory=list)
    # When the space no longer matches the study's: start a new study that carries the earlier
    # study's finished trials the new space can produce (instead of refusing to continue).
    carry_over: bool = False

    @field_validator("name")
    @classmethod
    def _check_name(cls, value: str) -> str:
        if not _SWEEP_NAME.match(value):
            raise ValueError(f"`name` may hold letters, digits, '_', '.', '-' (it names a folder), but got {value!r}")
        return value
