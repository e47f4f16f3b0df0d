"""The trial worker: one per slot, long-lived, running one trial at a time in its own process.

It streams what the trial does as plain dicts, in order: ``start`` (where it runs, and the epoch
of the checkpoint it continues from), ``report`` per epoch (with a ``checkpoint`` after an epoch
where one was due), then one of ``end`` (final metrics), ``paused`` (its checkpoint, with a
promotion scheduler), ``stopped`` (the sweep stopped it) or ``fail`` (reason, retryable). Training
runs in a thread and never waits for the driver: reports are queued and the driver's stop arrives
through ``stop()``, which the trial sees at its next batch or report.
Nothing here imports Ray; the executor's Ray adapter runs this class as an actor.
"""

from __future__ import annotations

import os
import pickle
import queue
import socket
import threading
import traceback
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hpo import _constants
from hpo._errors import TrialFailed, TrialOutOfMemory
from hpo._trial import (
    Answers,
    ReadParams,
    TrialContext,
    TrialPaused,
    TrialResult,
    TrialStopped,
)
from hpo.config import SweepConfig
from hpo.data import Dataset
from hpo.gpu import is_out_of_memory, limit_gpu_memory

if TYPE_CHECKING:
    from hpo.engine import TrainPlan

_END_KINDS = ("end", "paused", "stopped", "fail")


def _describe(exc: BaseException) -> str:
    """``Type: message`` and the innermost frame, for a fail reason a user can act on."""
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" (at {os.path.basename(frames[-1].filename)}:{frames[-1].lineno})" if frames else ""
    return f"{type(exc).__name__}: {exc}{where}"


class TrialWorker:
    """Runs trials of one sweep at a time in this process, the backend imported and the data loaded
    once per sweep (``configure`` hands a warm worker its next sweep: its imports stay)."""

    def __init__(
        self,
        sweep_config: dict[str, Any],
        data: Dataset | None,
        gpu_fraction: float = 0.0,
        placement: dict[str, Any] | None = None,
    ) -> None:
        if gpu_fraction > 0:
            limit_gpu_memory(min(gpu_fraction, 1.0))  # before the backend first touches a GPU
        self._gpu_share = gpu_fraction
        self._placement = {"host": socket.gethostname(), "pid": os.getpid(), **(placement or {})}
        self._answers: dict[int, Answers] = {}  # the running trial's line to the driver
        self.configure(sweep_config, data)
        if self._function is None:
            from hpo.engine import freeze_imports

            freeze_imports()
        else:
            import gc

            gc.freeze()  # the same for the user's imports (Keras or TensorFlow in their own module)

    def configure(self, sweep_config: dict[str, Any], data: Dataset | None) -> None:
        """Take on a sweep: its settings and its data (the earlier sweep's go)."""
        from hpo._references import resolve_reference

        self._config = SweepConfig.model_validate(sweep_config)
        # Trained epoch by epoch, so that a trial continued from a checkpoint follows the same curve.
        self._resumable = self._config.pruner.name in _constants.PROMOTION_SCHEDULERS or self._config.checkpoint.enabled
        self._data = data
        function = self._config.objective.function
        self._function = resolve_reference(function, "objective function") if function else None
        self._plan: TrainPlan | None = None  # the built-in trainer's sections of the sweep
        if self._function is None:
            from hpo.engine import TrainPlan  # imports Keras now, not in the first trial's time

            self._plan = TrainPlan.of(self._config)

    def stop(self, number: int) -> None:
        """Ask trial ``number`` to stop (it sees it at its next batch or report)."""
        answers = self._answers.get(number)
        if answers is not None:
            answers.stop()

    def hear(self, number: int, epoch: int, go_on_to: int | None = None) -> None:
        """The driver has handled trial ``number``'s report of ``epoch`` and lets it go on (after
        its rung, on to epoch ``go_on_to`` instead of pausing, when given)."""
        answers = self._answers.get(number)
        if answers is not None:
            answers.hear(epoch, go_on_to)

    def kept(self, number: int, epoch: int) -> None:
        """The driver keeps trial ``number``'s checkpoint after ``epoch``: the trial trains on."""
        answers = self._answers.get(number)
        if answers is not None:
            answers.keep(epoch)

    def run(
        self, number: int, params: dict[str, Any], start: bytes | None = None, pause_after: int | None = None
    ) -> Iterator[dict[str, Any]]:
        """Train one configuration, yielding its events as they happen; continue from ``start``
        (a checkpoint this worker class packed) and pause after epoch ``pause_after`` when given."""
        events: queue.Queue[dict[str, Any]] = queue.Queue()
        answers = self._answers.setdefault(number, Answers())
        start_epoch, state = (0, None) if start is None else self._unpack(start)
        every = self._config.checkpoint

        def save(epoch: int, saved: Any) -> None:
            events.put({"kind": "checkpoint", "epoch": epoch, "checkpoint": self._pack(saved, epoch)})

        context = TrialContext(
            number=number,
            params=ReadParams(params),
            data=self._data,
            seed=self._config.train.seed,
            epochs=self._config.train.epochs,
            gpu_share=self._gpu_share,
            pause_after=pause_after,
            checkpoint=state,
            checkpoint_every=every.every_epochs,
            checkpoint_minutes=every.every_minutes,
            _sink=lambda epoch, metrics: events.put({"kind": "report", "epoch": epoch, "metrics": metrics}),
            _save_sink=save,
            _last_epoch=start_epoch,
            _answers=answers,
            _awaits_answers=self._config.pruner.answers_reports,
            _awaits_kept=True,
        )

        thread = threading.Thread(target=self._train, args=(context, events), name=f"hpo-trial-{number}", daemon=True)
        yield {"kind": "start", "placement": self._placement, "from_epoch": start_epoch}
        thread.start()
        try:
            while True:
                event = events.get()
                yield event
                if event["kind"] in _END_KINDS:
                    break
        finally:
            thread.join()
            self._answers.pop(number, None)

    def final(self, number: int, params: dict[str, Any], seed: int | None = None, score: bool = True) -> dict[str, Any]:
        """Re-train trial ``number``'s configuration once (with ``seed``, by default the sweep's
        ``train.seed``) and score it on the test split.

        Returns its validation and test metrics and the model as ``.keras`` bytes (None when a
        trial function returns no model). Runs in a worker so that the driver needs no GPU and
        never imports the backend. Without ``score`` (a re-training during the search, for the
        seed noise) the test split stays untouched and no model is sent: validation metrics only.
        """
        reported: dict[str, float] = {}  # a trial function's last report: its metrics unless it returns others
        context = TrialContext(
            number=number,
            params=dict(params),
            data=self._data,
            seed=self._config.train.seed if seed is None else seed,
            epochs=self._config.train.epochs,
            gpu_share=self._gpu_share,
            _sink=lambda epoch, metrics: reported.update(metrics),
        )
        if self._plan is not None and not score:
            from hpo.engine import train_trial

            trained = train_trial(self._plan, context, resumable=self._resumable)  # (clears its Keras state)
            return {"validation_metrics": trained.final, "test_metrics": {}, "model": None}
        if self._plan is not None:
            from hpo.engine import score_best

            return score_best(self._plan, context, resumable=self._resumable)
        assert self._function is not None  # without a plan, the sweep names a trial function
        returned = self._function(context)
        metrics = {**reported, **(returned.metrics if isinstance(returned, TrialResult) else returned or {})}
        model = returned.model if isinstance(returned, TrialResult) else None
        if model is None or not score:
            return {"validation_metrics": metrics, "test_metrics": {}, "model": None}
        from hpo.engine import evaluate_on_test, model_bytes

        return {
            "validation_metrics": metrics,
            "test_metrics": {} if self._data is None else evaluate_on_test(model, self._data, context.params),
            "model": model_bytes(model),
        }

    def _train(self, context: TrialContext, events: queue.Queue[dict[str, Any]]) -> None:
        try:
            metrics = self._objective(context)
        except TrialStopped:
            events.put({"kind": "stopped"})
        except TrialPaused as paused:
            events.put({"kind": "paused", "epoch": paused.epoch, "checkpoint": self._pack(paused.state, paused.epoch)})
        except TrialFailed as exc:  # the configuration's fault: never retried as it is
            events.put(
                {"kind": "fail", "reason": str(exc), "retryable": False, "oom": isinstance(exc, TrialOutOfMemory)}
            )
        except Exception as exc:  # noqa: BLE001 - the trial's code failed: record it, keep the worker
            oom = is_out_of_memory(exc)
            events.put({"kind": "fail", "reason": _describe(exc), "retryable": not oom, "oom": oom})
        else:
            unread = context.params.unread() if isinstance(context.params, ReadParams) else []
            events.put({"kind": "end", "metrics": metrics, "unread": unread})

    def _objective(self, context: TrialContext) -> dict[str, float]:
        if self._plan is not None:
            from hpo.engine import train_trial

            result = train_trial(self._plan, context, resumable=self._resumable, start=context.checkpoint)
            if result.checkpoint is not None:
                raise TrialPaused(result.checkpoint.epoch, result.checkpoint)
            return result.final
        assert self._function is not None  # without a plan, the sweep names a trial function
        returned = self._function(context)
        if isinstance(returned, TrialResult):
            return {k: float(v) for k, v in returned.metrics.items()}
        if isinstance(returned, dict):
            return {k: float(v) for k, v in returned.items()}
        if returned is None:
            return {}
        raise TrialFailed(
            f"objective function {self._config.objective.function!r} must return a dict of metrics, a TrialResult "
            f"or None, but returned {type(returned).__name__}"
        )

    # -- checkpoints: the built-in trainer's as a pickle-free archive, a trial function's pickled --

    def _pack(self, state: Any, epoch: int) -> bytes:
        if self._function is None:
            return state.to_bytes()  # it holds its epoch
        return pickle.dumps(_Saved(epoch, state))

    def _unpack(self, data: bytes) -> tuple[int, Any]:
        """The state a trial saved, and the epoch it saved it after (0 when the file does not say:
        a trial function's pause from before checkpoints carried their epoch)."""
        if self._function is None:
            from hpo.engine import Checkpoint

            checkpoint = Checkpoint.from_bytes(data)
            return checkpoint.epoch, checkpoint
        saved = pickle.loads(data)  # pickled by this sweep's own trial function, sent back by its own driver
        return (saved.epoch, saved.state) if isinstance(saved, _Saved) else (0, saved)


@dataclass(frozen=True)
class _Saved:
    """A trial function's checkpoint as it travels: its state and the epoch it was saved after."""

    epoch: int
    state: Any
