"""Ray behind one module: starting or joining a cluster, and the trial-worker actors.

hpo uses Ray Core's public API only (``ray.init``, actors, streaming generators, ``ray.wait``,
``ray.kill``, the runtime context); ``tests/test_ray_contract.py`` fails loudly when an upgrade
changes any of it. Each slot is one long-lived actor: TensorFlow is imported and the data arrives
once per process, and a trial's reports stream back while it keeps training.
"""

from __future__ import annotations

import enum
import logging
import os
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hpo import _constants
from hpo._errors import HpoError, SweepAborted
from hpo.executor._events import Ended, Event, Failed, Measured, Paused, Placed, event_from
from hpo.executor._worker import TrialWorker

_log = logging.getLogger(__name__)

# Ray on Linux rewrites 127.0.0.1 to the machine's network address; a local Ray started by hpo
# keeps every service on loopback instead. Ray reads this when it is first imported.
_LOOPBACK_ONLY = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}


def _worker_env() -> dict[str, str]:
    """What every worker process sets before its backend's import, unless already set: quiet
    TensorFlow, and JAX's persistent compilation cache in a folder on the worker's node, so that a
    configuration compiled before (a promoted trial continuing, the best re-trained, a retry, a
    resumed sweep) loads its compiled steps instead of compiling them again.

    Set by the worker itself, not through a runtime_env's env_vars: a runtime_env makes Ray create
    an environment for each worker, which delays every worker's start by about a second
    (benchmarks/startup.py)."""
    env = {"TF_CPP_MIN_LOG_LEVEL": "2"}
    cache = os.environ.get(_constants.ENV_JAX_CACHE) or str(
        Path(tempfile.gettempdir()) / f"hpo-jax-cache-{os.getuid()}"
    )
    if cache != "off":
        env |= {
            "JAX_COMPILATION_CACHE_DIR": cache,
            "JAX_COMPILATION_CACHE_MAX_SIZE": str(_constants.JAX_CACHE_MAX_BYTES),
        }
    return env


def _ray(local: bool = False) -> Any:
    """The ray module; before its first import in a process that will start a local Ray, the
    loopback switch is set (a driver joining a cluster must keep its network address)."""
    if local and "ray" not in sys.modules:
        for key, value in _LOOPBACK_ONLY.items():
            os.environ.setdefault(key, value)
    import ray

    return ray


class RayStart(enum.Enum):
    """How a sweep came by its Ray: hpo started a local one, reused the local one an earlier sweep
    of this process kept, or joined one it did not start (a cluster, or the caller's ``ray.init``)."""

    STARTED = "started"
    REUSED = "reused"
    JOINED = "joined"


@dataclass(frozen=True)
class WorkerShape:
    """What a trial-worker actor holds: a warm worker serves a later sweep of the same shape only."""

    cpus: float  # per trial
    gpus: float  # per trial
    per_worker: int


@dataclass
class KeptRay:
    """The local Ray a sweep of this process started and left up for the next one (``hpo.run`` in a
    notebook pays Ray's start once): the modules its job ships to the workers, which Ray fixes when
    it starts, so a sweep needing others gets a fresh Ray; and that sweep's idle workers (warm: the
    framework imported), for a next sweep of their shape that runs no code of the user's."""

    modules: frozenset[str] = frozenset()
    kept: bool = False
    shape: WorkerShape | None = None
    workers: list[Any] = field(default_factory=list)

    def take_workers(self, shape: WorkerShape | None) -> list[Any]:
        """The warm workers of ``shape`` (None: none wanted); the others are removed, so that the
        CPUs and GPUs they hold are free for the new ones."""
        taken, others = (self.workers, []) if shape is not None and shape == self.shape else ([], self.workers)
        for actor in others:
            _ray().kill(actor)
        self.shape, self.workers = None, []
        return taken

    def keep_workers(self, shape: WorkerShape, workers: list[Any]) -> None:
        self.shape, self.workers = shape, workers

    def forget(self) -> None:
        """Back to nothing kept (the Ray it described is being shut down)."""
        self.modules, self.kept, self.shape, self.workers = frozenset(), False, None, []


_KEPT = KeptRay()  # this process's; Ray's own state is per process too


def start_ray(
    address: str | None,
    num_cpus: int | None = None,
    num_gpus: int | None = None,
    modules: list[str] | None = None,
) -> RayStart:
    """Join ``address`` (or RAY_ADDRESS), reuse the local Ray an earlier sweep kept (when it ships
    ``modules``), or start a local Ray (``num_cpus``/``num_gpus`` override what it detects; logical
    GPUs make placement testable without one).

    ``modules``: the user's own modules and packages (files or folders) that Ray ships to every
    worker, so that nodes need nothing but the installed hpo. Ray takes them only here, for the job.
    """
    is_local = address is None and not os.environ.get("RAY_ADDRESS")
    ray = _ray(local=is_local)
    if ray.is_initialized():
        if not _KEPT.kept:
            return RayStart.JOINED
        if is_local and num_cpus is None and num_gpus is None and set(modules or ()) <= _KEPT.modules:
            return RayStart.REUSED
        stop_ray()  # kept for other modules, or this sweep runs elsewhere: start afresh
    local = {"num_cpus": num_cpus, "num_gpus": num_gpus} if is_local else {}
    ray.init(
        # "local": a new Ray of hpo's own, never one left over on this machine that ray.init()
        # would otherwise find through /tmp/ray and join (another user's, a crashed sweep's).
        address="local" if is_local else address,
        **{k: v for k, v in local.items() if v is not None},
        include_dashboard=False,
        logging_level=logging.ERROR,
        log_to_driver=False,
        runtime_env={"py_modules": list(modules)} if modules else None,
    )
    _KEPT.modules = frozenset(modules or ())
    return RayStart.STARTED


def keep_ray() -> None:
    """Leave the local Ray this process started up for its next sweep (Ray stops it at exit)."""
    _KEPT.kept = True


def stop_kept_ray() -> None:
    """Stop the local Ray a sweep kept up, if any (never a Ray hpo joined)."""
    if _KEPT.kept:
        stop_ray()


def fitting_slots(concurrency: int, cpus: float, gpus: float, per_worker: int = 1) -> int:
    """How many trials the cluster can run at once (at most ``concurrency``), in workers of
    ``per_worker`` trials each; UsageError when not even one fits."""
    import math

    from hpo._errors import UsageError

    total = _ray().cluster_resources()
    have_cpu, have_gpu = float(total.get("CPU", 0)), float(total.get("GPU", 0))
    if gpus > have_gpu:
        raise UsageError(
            f"resources.gpus_per_trial={gpus:g} needs a GPU, but the Ray cluster has {have_gpu:g} GPUs; "
            "set gpus_per_trial: 0 (or --gpus-per-trial 0), or join a cluster with GPUs (--address)"
        )
    if cpus > have_cpu:
        raise UsageError(
            f"resources.cpus_per_trial={cpus:g} is more than the Ray cluster's {have_cpu:g} CPUs; lower cpus_per_trial"
        )
    if cpus * per_worker > have_cpu:
        raise UsageError(
            f"a worker of resources.trials_per_worker={per_worker} trials needs {cpus * per_worker:g} CPUs "
            f"(cpus_per_trial={cpus:g} each), more than the Ray cluster's {have_cpu:g}; lower cpus_per_trial "
            "or trials_per_worker"
        )
    fits = _trials_fitting(have_cpu, cpus, per_worker)
    if gpus > 0:
        fits = min(fits, math.floor(have_gpu / gpus + 1e-9))
    return max(1, min(concurrency, fits))


def trials_per_worker_hint(slots: int, per_worker: int) -> tuple[int, float] | None:
    """(trials per worker to suggest, the cluster's CPUs) when ``slots`` trials in workers of
    ``per_worker`` would start more than WORKER_PROCESSES_PER_CPU_HINT processes per CPU, else None."""
    cpus = float(_ray().cluster_resources().get("CPU", 0))
    suggested = suggested_trials_per_worker(slots, per_worker, cpus)
    return None if suggested is None else (suggested, cpus)


def suggested_trials_per_worker(slots: int, per_worker: int, cpus: float) -> int | None:
    """The trials per worker that bring ``slots`` trials to SHARED_PROCESSES_PER_CPU worker
    processes per CPU, when workers of ``per_worker`` would be more than
    WORKER_PROCESSES_PER_CPU_HINT per CPU; None when they are not (or nothing larger fits)."""
    import math

    if cpus <= 0 or math.ceil(slots / per_worker) <= _constants.WORKER_PROCESSES_PER_CPU_HINT * cpus:
        return None
    suggested = math.ceil(slots / max(1, math.floor(_constants.SHARED_PROCESSES_PER_CPU * cpus)))
    return suggested if suggested > per_worker else None


def _trials_fitting(cpus_available: float, cpus: float, per_worker: int) -> int:
    """How many trials of ``cpus`` CPUs each fit in ``cpus_available``, in whole workers of
    ``per_worker`` trials (a worker asks for all its trials' CPUs at once)."""
    import math

    return math.floor(cpus_available / (cpus * per_worker) + 1e-9) * per_worker


def stop_ray() -> None:
    """Shut down this process's Ray, and forget what a sweep kept of it."""
    _KEPT.forget()
    _ray().shutdown()


def put(value: Any) -> Any:
    """Store ``value`` once in Ray's object store (the data every worker reads)."""
    return _ray().put(value)


# What Ray says when an actor's node died (tests/test_ray_contract.py checks it), as opposed to its
# process ("The actor is dead because its worker process has died").
_NODE_DIED = "because its node has died"
_PROCESS_DIED = "because its worker process has died"  # the process itself, perhaps by the trial's own code
# How many new workers a trial gets when each dies before starting it, before the trial fails.
_RELAUNCHES = 3


# -- the actors ------------------------------------------------------------------------------


class _PlacedWorker(TrialWorker):
    """A TrialWorker that knows its Ray node and GPU ids."""

    def __init__(self, sweep_config: dict[str, Any], data: Any, gpu_fraction: float) -> None:
        import ray

        for key, value in _worker_env().items():  # this process is the actor's own
            os.environ.setdefault(key, value)
        context = ray.get_runtime_context()
        placement = {
            "node": context.get_node_id(),
            "gpus": [str(g) for g in context.get_accelerator_ids().get("GPU", [])],
        }
        super().__init__(sweep_config, data, gpu_fraction, placement)

    def ping(self) -> bool:
        return True


@dataclass(frozen=True)
class FinalJob:
    """One re-training after the sweep: trial ``number``'s configuration with ``seed`` (None: the
    sweep's ``train.seed``)."""

    number: int
    params: dict[str, Any]
    seed: int | None = None


class SlotState(enum.Enum):
    """Where one concurrency slot of the pool stands."""

    IDLE = "idle"  # a worker, no trial
    RUNNING = "running"  # its worker runs trial ``number`` (started once ``placement`` is known)
    STOPPING = "stopping"  # its trial was told to stop; the trial's end is still to come
    MEASURING = "measuring"  # its worker re-trains trial ``number``'s configuration for the seed noise (no trial)
    PARKED = "parked"  # its worker was removed to free a GPU for a whole-GPU trial; back when that ends
    DEAD = "dead"  # its worker is gone (its process or node lost); RayPool._refill replaces it
    RETIRED = "retired"  # the cluster has no room for it (nodes lost); RayPool._grow brings it back


_BUSY = (SlotState.RUNNING, SlotState.STOPPING)


@dataclass
class _Slot:
    actor: Any
    state: SlotState = SlotState.IDLE
    number: int | None = None  # its trial, while RUNNING or STOPPING
    stream: Any = None
    placement: dict[str, Any] = field(default_factory=dict)
    launched_at: float = 0.0
    whole: bool = False  # its actor holds a whole GPU (a retry after running out of memory on a share)
    params: dict[str, Any] = field(default_factory=dict)
    start: bytes | None = None  # the checkpoint its trial continues from (promotion)
    pause_after: int | None = None
    relaunches: int = 0  # times its trial was handed to a new worker because the last one died before starting it
    seed: int = 0  # MEASURING: the seed it re-trains with
    ping: Any = None  # the pending answer of a worker not yet up (None once it answered or started a trial)
    pinged_at: float = 0.0

    @property
    def busy(self) -> bool:
        return self.state in _BUSY

    @property
    def up(self) -> bool:
        """Whether its worker is up: only then is an idle slot given a trial, so that a trial is
        created when it can start, not while K workers boot."""
        return self.ping is None

    def give(self, actor: Any) -> None:
        """A new worker for this slot: up once it answers its ping."""
        self.actor, self.ping, self.pinged_at = actor, actor.ping.remote(), time.monotonic()

    def free(self, state: SlotState = SlotState.IDLE) -> None:
        """Its trial is over (or gone with its worker): no trial, in ``state``."""
        self.state, self.number, self.stream, self.start = state, None, None, None


class RayPool:
    """``size`` trial-worker actors, each with ``cpus`` CPUs and ``gpus`` GPUs (0.5 packs two per GPU).

    A trial launched with ``whole_gpu`` (it ran out of memory on a share) gets an actor of its own
    with one whole GPU. Until Ray can place it, each slot that falls idle is parked (its actor
    removed, its GPU share freed), so a GPU is certain to empty; parked slots come back when the
    whole-GPU trial ends. Nothing else starts meanwhile: the sweep runs narrower for that trial.
    """

    def __init__(
        self,
        size: int,
        cpus: float,
        gpus: float,
        sweep_config: dict[str, Any],
        data: Any,
        start_timeout: float = 300.0,
        answers_reports: bool = True,
        per_worker: int = 1,
        warm: bool = False,
    ) -> None:
        """``warm``: take the warm workers an earlier sweep of this process left (of this shape),
        and leave this sweep's idle ones for the next (the sweep runs no code of the user's, which
        a warm worker would not import afresh; the local Ray is kept)."""
        ray = _ray()
        self._ray = ray
        self._shape = WorkerShape(cpus, gpus, per_worker)
        self._keep = warm
        self._warm = _KEPT.take_workers(self._shape if warm else None)
        self._start_timeout = start_timeout
        self._per_worker = per_worker
        self._dead: set[Any] = set()  # workers known lost: never given to a slot again
        # A worker runs up to ``per_worker`` trials (one streaming call each) beside the driver's
        # answers to them (stop, hear, kept, ping): as many threads again.
        self._actor_class = ray.remote(_PlacedWorker).options(
            num_cpus=cpus * per_worker, num_gpus=gpus, max_concurrency=2 * per_worker
        )
        self._whole_class = ray.remote(_PlacedWorker).options(num_cpus=cpus, num_gpus=max(1.0, gpus), max_concurrency=2)
        self._config, self._data, self._cpus, self._gpus = sweep_config, data, cpus, gpus
        self._answers_reports = answers_reports  # as the workers' config says (PrunerConfig.answers_reports)
        self._gone: set[str] = set()  # Ray nodes found lost
        self._short = False
        self._starved_since: float | None = None  # since when no worker is left (capacity zero)
        self._capacity_checked = 0.0  # when the cluster was last asked whether nodes joined
        self._slots = [_Slot(None) for _ in range(size)]
        for slot in self._slots:
            self._give(slot)

    def _give(self, slot: _Slot, whole: bool = False) -> None:
        """A worker for ``slot``: with several trials per worker, one that is up and has a free
        place (not one known lost), else a new one."""
        if self._per_worker > 1 and not whole:
            for actor, users in self._sharing(slot).items():
                if users < self._per_worker:
                    slot.give(actor)
                    return
        slot.give(self._new_actor(whole))

    def _sharing(self, slot: _Slot) -> dict[Any, int]:
        """The live workers of the other slots, each with how many slots it serves."""
        users: dict[Any, int] = {}
        for other in self._slots:
            if other is slot or other.actor is None or other.actor in self._dead:
                continue
            if other.state not in (SlotState.DEAD, SlotState.RETIRED, SlotState.PARKED):
                users[other.actor] = users.get(other.actor, 0) + 1
        return users

    def _release(self, slot: _Slot) -> None:
        """Remove ``slot``'s worker, unless other slots' trials run in it too."""
        if slot.actor not in self._sharing(slot):
            self._ray.kill(slot.actor)

    def _new_actor(self, whole: bool = False) -> Any:
        while self._warm and not whole:
            actor = self._warm.pop()
            try:  # waited for: a threaded actor may run its calls out of order, a trial before this
                self._ray.get(actor.configure.remote(self._config, self._data))
            except self._ray.exceptions.RayActorError:
                continue  # it died since the last sweep: the next, or a new one
            return actor
        if whole:
            return self._whole_class.remote(self._config, self._data, max(1.0, self._gpus))
        return self._actor_class.remote(self._config, self._data, self._gpus)

    def _waiting_for_whole_gpu(self) -> bool:
        return any(slot.whole and slot.busy and not slot.placement for slot in self._slots)

    def free_slots(self) -> int:
        """Idle slots whose worker is up (a booting worker's slot is not free yet: ``poll`` says
        when it is)."""
        if self._waiting_for_whole_gpu():
            return 0
        return sum(slot.state is SlotState.IDLE and slot.up for slot in self._slots)

    def _idle(self) -> _Slot:
        """An idle slot for the next job: one whose worker is up (and ran a trial) first."""
        idle = [slot for slot in self._slots if slot.state is SlotState.IDLE]
        return min(idle, key=lambda slot: (not slot.up, not slot.placement))

    def running(self) -> list[int]:
        return [slot.number for slot in self._slots if slot.busy and slot.number is not None]

    def launch(
        self,
        number: int,
        params: dict[str, Any],
        whole_gpu: bool = False,
        start: bytes | None = None,
        pause_after: int | None = None,
    ) -> None:
        slot = self._idle()
        whole = whole_gpu and 0 < self._gpus < 1
        if whole != slot.whole:
            self._ray.kill(slot.actor)
            self._give(slot, whole)
            slot.whole = whole
        slot.number, slot.params, slot.relaunches = number, params, 0
        slot.start, slot.pause_after = start, pause_after
        self._start(slot)
        self._rebalance()

    def measure(self, number: int, params: dict[str, Any], seed: int) -> None:
        """Re-train trial ``number``'s configuration with ``seed`` in an idle worker (the noise-aware
        stop rule's measurement: no trial, no reports); its end comes from ``poll`` as ``Measured``."""
        slot = self._idle()
        slot.state, slot.number, slot.seed = SlotState.MEASURING, number, seed
        slot.stream = slot.actor.final.remote(number, params, seed, False)

    def _measured(self, slot: _Slot) -> list[Event]:
        number, seed = slot.number, slot.seed
        assert number is not None, "a measuring slot re-trains a trial's configuration"
        try:
            result = self._ray.get(slot.stream)
        except self._ray.exceptions.RayActorError as exc:
            slot.free(SlotState.DEAD)
            self._refill()
            return [Measured(number, seed, None, f"its worker was lost: {_first_line(exc)}")]
        except self._ray.exceptions.RayTaskError as exc:
            slot.free()
            return [Measured(number, seed, None, _creation_error(exc))]
        slot.free()
        return [Measured(number, seed, result["validation_metrics"])]

    def _start(self, slot: _Slot) -> None:
        slot.state, slot.placement, slot.launched_at = SlotState.RUNNING, {}, time.monotonic()
        slot.stream = slot.actor.run.options(num_returns="streaming").remote(
            slot.number, slot.params, slot.start, slot.pause_after
        )

    def _rebalance(self) -> None:
        """Park idle slots while a whole-GPU trial waits for its GPU; unpark them (and give the
        whole-GPU slot its share back) once no whole-GPU trial runs."""
        if self._waiting_for_whole_gpu():
            for slot in self._slots:
                if slot.state is SlotState.IDLE:
                    self._ray.kill(slot.actor)
                    slot.state = SlotState.PARKED
            return
        if any(slot.whole and slot.busy for slot in self._slots):
            return
        for slot in self._slots:
            if slot.whole:
                self._ray.kill(slot.actor)
                self._give(slot)
                slot.whole = False
            if slot.state is SlotState.PARKED:
                self._give(slot)
                slot.state = SlotState.IDLE

    def _telling(self, number: int) -> _Slot | None:
        """The slot running trial ``number``, unless it was stopped already (nothing more to tell)."""
        return next((slot for slot in self._slots if slot.state is SlotState.RUNNING and slot.number == number), None)

    def stop(self, number: int) -> None:
        if (slot := self._telling(number)) is not None:
            slot.state = SlotState.STOPPING
            slot.actor.stop.remote(number)

    def hear(self, number: int, epoch: int, go_on_to: int | None = None) -> None:
        """Tell trial ``number`` that its report of ``epoch`` was handled and it goes on (after its
        rung, on to ``go_on_to`` without pausing, when given)."""
        if self._answers_reports and (slot := self._telling(number)) is not None:
            slot.actor.hear.remote(number, epoch, go_on_to)

    def kept(self, number: int, epoch: int) -> None:
        """Tell trial ``number`` that the driver keeps its checkpoint after ``epoch`` (it trains on)."""
        if (slot := self._telling(number)) is not None:
            slot.actor.kept.remote(number, epoch)

    def poll(self, timeout: float) -> list[Event]:
        """Events from the running trials, waiting up to ``timeout`` seconds for the first."""
        busy = {slot.stream: slot for slot in self._slots if slot.busy}
        measuring = {slot.stream: slot for slot in self._slots if slot.state is SlotState.MEASURING}
        self._grow()
        booting = {slot.ping: slot for slot in self._slots if slot.state is SlotState.IDLE and not slot.up}
        if not busy and not measuring and not booting:
            self._starved(timeout)
            return []
        self._check_started(busy.values())
        if not busy and not measuring:
            self._check_booting(booting.values())
        ready, rest = self._ray.wait([*busy, *measuring, *booting], num_returns=1, timeout=timeout)
        if ready and rest:
            ready += self._ray.wait(rest, num_returns=len(rest), timeout=0)[0]
        events: list[Event] = []
        for stream in ready:
            if stream in booting:
                self._pinged(booting[stream])
            elif stream in measuring:
                if measuring[stream].stream is stream:
                    events += self._measured(measuring[stream])
            elif busy[stream].stream is stream:  # not ended meanwhile (a lost node ends its other trials at once)
                events += self._next(busy[stream])
        if self._short:
            self._refill()
        self._rebalance()
        return events

    def _pinged(self, slot: _Slot) -> None:
        """A booting worker answered: it is up, or it died starting (replaced; a worker whose
        set-up raised stops the sweep, as every new one would raise too)."""
        try:
            self._ray.get(slot.ping)
        except self._ray.exceptions.RayActorError as exc:
            if exc.actor_init_failed:
                raise SweepAborted(f"the trial workers cannot start: {_creation_error(exc)}") from None
            self._dead.add(slot.actor)
            slot.state, slot.ping = SlotState.DEAD, None
            self._refill()
            return
        slot.ping = None

    def _check_booting(self, slots: Any) -> None:
        """Nothing runs and no worker is up: past the start timeout the cluster cannot run one."""
        if any(slot.up and slot.state is SlotState.IDLE for slot in self._slots):
            return
        waited = time.monotonic() - min(slot.pinged_at for slot in slots)
        if waited > self._start_timeout:
            raise SweepAborted(
                f"no trial worker started within {waited:.0f} s (resources.worker_start_timeout="
                f"{self._start_timeout:g}); the cluster may lack the resources (cpus_per_trial, gpus_per_trial) or "
                "have lost its nodes: check `ray status`"
            )

    def _check_started(self, slots: Any) -> None:
        """A trial whose worker has not started within the timeout means the cluster cannot run it."""
        others = sum(not slot.whole and slot.busy for slot in self._slots)
        for slot in slots:
            if slot.whole and others:
                slot.launched_at = time.monotonic()  # it waits for the packed trials to free a GPU
            waited = time.monotonic() - slot.launched_at
            if not slot.placement and waited > self._start_timeout:
                raise SweepAborted(
                    f"trial {slot.number} waited {waited:.0f} s for a Ray worker to start "
                    f"(resources.worker_start_timeout={self._start_timeout:g}); the cluster may lack the "
                    "resources or have lost its nodes: check `ray status`"
                )

    def _next(self, slot: _Slot) -> list[Event]:
        number = slot.number
        assert number is not None, "only a busy slot's stream is read"
        try:
            item = self._ray.get(next(slot.stream))
        except StopIteration:
            slot.free()
            return [Failed(number, "the trial's worker ended without a result", retryable=True, interrupted=True)]
        except self._ray.exceptions.RayActorError as exc:
            return self._lost(slot, exc)
        return [self._event(slot, number, item)]

    def _event(self, slot: _Slot, number: int, item: dict[str, Any]) -> Event:
        """One item of a slot's stream as an event; a start places the slot, an end frees it."""
        event = event_from(number, item)
        if isinstance(event, Placed):
            slot.placement, slot.ping = event.placement, None
        if isinstance(event, (Ended, Paused, Failed)):
            slot.free()
        return event

    def _lost(self, slot: _Slot, exc: Any) -> list[Event]:
        """The actor died (its process was killed, or its node was lost): replace it and fail the
        trial, to be retried. A trial whose worker never started (placed on a node that is dying
        but not yet known dead) goes to a new worker instead. A lost node also ends the trials of
        every other worker on it, and the slots the remaining nodes cannot hold are retired.
        ``exc``: Ray's ``RayActorError`` (Ray is imported only where a pool runs)."""
        number = slot.number
        assert number is not None, "only a busy slot's worker is lost with a trial"
        if exc.actor_init_failed:  # the worker's set-up raised: every new worker would too
            raise SweepAborted(f"the trial workers cannot start: {_creation_error(exc)}") from None
        self._dead.add(slot.actor)  # (the other trials in it learn of it from their own streams)
        placement = slot.placement
        if (
            not placement
            and _PROCESS_DIED not in str(exc)
            and slot.relaunches < _RELAUNCHES
            and slot.state is SlotState.RUNNING
        ):
            self._give(slot, slot.whole)
            slot.relaunches += 1
            self._start(slot)
            return []
        if _NODE_DIED in str(exc) or (placement and self._node_gone(placement["node"])):
            what = f"its node was lost (Ray node {placement.get('node', '?')}, host {placement.get('host', '?')})"
        elif placement:
            what = (
                f"its process died (pid {placement['pid']} on host {placement['host']}, Ray node {placement['node']})"
            )
        else:
            what = "its worker died before the driver heard that the trial had started"
        events: list[Event] = [
            Failed(
                number,
                f"the worker running this trial was lost: {what}: {_first_line(exc)}",
                retryable=True,
                interrupted=True,
            )
        ]
        slot.free(SlotState.DEAD)
        if placement and what.startswith("its node was lost"):
            self._gone.add(placement["node"])
            events += self._node_lost(placement["node"], _first_line(exc))
        self._refill()
        return events

    def _node_lost(self, node: str, why: str) -> list[Event]:
        """Every other trial that ran on ``node`` fails now (its own death would come later), after
        what its worker sent before the loss and the driver has not read yet (``_delivered``)."""
        events: list[Event] = []
        for other in self._slots:
            if other.placement.get("node") != node or other.state in (SlotState.RETIRED, SlotState.PARKED):
                continue  # (a parked slot has no worker to lose)
            if other.busy and other.number is not None:
                delivered = self._delivered(other)
                events += delivered
                if delivered and isinstance(delivered[-1], (Ended, Paused, Failed)):
                    other.free(SlotState.DEAD)  # it ended before the loss, its own end stands; its worker is gone
                    continue
            if other.state is SlotState.MEASURING and other.number is not None:
                events.append(Measured(other.number, other.seed, None, f"its node was lost (Ray node {node})"))
            elif other.busy and other.number is not None:
                host = other.placement.get("host", "?")
                events.append(
                    Failed(
                        other.number,
                        f"the worker running this trial was lost: its node was lost (Ray node {node}, host {host}): "
                        f"{why}",
                        retryable=True,
                        interrupted=True,
                    )
                )
            other.free(SlotState.DEAD)
        return events

    def _delivered(self, slot: _Slot) -> list[Event]:
        """The events a busy slot's worker sent that the driver has not read yet, without waiting
        for more: a report or a checkpoint sent before its node was lost is kept, not dropped. Stops
        at the worker's death, and at an item that was left on the lost node (a big checkpoint in
        its object store: lost with it)."""
        number = slot.number
        assert number is not None, "only a busy slot's stream is read"
        events: list[Event] = []
        while slot.busy and self._ray.wait([slot.stream], num_returns=1, timeout=0)[0]:
            try:
                item = self._ray.get(next(slot.stream), timeout=_constants.LOST_NODE_READ_S)
            except (StopIteration, self._ray.exceptions.RayError):
                break
            events.append(self._event(slot, number, item))  # (an end frees the slot: the loop stops)
        return events

    def _refill(self) -> None:
        """Dead workers are replaced while the nodes not known lost have room; past that their
        slots are retired (a new worker would wait for resources forever), then idle slots' too."""
        excess = self._active() - self._capacity()
        for slot in sorted(self._slots, key=lambda s: (s.state is not SlotState.DEAD, s.busy)):
            if slot.state in (SlotState.RETIRED, SlotState.MEASURING, *_BUSY) or (
                slot.state is not SlotState.DEAD and excess <= 0
            ):
                continue
            if excess > 0:
                if slot.state is SlotState.IDLE:
                    self._release(slot)
                slot.state, excess = SlotState.RETIRED, excess - 1
                _log.warning("the Ray cluster lost capacity; %d trials now run at once", self._active())
            else:
                self._give(slot, slot.whole)
                slot.state = SlotState.IDLE
        self._short = excess > 0  # more slots than room: retire the next ones that fall idle

    def _grow(self, every_s: float = _constants.CAPACITY_CHECK_S) -> None:
        """Slots retired when the cluster lost capacity come back, up to what the nodes alive now
        can hold (nodes that joined mid-sweep), asking the cluster at most every ``every_s``."""
        retired = [slot for slot in self._slots if slot.state is SlotState.RETIRED]
        if not retired or time.monotonic() - self._capacity_checked < every_s:
            return
        self._capacity_checked = time.monotonic()
        room = self._capacity() - (len(self._slots) - len(retired))
        for slot in retired[: max(room, 0)]:
            self._revive(slot)
        if room > 0:
            _log.warning("the Ray cluster gained capacity; %d trials now run at once", self._active())

    def _revive(self, slot: _Slot) -> None:
        """A retired slot gets a new worker (Ray places it once a node has room)."""
        self._give(slot)
        slot.state, slot.whole = SlotState.IDLE, False

    def _active(self) -> int:
        return sum(slot.state is not SlotState.RETIRED for slot in self._slots)

    def _starved(self, timeout: float) -> None:
        """No worker is left (every node that could run one was lost): wait for nodes to join,
        without spinning, up to ``worker_start_timeout``; then stop the sweep (``hpo resume``
        continues it)."""
        if self._active():
            self._starved_since = None
            return
        now = time.monotonic()
        if self._starved_since is None:
            self._starved_since = now
            _log.warning("no Ray node can run a trial now; waiting up to %g s for one", self._start_timeout)
        self._grow(every_s=0.0)
        if self._active():
            self._starved_since = None
            return
        if now - self._starved_since > self._start_timeout:
            raise SweepAborted(
                f"no Ray node could run a trial for {now - self._starved_since:.0f} s "
                f"(resources.worker_start_timeout={self._start_timeout:g}): the cluster lost every node with "
                "room for a trial (cpus_per_trial, gpus_per_trial); add nodes (`ray start --address ...`), then "
                "`hpo resume`"
            )
        time.sleep(max(timeout, _constants.STARVED_WAIT_S))

    def _capacity(self) -> int:
        """How many trials the nodes not known lost can hold (in whole workers)."""
        import math

        total = 0
        for node in self._ray.nodes():
            if not node["Alive"] or node["NodeID"] in self._gone:
                continue
            resources = node.get("Resources", {})
            fits = (
                _trials_fitting(float(resources.get("CPU", 0)), self._cpus, self._per_worker)
                if self._cpus > 0
                else len(self._slots)
            )
            if self._gpus > 0:
                fits = min(fits, math.floor(float(resources.get("GPU", 0)) / self._gpus + 1e-9))
            total += fits
        return total

    def _node_gone(self, node_id: str) -> bool:
        """Whether a Ray node is dead: so marked, or its raylet no longer takes connections (Ray
        marks a killed node dead only after its health checks time out)."""
        import socket

        for node in self._ray.nodes():
            if node["NodeID"] == node_id:
                if not node["Alive"]:
                    return True
                try:
                    socket.create_connection(
                        (node["NodeManagerAddress"], int(node["NodeManagerPort"])), timeout=1.0
                    ).close()
                except OSError:
                    return True
                return False
        return True

    def finals(
        self, jobs: Sequence[FinalJob], interrupted: Callable[[], bool] = lambda: False
    ) -> list[dict[str, Any]] | None:
        """Re-train each job's configuration (with its seed) and score it on the test split, in
        parallel on this pool's workers (the trials' resources, the backend already imported); a
        job whose worker dies is given a new worker once. Each result has the seconds it took.
        None when ``interrupted()`` turns true meanwhile."""
        for slot in self._slots:
            if slot.state is SlotState.MEASURING:  # the search is over: its noise re-training is moot
                self._release(slot)
                self._give(slot, slot.whole)
                slot.free()
        live = [slot for slot in self._slots if slot.state not in (SlotState.RETIRED, SlotState.PARKED, SlotState.DEAD)]
        if not live:  # the cluster lost every worker: a new one, which waits for a node below
            slot = self._slots[0]
            self._revive(slot)
            live = [slot]
        results: list[dict[str, Any] | None] = [None] * len(jobs)
        pending, deaths = list(range(len(jobs))), [0] * len(jobs)
        pings = {slot.actor.ping.remote(): slot for slot in sorted(live, key=lambda slot: not slot.placement)}
        running: dict[Any, tuple[_Slot, int, float]] = {}
        deadline, started_one = time.monotonic() + self._start_timeout, False
        while any(result is None for result in results):
            if interrupted():
                return None
            ready = self._ray.wait([*pings, *running], num_returns=1, timeout=0.5)[0]
            if not ready:
                if not started_one and time.monotonic() > deadline:
                    raise HpoError(
                        f"re-training trial {jobs[pending[0]].number}: no worker started within "
                        "resources.worker_start_timeout="
                        f"{self._start_timeout:g} s; the cluster may have lost its nodes: check `ray status`, then "
                        "`hpo resume`"
                    )
                continue
            ref = ready[0]
            if ref in pings:
                slot = pings.pop(ref)
                try:
                    self._ray.get(ref)
                except self._ray.exceptions.RayActorError:
                    self._dead.add(slot.actor)
                    self._give(slot, slot.whole)
                    pings[slot.ping] = slot
                    continue
                started_one = True
            else:
                slot, index, began = running.pop(ref)
                job = jobs[index]
                try:
                    results[index] = {**self._ray.get(ref), "seconds": time.monotonic() - began}
                except self._ray.exceptions.RayActorError:
                    deaths[index] += 1
                    if deaths[index] == 2:
                        raise HpoError(f"re-training trial {job.number} failed: its worker died twice") from None
                    pending.insert(0, index)
                    self._dead.add(slot.actor)
                    self._give(slot, slot.whole)
                    pings[slot.ping] = slot
                    continue
                except self._ray.exceptions.RayTaskError as exc:
                    raise HpoError(f"re-training trial {job.number} failed: {_creation_error(exc)}") from None
            if pending:  # the slot is free: its next job
                index = pending.pop(0)
                job = jobs[index]
                running[slot.actor.final.remote(job.number, job.params, job.seed)] = (slot, index, time.monotonic())
        return [result for result in results if result is not None]

    def final(
        self, number: int, params: dict[str, Any], interrupted: Callable[[], bool] = lambda: False
    ) -> dict[str, Any] | None:
        """The best trial re-trained once (the sweep's seed) and scored on the test split."""
        done = self.finals([FinalJob(number, params)], interrupted)
        return None if done is None else done[0]

    def close(self) -> None:
        """Remove the workers; with ``warm``, leave the idle ones up for the next sweep."""
        kept = self._idle_workers() if self._keep else []
        for slot in self._slots:
            if slot.state not in (SlotState.PARKED, SlotState.RETIRED, SlotState.DEAD) and slot.actor not in kept:
                self._ray.kill(slot.actor)
        if self._keep:
            _KEPT.keep_workers(self._shape, [*kept, *self._warm])
        self._slots, self._warm = [], []

    def _idle_workers(self) -> list[Any]:
        """The live workers up that no trial uses (every slot of theirs idle), whole-GPU ones aside."""
        by_actor: dict[Any, bool] = {}
        for slot in self._slots:
            if slot.actor is None or slot.state in (SlotState.PARKED, SlotState.RETIRED):
                continue
            idle = slot.state is SlotState.IDLE and slot.up and not slot.whole and slot.actor not in self._dead
            by_actor[slot.actor] = by_actor.get(slot.actor, True) and idle
        return [actor for actor, idle in by_actor.items() if idle]


def _creation_error(exc: BaseException) -> str:
    """The exception a worker's ``__init__`` raised, from Ray's wrapper around it."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    errors = [
        line
        for line in lines
        if ("Error" in line or "Exception" in line) and ":" in line and not line.startswith(("ray::", "The actor"))
    ]
    return errors[-1] if errors else _first_line(exc)


def _first_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__
