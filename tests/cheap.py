"""Cheap objective functions (no Keras) for executor tests: ``objective.function: tests.cheap:NAME``."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path
from typing import Any

from hpo import TrialContext, TrialResult


def _curve(params: dict[str, Any], epoch: int) -> float:
    """A learning curve whose level depends on x: good x rises to ~1, poor x peaks at epoch 2 and
    then declines (overfits), which every pruner can act on."""
    quality = 1.0 - abs(float(params.get("x", 0.5)) - 0.3)
    if quality > 0.8:
        return quality * (1.0 - 0.5**epoch)
    return quality * (0.75 - 0.05 * max(epoch - 2, 0)) if epoch >= 2 else quality * 0.5


def objective(trial: TrialContext) -> None:
    params = trial.params
    for epoch in range(1, int(params.get("epochs", 6)) + 1):
        time.sleep(float(params.get("sleep", 0.0)))
        trial.report(epoch, {"val_accuracy": _curve(params, epoch), "val_loss": 1 - _curve(params, epoch)})


def recording(trial: TrialContext) -> None:
    """Writes where and when it ran (CUDA_VISIBLE_DEVICES, pid, start/end) to params['log_dir']."""
    params = trial.params
    start = time.time()
    for epoch in range(1, int(params.get("epochs", 3)) + 1):
        time.sleep(float(params.get("sleep", 0.3)))
        trial.report(epoch, {"val_accuracy": _curve(params, epoch)})
    record = {"cuda": os.environ.get("CUDA_VISIBLE_DEVICES"), "pid": os.getpid(), "start": start, "end": time.time()}
    log = Path(params["log_dir"]) / f"{os.getpid()}-{start}.json"
    log.write_text(json.dumps(record))


def wrong_metric(trial: TrialContext) -> None:
    for epoch in range(1, 4):
        trial.report(epoch, {"val_acc": 0.5, "val_loss": 0.5})


def nan_metric(trial: TrialContext) -> None:
    trial.report(1, {"val_accuracy": float("nan")})


def broken(trial: TrialContext) -> None:
    raise RuntimeError("model code is broken")


def trivial(trial: TrialContext) -> None:
    """Five instant reports: measures the framework's own cost per trial."""
    for epoch in range(1, 6):
        trial.report(epoch, {"val_accuracy": float(trial.params.get("x", 0.0)) * epoch})


def killed_once(trial: TrialContext) -> None:
    """The first attempt of each configuration is SIGKILLed mid-epoch; its retry completes."""
    params = trial.params
    marker = Path(params["log_dir"]) / f"attempt-{params['x']:.12f}"
    first = not marker.exists()
    marker.write_text("seen")
    for epoch in range(1, int(params.get("epochs", 6)) + 1):
        if first and epoch == 2:
            time.sleep(0.3)  # mid-epoch: the reports so far have reached the driver, as in a real epoch
            os.kill(os.getpid(), signal.SIGKILL)
        trial.report(epoch, {"val_accuracy": _curve(params, epoch)})


def logs_epochs(trial: TrialContext) -> None:
    """Writes each epoch it begins to params['log_dir']/<trial>.txt, trains it for params['sleep'],
    and writes how long its report took to <trial>.report_s."""
    params = trial.params
    log = Path(params["log_dir"]) / f"{trial.number}.txt"
    for epoch in range(1, int(params.get("epochs", 6)) + 1):
        with log.open("a") as file:
            file.write(f"{epoch}\n")
        time.sleep(float(params.get("sleep", 1.0)))
        start = time.monotonic()
        try:
            trial.report(epoch, {"val_accuracy": _curve(params, epoch)})
        finally:
            with log.with_suffix(".report_s").open("a") as file:
                file.write(f"{time.monotonic() - start}\n")


def slow(trial: TrialContext) -> None:
    """Slow enough that a test can kill or interrupt the driver mid-sweep."""
    params = trial.params
    for epoch in range(1, int(params.get("epochs", 6)) + 1):
        time.sleep(float(params.get("sleep", 1.0)))
        trial.report(epoch, {"val_accuracy": _curve(params, epoch)})


def checkpointing(trial: TrialContext) -> None:
    """Like ``slow``, saving ``{"epoch": e}`` whenever a checkpoint is due and continuing after the
    epoch of the one it is given; appends each epoch it trains (``<trial> <epoch>``) to
    params['log_dir']/epochs, so a test sees what an interruption cost."""
    params = trial.params
    start = trial.checkpoint["epoch"] if trial.checkpoint else 0
    for epoch in range(start + 1, int(params.get("epochs", 6)) + 1):
        time.sleep(float(params.get("sleep", 1.0)))
        with open(Path(params["log_dir"]) / "epochs", "a") as log:
            log.write(f"{trial.number} {epoch}\n")
        trial.report(epoch, {"val_accuracy": _curve(params, epoch)})
        if trial.checkpoint_due:
            trial.save({"epoch": epoch})


def frameworks(trial: TrialContext) -> None:
    """Reports, besides its curve, whether TensorFlow, Keras, JAX or torch is imported in its worker."""
    import sys

    loaded = {f"{name}_loaded": float(name in sys.modules) for name in ("tensorflow", "keras", "jax", "torch")}
    for epoch in range(1, int(trial.params.get("epochs", 6)) + 1):
        trial.report(epoch, {"val_accuracy": _curve(trial.params, epoch), **loaded})


def oom_on_a_share(trial: TrialContext) -> dict[str, float]:
    """Runs out of (pretend) GPU memory on a share of a GPU when x > 0.6, fits on a whole one.
    Writes its GPU, share and start/end to params['log_dir'] like ``recording``."""
    params = trial.params
    start = time.time()
    if float(params["x"]) > 0.6 and trial.gpu_share < 1:
        time.sleep(0.2)
        raise RuntimeError("RESOURCE_EXHAUSTED: OOM when allocating tensor with shape[512,512,64]")
    for epoch in range(1, int(params.get("epochs", 6)) + 1):
        time.sleep(float(params.get("sleep", 0.3)) / 2)
        trial.report(epoch, {"val_accuracy": _curve(params, epoch)})
    record = {"cuda": os.environ.get("CUDA_VISIBLE_DEVICES"), "share": trial.gpu_share, "start": start, "end": time.time()}
    (Path(params["log_dir"]) / f"{os.getpid()}-{start}.json").write_text(json.dumps(record))
    return {"gpu_share": trial.gpu_share}


def two_goals(trial: TrialContext) -> dict[str, float]:
    """Accuracy curves as ``objective`` draws them; the returned ``cost`` grows with x, so no x is
    best at both (a Pareto front)."""
    objective(trial)
    x = float(trial.params["x"])
    return {"val_accuracy": _curve(trial.params, int(trial.params.get("epochs", 6))), "cost": 100 * x * x}


def pausing(trial: TrialContext) -> None:
    """The promotion hooks of a trial function: continue after the epoch in ``trial.checkpoint``,
    pause with ``trial.pause(state)`` once ``trial.pause_after`` is reported."""
    state = trial.checkpoint or {"epoch": 0}
    for epoch in range(state["epoch"] + 1, trial.epochs + 1):
        time.sleep(float(trial.params.get("sleep", 0.0)))
        trial.report(epoch, {"val_accuracy": _curve(trial.params, epoch)})
        if epoch == trial.pause_after:
            trial.pause({"epoch": epoch})


def pausing_held(trial: TrialContext) -> None:
    """``pausing``, except that trials numbered ``hold_from`` or later wait before their first epoch
    until ``log_dir/release`` exists (or they are stopped), each saying so in ``log_dir/held-<n>``:
    a test can then kill the driver with exactly the earlier trials paused and the held ones
    running, whatever the machine's speed."""
    folder = Path(trial.params["log_dir"])
    if trial.number >= int(trial.params["hold_from"]):
        (folder / f"held-{trial.number}").write_text("")
    while trial.number >= int(trial.params["hold_from"]) and not (folder / "release").exists() and not trial.should_stop:
        time.sleep(0.05)
    pausing(trial)



def _lucky(x: float, seed: int) -> float:
    """A level set by ``x`` (best at 0.3) plus a small seed wobble; ``x`` below 0.2 is lucky with
    seed 0 only (+0.2)."""
    return 0.9 - abs(x - 0.3) / 2 + 0.01 * ((seed * 7 + round(x * 10)) % 3 - 1) + (0.2 if x < 0.2 and seed == 0 else 0.0)


def seed_luck(trial: TrialContext) -> None:
    """Reaches ``_lucky(x, seed)`` at epoch 2: x < 0.2's single run with seed 0 is the sweep's best
    while x = 0.3 is the best by mean. Writes pid, seed and start/end of each run to
    ``params['log_dir']`` when given."""
    x, seed, start = float(trial.params["x"]), trial.seed, time.time()
    value = _lucky(x, seed)
    for epoch in (1, 2):
        time.sleep(float(trial.params.get("sleep", 0.0)))
        trial.report(epoch, {"val_accuracy": value * epoch / 2, "val_loss": 1 - value * epoch / 2})
    if trial.params.get("log_dir"):
        record = {"x": x, "seed": seed, "pid": os.getpid(), "start": start, "end": time.time()}
        (Path(trial.params["log_dir"]) / f"{os.getpid()}-{start}.json").write_text(json.dumps(record))


def seed_luck_cost(trial: TrialContext) -> dict[str, float]:
    """``seed_luck`` with a second goal, a ``cost`` that grows with x."""
    seed_luck(trial)
    x = float(trial.params["x"])
    return {"val_accuracy": _lucky(x, trial.seed), "cost": 100 * x * x}


def with_model(trial: TrialContext) -> TrialResult:
    """Final metrics that tell the seed, and a "model" that is no Keras model (scoring it fails)."""
    return TrialResult(metrics={"val_accuracy": 0.5 + trial.seed / 100}, model="not a keras model")


def reports_then_holds(trial: TrialContext) -> None:
    """Reports ``params['reports']`` epochs at once, then trains on (sleeps) until the sweep stops
    it, or (``params['hold']`` false) ends."""
    for epoch in range(1, int(trial.params.get("reports", 0)) + 1):
        trial.report(epoch, {"val_accuracy": _curve(trial.params, epoch)})
    while trial.params.get("hold", True) and not trial.should_stop:
        time.sleep(0.05)
