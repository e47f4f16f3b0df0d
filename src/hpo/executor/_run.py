"""Run a sweep: the driver owns the study; Ray runs the trials in parallel worker processes."""

from __future__ import annotations

import logging
import math
import os
import signal
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState

from hpo import _constants
from hpo._errors import HpoError, SweepAborted, SweepInterrupted
from hpo._references import local_module_path
from hpo.config import Sweep, builtin_metrics, check_references
from hpo.data import DataError, Dataset, load_dataset
from hpo.executor import _ray
from hpo.executor._checkpoints import CheckpointStore
from hpo.executor._finish import finish_sweep
from hpo.executor._launch import Launcher, spent_trials
from hpo.executor._lifecycle import Lifecycle, Rules
from hpo.executor._loop import LoopTimings, Pool, drive
from hpo.executor._notices import CarriedOver, EarlierRuns, Listener, StudyOpened
from hpo.executor._signals import sigint_deferred, signals_as_flag
from hpo.space import CategoricalParam, FixedParam
from hpo.storage import Heartbeat, StorageOutage, Store
from hpo.study import (
    Patience,
    Promotion,
    best_trial,
    open_study,
    pareto_front,
    startup_trials,
    watched_value,
)

_log = logging.getLogger(__name__)


@dataclass
class SweepOutcome:
    """What one `hpo run` did to the study."""

    study: optuna.Study
    storage: str
    wall_s: float
    counts: dict[str, int] = field(default_factory=dict)
    final: dict[str, Any] | None = None  # the best trial re-trained: validation/test metrics, model bytes
    final_s: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)  # where the driver's time went

    front: dict[int, dict[str, Any]] = field(default_factory=dict)  # with save_front: each front trial re-trained
    best: optuna.trial.FrozenTrial | None = None
    nothing_left: bool = False  # the budget was spent before this run: nothing trained, nothing re-trained
    ray: str = ""  # "started", "reused" (the local Ray an earlier sweep of this process kept) or "joined"


def check_data(sweep: Sweep) -> Dataset:
    """Load the data in the driver (numpy only) so bad data stops the sweep before Ray starts."""
    data = load_dataset(sweep.config.data)
    config = sweep.config
    missing = [name for name in config.objective.metrics_used() if name not in builtin_metrics(data.task)]
    if config.model.builder == "builtin" and config.objective.function is None and missing:
        raise DataError(
            f"{data.name} has a {data.task} target, for which the built-in trainer reports "
            f"{', '.join(builtin_metrics(data.task))}, but the objective asks for {', '.join(map(repr, missing))}; "
            "pick among them (or set data.task if the target was read as the wrong kind)"
        )
    if not data.is_image and "family" in sweep.space:
        family = sweep.space["family"]
        can_be_cnn = (isinstance(family, FixedParam) and family.value == "cnn") or (
            isinstance(family, CategoricalParam) and "cnn" in family.choices
        )
        if can_be_cnn:
            raise DataError(
                f"{data.name} is a table with shape {data.input_shape}, but the space lets `family` be 'cnn', "
                "which needs images; include search_spaces/mlp.yaml instead of cnn.yaml/architecture.yaml"
            )
    return data


def ensure_results_dir(sweep: Sweep) -> Path:
    """Create the results folder and prove it writable, before anything expensive starts."""
    folder = sweep.results_dir
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".hpo-write-check-{os.getpid()}"
        probe.write_text("ok")
        probe.unlink()
    except OSError as exc:
        raise HpoError(
            f"cannot write the results folder {folder}: {exc.strerror or exc}; "
            "choose another with --results-dir (or HPO_RESULTS_DIR, or results_dir in the sweep file)"
        ) from None
    return folder


def _worker_config(sweep: Sweep) -> dict[str, Any]:
    """The sweep config as workers get it: data paths made absolute (workers may run elsewhere)."""
    config = sweep.config.model_dump(mode="json")
    if config["data"].get("path"):
        config["data"]["path"] = str(Path(config["data"]["path"]).resolve())
    return config


def _open(sweep: Sweep, new_study: bool) -> tuple[Store, optuna.storages.BaseStorage, optuna.Study]:
    store = Store(sweep.storage_url(), outage_s=sweep.config.recovery.storage_outage_s)
    storage = store.open(append=True)
    return store, storage, open_study(sweep, storage, new_study=new_study)


def earlier_runs(sweep: Sweep, study: optuna.Study) -> EarlierRuns | None:
    """How many trials of the budget earlier runs finished (a failure a re-run replaced and a
    carried trial are none) and the best value so far; None when they finished none."""
    trials = study.get_trials(deepcopy=False)
    unfinished = sum(t.state in (TrialState.RUNNING, TrialState.WAITING) for t in trials)
    finished = spent_trials(trials) - unfinished  # the budget's count, less what has not ended
    if not finished:
        return None
    best = best_trial(study, sweep.config.objective)
    return EarlierRuns(finished, None if best is None else watched_value(best, sweep.config.objective))


def _lifecycle(
    sweep: Sweep,
    study: optuna.Study,
    storage: optuna.storages.BaseStorage,
    listener: Listener | None,
    promotion: Promotion | None,
) -> Lifecycle:
    config = sweep.config
    rules = Rules(
        metric=config.objective.metric,
        direction=config.objective.direction,
        max_epochs=config.train.epochs,
        max_retries=config.budget.max_retries,
        max_consecutive_failures=config.budget.max_consecutive_failures,
        target=config.budget.target,
        goals=tuple((g.metric, g.direction) for g in config.objective.targets) if config.objective.multi else (),
        constraints=tuple(config.objective.parsed_constraints()),
        gpus_per_trial=config.resources.gpus_per_trial,
        max_oom_retries=config.budget.max_oom_retries,
        max_interruptions=config.budget.max_interruptions,
    )
    checkpoints = None
    shared = config.checkpoint.path
    where = f"{shared.rstrip('/')}/{study.study_name}" if shared else sweep.results_dir / _constants.CHECKPOINTS_DIR
    if promotion is not None:
        checkpoints = CheckpointStore(where, promotion.keep_checkpoints, config.checkpoint.options)
    elif config.checkpoint.enabled:
        checkpoints = CheckpointStore(where, config.checkpoint.keep, config.checkpoint.options)
    return Lifecycle(study, storage, rules, listener, checkpoints)


def _promotion(sweep: Sweep) -> Promotion | None:
    config = sweep.config
    if config.pruner.name not in _constants.PROMOTION_SCHEDULERS:
        return None
    return Promotion.from_config(
        config.pruner.name, config.pruner.args, config.train.epochs, config.objective.direction
    )


def _launcher(sweep: Sweep, lifecycle: Lifecycle, store: Store, run_id: str, promotion: Promotion | None) -> Launcher:
    config = sweep.config
    return Launcher(
        lifecycle,
        sweep.space,
        budget=config.budget.trials,
        startup_trials=startup_trials(config.sampler.name, config.sampler.args),
        timeout=config.budget.timeout,
        run_id=run_id,
        lock=lambda: store.lock(_constants.TRIALS_LOCK),
        promotion=promotion,
        stop_rule=_stop_rule(sweep),
        train_seed=config.train.seed,
    )


def _stop_rule(sweep: Sweep) -> Patience | None:
    rule, objective = sweep.config.budget.stop_when, sweep.config.objective
    if rule is None:
        return None
    return Patience(rule.patience, rule.min_delta, objective.direction, objective.metric, rule.noise_seeds)


@dataclass(frozen=True)
class _Finals:
    """What was re-trained after the search: "the best" (the single-run best re-trained once, or
    the finish's selected configuration) and, with ``save_front``, each front trial by number."""

    best: dict[str, Any] | None = None
    front: dict[int, dict[str, Any]] = field(default_factory=dict)


def _final(
    sweep: Sweep, study: optuna.Study, pool: _ray.RayPool, interrupted: Callable[[], bool], save_front: bool
) -> _Finals:
    """The study's best trial (or, with a ``finish`` section, its top candidates with several
    seeds) and, with ``save_front``, every Pareto-front trial re-trained in a worker and scored on
    the test split; nothing when no feasible trial completed or when interrupted."""
    best = best_trial(study, sweep.config.objective)
    if best is None:
        return _Finals()
    trials = study.get_trials(deepcopy=False)
    numbers = [best.number] + ([t.number for t in pareto_front(study) if t.number != best.number] if save_front else [])
    scored: dict[int, dict[str, Any]] = {}
    for number in numbers:
        if number == best.number and sweep.config.finish is not None:
            continue  # the finish re-trains the best among its candidates
        result = pool.final(number, sweep.space.configuration(trials[number].params), interrupted)
        if result is None:
            return _Finals()
        scored[number] = {"trial": number, **result}
    if sweep.config.finish is None:
        return _Finals(scored.get(best.number), scored)
    selected = finish_sweep(sweep, study, pool, interrupted)
    if selected is None:
        return _Finals()
    if save_front:  # the best's front entry: its own seed's re-training, from the finish
        scored[best.number] = {"trial": best.number, **selected["single_run_best"]}
    return _Finals(selected, scored)


def _execute(
    launcher: Launcher,
    lifecycle: Lifecycle,
    pool: Pool,
    interrupted: Callable[[], bool],
    timings: LoopTimings | None = None,
    sync: Callable[[], None] = lambda: None,
) -> None:
    """Drive the trials; on Ctrl+C (or any crash) interrupt this run's live trials, SIGINT held
    meanwhile. Not after a storage outage: nothing can be written then, and the next run's recovery
    finds those trials RUNNING with their driver gone and interrupts them."""
    outage = False
    try:
        drive(launcher, lifecycle, pool, interrupted=interrupted, timings=timings, sync=sync)
    except StorageOutage:
        outage = True
        raise
    finally:
        if not outage:
            with sigint_deferred():  # a further Ctrl+C must not cut the bookkeeping in half
                if lifecycle.live or interrupted():
                    lifecycle.interrupt()


def _warn_about_worker_processes(sweep: Sweep, slots: int) -> None:
    """A trial function's sweep (without GPUs: only those may share a worker) whose ``slots`` would
    start many worker processes per CPU: the ``trials_per_worker`` that runs them in few (each
    process costs CPU to start and to wait)."""
    resources = sweep.config.resources
    if sweep.config.objective.function is None or resources.gpus_per_trial > 0:
        return
    per_worker = resources.trials_per_worker
    if (hint := _ray.trials_per_worker_hint(slots, per_worker)) is None:
        return
    suggested, cpus = hint
    _log.warning(
        "%d trials at once, %d per worker process, start %d Ray worker processes on the cluster's %g CPUs, and "
        "each costs CPU to start and while it waits: a trial function that mostly waits (a remote job, I/O) runs "
        "faster with resources.trials_per_worker: %d (or --trials-per-worker %d); keep %d if it computes (the "
        "trials of a worker share one Python interpreter)",
        slots,
        per_worker,
        math.ceil(slots / per_worker),
        cpus,
        suggested,
        suggested,
        per_worker,
    )


def _pool(sweep: Sweep, data: Dataset, warm: bool) -> _ray.RayPool:
    """One worker per slot that the cluster can run at once, each sent the data once (``warm``:
    the idle workers of this process's last sweep serve again, see RayPool)."""
    resources = sweep.config.resources
    slots = _ray.fitting_slots(
        resources.concurrency, resources.cpus_per_trial, resources.gpus_per_trial, resources.trials_per_worker
    )
    if slots < resources.concurrency:
        _log.warning(
            "the Ray cluster fits %d trials at once, not resources.concurrency=%d", slots, resources.concurrency
        )
    _warn_about_worker_processes(sweep, slots)
    return _ray.RayPool(
        slots,
        resources.cpus_per_trial,
        resources.gpus_per_trial,
        _worker_config(sweep),
        _ray.put(data),
        start_timeout=resources.worker_start_timeout,
        answers_reports=sweep.config.pruner.answers_reports,
        per_worker=resources.trials_per_worker,
        warm=warm,
    )


@dataclass
class _Prepared:
    """Everything a run needs besides Ray: the data, the study and its lifecycle and launcher."""

    data: Dataset
    store: Store
    study: optuna.Study
    lifecycle: Lifecycle
    launcher: Launcher
    run_id: str


def _prepare(sweep: Sweep, new_study: bool, listener: Listener | None) -> _Prepared:
    """Load the data, open the study, recover what dead drivers left: runs while Ray starts."""
    data = check_data(sweep)
    store, storage, study = _open(sweep, new_study)
    try:
        study.set_user_attr(_constants.ATTR_RUN_OVERRIDES, sweep.run_overrides())
        for decided in (_constants.ATTR_STOPPED_EARLY, _constants.ATTR_FINISH):  # this run decides again
            if study.user_attrs.get(decided) is not None:
                study.set_user_attr(decided, None)
        run_id = uuid.uuid4().hex[:12]
        promotion = _promotion(sweep)
        lifecycle = _lifecycle(sweep, study, storage, listener, promotion)
        lifecycle.emit(StudyOpened(study.study_name, store.masked))
        lifecycle.recover(store, sweep.config.recovery.stale_after_s)
        if (carried := study.user_attrs.get(_constants.ATTR_CARRIED)) is not None:
            incompatible = tuple((int(n), str(why)) for n, why in carried["incompatible"])
            lifecycle.emit(CarriedOver(carried["from"], int(carried["carried"]), incompatible))
        if (earlier := earlier_runs(sweep, study)) is not None:
            lifecycle.emit(earlier)
        return _Prepared(data, store, study, lifecycle, _launcher(sweep, lifecycle, store, run_id, promotion), run_id)
    except BaseException:
        store.close()
        raise


def _start(sweep: Sweep, new_study: bool, listener: Listener | None) -> tuple[_Prepared, _ray.RayStart]:
    """Start (join, or reuse) Ray in this thread while the data and the study are prepared in
    another; how it came by Ray. A preparation error stops the Ray it started."""
    modules = sorted({str(path) for ref in sweep.references().values() if (path := local_module_path(ref)) is not None})
    with ThreadPoolExecutor(1, thread_name_prefix="hpo-prepare") as executor:
        preparing = executor.submit(_prepare, sweep, new_study, listener)
        try:
            ray_start = _ray.start_ray(sweep.config.resources.address, modules=modules)
        except BaseException:
            if preparing.exception() is None:  # waits for the preparation, then closes what it opened
                preparing.result().store.close()
            raise
        try:
            return preparing.result(), ray_start
        except BaseException:
            if ray_start is _ray.RayStart.STARTED:
                _ray.stop_ray()
            raise


def _sweep_in_ray(
    sweep: Sweep, run: _Prepared, interrupted: Callable[[], bool], evaluate: bool, save_front: bool, warm: bool
) -> tuple[float, _Finals, dict[str, float]]:
    """Run the trials on a pool of workers, then re-train the best; the sweep's time, the best's
    scores and where the time went."""
    timings = LoopTimings()
    pool = _pool(sweep, run.data, warm)
    try:
        with (
            signals_as_flag(signal.SIGTERM) as sigterm,
            Heartbeat(run.study, run.run_id, sweep.config.recovery.heartbeat_s) as heartbeat,
        ):

            def stop_asked() -> bool:
                return interrupted() or sigterm()

            _execute(run.launcher, run.lifecycle, pool, stop_asked, timings, run.store.sync)
            sweep_end = time.perf_counter()
            lifecycle = run.lifecycle
            lifecycle.warn_unread()
            finished = lifecycle.abort_reason is None and not lifecycle.interrupted and not stop_asked()
            if finished:
                # promotion: what was never promoted ends PRUNED, unless another driver may yet promote it
                run.launcher.end_sweep(heartbeat, sweep.config.recovery.stale_after_s)
                lifecycle.drop_orphaned_checkpoints()
            final = _final(sweep, run.study, pool, stop_asked, save_front) if evaluate and finished else _Finals()
            spent = {
                "first_trial_started_s": timings.first_start_s or 0.0,
                "asking_s": timings.asking_s,
                "handling_s": timings.handling_s,
                "waiting_s": timings.waiting_s,
                "held_slot_s": timings.held_slot_s,
                "drained_slot_s": timings.drained_slot_s,
                "stopping_slot_s": timings.stopping_slot_s,
            }
            return sweep_end, final, spent
    finally:
        pool.close()


def run_sweep(
    sweep: Sweep,
    *,
    new_study: bool = False,
    listener: Listener | None = None,
    evaluate: bool = True,
    save_front: bool = False,
    keep_ray: bool = False,
) -> SweepOutcome:
    """Run ``sweep`` to its budget, then (``evaluate``) re-train its best trial in a worker and
    score it on the test split. Raise SweepAborted when it had to stop early (e.g. bad metric),
    SweepInterrupted after Ctrl+C or SIGTERM (the study stays consistent and resumable).
    ``keep_ray``: leave a local Ray this process started up for its next sweep."""
    ensure_results_dir(sweep)
    check_references(sweep)
    started = time.perf_counter()
    # Ctrl+C (SIGINT) counts from before Ray starts; SIGTERM (a job scheduler's stop) is taken
    # over after ray.init, which installs a handler of its own for it.
    with signals_as_flag(signal.SIGINT) as interrupted:
        run, ray_start = _start(sweep, new_study, listener)
        ray_up = time.perf_counter()
        try:
            # Warm workers only where the local Ray stays up and no code of the user's runs in them
            # (a worker imports a module once: an edited one would not reach it).
            warm = keep_ray and ray_start is not _ray.RayStart.JOINED and not sweep.references()
            sweep_end, finals, timings = _sweep_in_ray(sweep, run, interrupted, evaluate, save_front, warm)
        finally:
            if ray_start is not _ray.RayStart.JOINED and keep_ray:
                _ray.keep_ray()
            elif ray_start is not _ray.RayStart.JOINED:
                _ray.stop_ray()
            run.store.close()
        pressed = interrupted()
    lifecycle = run.lifecycle
    if lifecycle.abort_reason is not None:
        raise SweepAborted(lifecycle.abort_reason)
    if lifecycle.interrupted:
        raise SweepInterrupted(
            "interrupted; the study keeps every finished trial and no trial is left RUNNING. "
            f"Continue with: hpo resume {sweep.path}"
        )
    if pressed:  # Ctrl+C while the best trial was re-trained: the sweep itself had finished
        raise KeyboardInterrupt
    timings = {"ray_start_s": ray_up - started, **timings}
    wall = sweep_end - started
    return SweepOutcome(
        run.study,
        run.store.masked,
        wall,
        dict(lifecycle.counts),
        finals.best,
        time.perf_counter() - started - wall,
        timings,
        finals.front,
        best_trial(run.study, sweep.config.objective),
        ray=ray_start.value,
    )
