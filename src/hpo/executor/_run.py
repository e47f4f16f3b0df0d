"""Run a sweep: the driver owns the study; Ray Tune runs the trials in parallel."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState

from hpo import _optuna
from hpo._errors import HpoError, SweepAborted, SweepInterrupted
from hpo._storage_url import mask_url
from hpo.config import Sweep
from hpo.data import DataError, Dataset, load_dataset
from hpo.executor._liveness import Heartbeat, recover_stale_trials
from hpo.executor._retry import fail_trial
from hpo.executor._state import Listener, SweepState
from hpo.executor._study import open_study
from hpo.space import CategoricalParam, FixedParam


@dataclass
class SweepOutcome:
    """What one `hpo run` did to the study."""

    study: optuna.Study
    storage: str
    wall_s: float
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def best_trial(self) -> optuna.trial.FrozenTrial | None:
        complete = self.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        return self.study.best_trial if complete else None


def check_data(sweep: Sweep) -> Dataset:
    """Load the data in the driver (numpy only) so bad data stops the sweep before Ray starts."""
    data = load_dataset(sweep.config)
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


_LOOPBACK_ONLY_ENV = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"


def _init_ray(address: str | None) -> bool:
    """Join ``address`` (or RAY_ADDRESS), or start a local Ray; True when this call started it."""
    import ray

    if ray.is_initialized():
        return False
    if address is None and not os.environ.get("RAY_ADDRESS"):
        # A local single-node Ray: keep every Ray service on loopback. By default Ray rewrites
        # 127.0.0.1 to the machine's network address on Linux.
        os.environ.setdefault(_LOOPBACK_ONLY_ENV, "0")
    pythonpath = os.pathsep.join(p for p in (os.getcwd(), os.environ.get("PYTHONPATH", "")) if p)
    ray.init(
        address=address,
        include_dashboard=False,
        logging_level=logging.ERROR,
        log_to_driver=False,
        runtime_env={"env_vars": {"PYTHONPATH": pythonpath, "TF_CPP_MIN_LOG_LEVEL": "2", "RAY_CHDIR_TO_TRIAL_DIR": "0"}},
    )
    return True


def _tuner(state: SweepState, trial_function: str | None, reuse_actors: bool) -> Any:
    """A Tune run whose searcher and scheduler both act on ``state``'s study."""
    from ray import tune

    from hpo.executor._reconcile import Reconciler
    from hpo.executor._scheduler import PrunerScheduler
    from hpo.executor._searcher import StudySearcher
    from hpo.executor._trainable import run_trial

    sweep = state.sweep
    resources = sweep.config.resources
    trainable = tune.with_resources(
        tune.with_parameters(
            run_trial,
            sweep_config=_worker_config(sweep),
            gpu_fraction=resources.gpus_per_trial,
            trial_function=trial_function,
        ),
        {"cpu": resources.cpus_per_trial, "gpu": resources.gpus_per_trial},
    )
    searcher = StudySearcher(state)
    return tune.Tuner(
        trainable,
        tune_config=tune.TuneConfig(
            search_alg=searcher,
            scheduler=PrunerScheduler(state),
            num_samples=-1,
            max_concurrent_trials=resources.concurrency,
            reuse_actors=reuse_actors,
        ),
        run_config=tune.RunConfig(
            name=state.study.study_name,
            storage_path=str((sweep.results_dir / "ray").resolve()),
            verbose=0,
            failure_config=tune.FailureConfig(max_failures=0),
            callbacks=[Reconciler(state, searcher)],
        ),
    )


@contextlib.contextmanager
def _sigint_deferred() -> Iterator[None]:
    """Hold SIGINT while the block runs (main thread only), then deliver it."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: received.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        if received:
            raise KeyboardInterrupt


def run_sweep(
    sweep: Sweep,
    *,
    address: str | None = None,
    new_study: bool = False,
    listener: Listener | None = None,
    trial_function: str | None = None,
    reuse_actors: bool = True,
) -> SweepOutcome:
    """Run ``sweep`` to its budget; raise SweepAborted when it had to stop early (e.g. bad metric).

    ``trial_function`` (``module:function``) replaces Keras training with ``fn(params, report)``.
    ``reuse_actors=False`` starts a fresh process per trial (benchmarks/reuse.py measures both).
    """
    ensure_results_dir(sweep)
    if trial_function is None:
        check_data(sweep)
    os.environ.setdefault("RAY_CHDIR_TO_TRIAL_DIR", "0")
    os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    storage = _optuna.open_storage(sweep.storage_url(), append=True)
    study = open_study(sweep, new_study=new_study, storage=storage)
    config = sweep.config
    budget = config.budget
    recovered = recover_stale_trials(study, storage, sweep.storage_url(), budget.max_retries)
    state = SweepState(
        sweep=sweep,
        study=study,
        storage=storage,
        startup_trials=_optuna.startup_trials(config.sampler.name, config.sampler.args),
        deadline=None if budget.timeout is None else time.monotonic() + budget.timeout,
        listener=listener,
        run_id=uuid.uuid4().hex[:12],
    )
    import ray

    if recovered:
        state.emit("recovered", -1, trials=recovered)
    earlier = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL))
    if earlier:
        complete = [t.value for t in earlier if t.state == TrialState.COMPLETE]
        best = (max(complete) if config.objective.direction == "maximize" else min(complete)) if complete else None
        state.emit("resumed", -1, finished=len(earlier), best=best)
    started = time.monotonic()
    started_ray = _init_ray(address)
    heartbeat = Heartbeat(study, state.run_id)
    heartbeat.start()
    try:
        tuner = _tuner(state, trial_function, reuse_actors)
        tuner.fit()
    except KeyboardInterrupt:  # a second Ctrl+C: Tune has handed SIGINT back to Python
        state.interrupted = True
        raise
    finally:
        with _sigint_deferred():  # a further Ctrl+C must not cut the bookkeeping in half
            # Interrupted (Ctrl+C) or crashed: never leave this run's trials RUNNING.
            state.interrupted = state.interrupted or bool(state.live)
            for number in sorted(t.number for t in state.live.values()):
                fail_trial(study, storage, number, "the sweep was interrupted before this trial ended", retryable=True, max_retries=budget.max_retries)
                state.counts["failed"] += 1
            state.live.clear()
            heartbeat.stop()
        if started_ray:
            ray.shutdown()
    if state.abort_reason is not None:
        raise SweepAborted(state.abort_reason)
    if state.interrupted:
        raise SweepInterrupted(
            f"interrupted; the study keeps every finished trial and no trial is left RUNNING. "
            f"Continue with: hpo resume {sweep.path}"
        )
    return SweepOutcome(study, mask_url(sweep.storage_url()), time.monotonic() - started, dict(state.counts))
