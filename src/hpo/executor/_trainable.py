"""The function Ray Tune runs in a worker: train one configuration and report every epoch.

Workers only train and report; the driver's scheduler and searcher own every Optuna decision.
Tune reports synchronously: ``tune.report`` returns once the driver has handled the epoch, and a
STOP from the pruner ends the training thread right there. Actors are reused across trials, so
TensorFlow is imported and data loaded once per worker process.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from hpo._constants import FAIL_REASON_KEY

_REUSE_WAIT_ENV = "TUNE_FUNCTION_THREAD_TIMEOUT_S"


def run_trial(
    config: dict[str, Any],
    sweep_config: dict[str, Any],
    gpu_fraction: float,
    trial_function: str | None = None,
) -> None:
    """Tune trainable: ``config`` holds the Optuna trial ``number`` and its ``params``.

    ``trial_function`` (``module:function``, called as ``fn(params, report)``) replaces the Keras
    engine; the tests and the overhead benchmark use it for cheap objectives.
    """
    from ray import tune

    from hpo._errors import TrialFailed

    # When this actor is reused, Tune waits this long for the previous trial's thread (which frees
    # its Keras session) before giving up on the actor; its 2 s default is too short under load.
    os.environ[_REUSE_WAIT_ENV] = os.environ.get(_REUSE_WAIT_ENV, "60")

    number = int(config["number"])

    def report(epoch: int, metrics: dict[str, float]) -> bool:
        tune.report({**metrics, "epoch": epoch, "number": number})
        return False  # stopping is Tune's job: a STOP ends this thread inside tune.report

    try:
        if trial_function is not None:
            from hpo._references import resolve_reference

            resolve_reference(trial_function, "trial function")(dict(config["params"]), report)
            return
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        if gpu_fraction > 0 and "keras" not in sys.modules:
            from hpo.engine._backend import limit_gpu_memory

            limit_gpu_memory(min(gpu_fraction, 1.0))  # before the backend first touches the GPU

        from hpo.config import SweepConfig
        from hpo.engine import train_trial

        train_trial(SweepConfig.model_validate(sweep_config), dict(config["params"]), report)
    except TrialFailed as exc:
        tune.report({FAIL_REASON_KEY: str(exc), "number": number})
