"""hpo against its peers on the same sweep, side by side in one run.

For a sweep file whose space hpo can sample (the peers ask Optuna through the same space, so every
peer draws from the same distributions) and whose model is a user builder, it runs:

  optuna        plain Optuna: ``study.optimize`` in one process, optuna-integration's
                KerasPruningCallback on Keras ``fit`` (Optuna's documented Keras recipe)
  optuna-par    Optuna's parallel mode: as many processes as hpo's concurrency, each running
                ``study.optimize`` on one JournalFile storage, ``MaxTrialsCallback`` for the budget
  ray-tune      Ray Tune with its stock ``OptunaSearch`` (same sampler and seed) and ``ASHAScheduler``
  hpo           ``hpo run`` (the Python API the CLI runs: the sweep, then exports, best model, report)
  hpo-noprune   the same with ``pruner: none``: what pruning saves (not run unless asked for)
  hpo-asha      the same with ``pruner: asha`` (promotion: trials pause at rungs 1, 3, 9, ... and
                the best continue from checkpoints) and ``--asha-trials`` trials, about the epoch
                budget the stop-only pruner spends (not run unless asked for)

``--code`` says whose code trains, for every peer alike: ``hpo-compiles`` (the sweep as written: a
user builder, compiled by hpo with its optimizer and ``train.steps_per_execution``),
``builder-compiles`` (the builder compiles its own SGD with exponential decay, Keras' defaults
otherwise) or ``function`` (the user's ``objective.function`` trains that compiled model with its
own ``fit`` and a reporting callback; the peers ``fit`` it the same way). hpo-asha needs a trial
that can pause, so it runs with the first two only.

each in a fresh process, for several seeds, and prints a table (median and range over seeds) of
sweep wall time, process wall time, epochs trained, the best validation value, the best trial's
test accuracy (re-trained once, seeded, scored on the held-out split), the time until a reported
validation value first reached the target, and slot utilization; then hpo's time breakdown and
a time-to-target plot.

Run (about 25 minutes on 2 cores):
    .venv/bin/python benchmarks/compare.py --seeds 0 1 2 --plot docs/img/compare_time_to_target.png
User code against Optuna's parallel mode (about 10 minutes each):
    cd benchmarks/compare && ../../.venv/bin/python ../compare.py --peers optuna-par hpo --code function
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
DEFAULT_SWEEP = HERE / "compare" / "digits_cnn9.yaml"
PEERS = ("optuna", "optuna-par", "ray-tune", "hpo", "hpo-noprune", "hpo-asha")
# Whose code trains: hpo compiles the user's builder's model (the sweep as written); the builder
# compiles it itself (``model:build_compiled``, Keras' defaults); or the user's objective function
# (``model:train``: the same compiled model and its own ``fit``). The peers train the same model
# with the same compile in each.
CODES = {
    "hpo-compiles": {},
    "builder-compiles": {"model.builder": "model:build_compiled"},
    "function": {"model.builder": "model:build_compiled", "objective.function": "model:train"},
}


# -- what every peer shares: the sweep's space, data, model and training ------------------------


def _sweep(path: Path, seed: int, trials: int | None, epochs: int | None, code: str = "hpo-compiles") -> Any:
    from hpo.config import load_sweep

    overrides = {"sampler.seed": seed, "train.seed": seed, "budget.trials": trials, "train.epochs": epochs, **CODES[code]}
    return load_sweep(path).with_overrides(**overrides)


def _data(sweep: Any) -> Any:
    from hpo.data import load_dataset, normalize

    fixed = {p.name: p.value for p in sweep.space if p.kind == "fixed"}
    return normalize(load_dataset(sweep.config.data), str(fixed.get("normalization", "none")))


def _model(sweep: Any, params: dict[str, Any], data: Any) -> Any:
    """The sweep's model for a configuration, compiled with its optimizer and schedule unless its
    builder compiled it: the peers train exactly the model hpo trains (Keras `fit` trains it)."""
    import keras

    from hpo.engine import build_model, build_optimizer

    keras.utils.set_random_seed(sweep.config.train.seed)
    model = build_model(sweep.config.model.builder, params, data.input_shape, data.n_classes, seed=sweep.config.train.seed)
    if model.compiled:
        return model
    steps_per_epoch = math.ceil(len(data.y_train) / int(params.get("batch_size", 64)))
    model.compile(optimizer=build_optimizer(params, steps_per_epoch, sweep.config.train.epochs),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


class _Log:
    """Records each trial's start, epochs (time, value) and end, relative to the sweep's start."""

    def __init__(self) -> None:
        self.start = time.perf_counter()
        self.trials: dict[int, dict[str, Any]] = {}

    def now(self) -> float:
        return time.perf_counter() - self.start

    def begin(self, number: int, params: dict[str, Any]) -> None:
        """A trial starts, or (promotion) continues: its time on a worker counts again."""
        now = self.now()
        trial = self.trials.setdefault(number, {"number": number, "params": params, "start": now, "epochs": [], "busy": 0.0})
        trial["since"] = now

    def epoch(self, number: int, epoch: int, value: float) -> None:
        self.trials[number]["epochs"].append((self.now(), epoch, value))

    def end(self, number: int, state: str) -> None:
        """A trial ends, or (promotion) pauses and frees its worker."""
        trial, now = self.trials[number], self.now()
        if trial.get("since") is not None:
            trial["busy"] += now - trial.pop("since")
        trial.update(end=now, state=state)


def _epoch_logger(log: _Log, number: int) -> Any:
    import keras

    class EpochLog(keras.callbacks.Callback):
        def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            log.epoch(number, epoch + 1, float((logs or {})["val_accuracy"]))

    return EpochLog()


def _optuna_objective(sweep: Any, data: Any, log: _Log) -> Any:
    import optuna
    from optuna_integration.keras import KerasPruningCallback

    def objective(trial: optuna.Trial) -> float:
        if trial.number >= sweep.config.budget.trials:
            # Optuna's parallel mode: MaxTrialsCallback checks after a trial ends, so a process that
            # starts late (a loaded machine) can create one past the budget; it trains nothing here
            # and ends the study, so that every peer trains the same number of trials.
            trial.study.stop()
            raise optuna.TrialPruned()
        params = sweep.space.sample(trial)
        log.begin(trial.number, params)
        model = _model(sweep, params, data)
        state = "PRUNED"
        try:
            history = model.fit(
                data.x_train, data.y_train, batch_size=int(params.get("batch_size", 64)), epochs=sweep.config.train.epochs,
                validation_data=(data.x_val, data.y_val), verbose=0,
                callbacks=[_epoch_logger(log, trial.number), KerasPruningCallback(trial, "val_accuracy")],
            )
            state = "COMPLETE"
            return float(history.history["val_accuracy"][-1])
        finally:
            log.end(trial.number, state)

    return objective


def _optuna_study(sweep: Any, storage: Any = None, name: str | None = None) -> Any:
    import optuna

    from hpo.study import make_pruner, make_sampler

    config = sweep.config
    # The same pruner arguments, with warm-up counted from 0 as Keras callbacks count epochs.
    args = dict(config.pruner.args)
    if "n_warmup_steps" in args:
        args["n_warmup_steps"] -= 1
    study = optuna.create_study(
        study_name=name, storage=storage, load_if_exists=True, direction=config.objective.direction,
        sampler=make_sampler(config.sampler.name, config.sampler.args, config.sampler.seed, sweep.space),
        pruner=make_pruner(config.pruner.name, args, config.train.epochs),
    )
    if not study.trials:
        for values in config.enqueue:  # the sweep's warm starts run first, as in hpo
            study.enqueue_trial(values)
    return study


def run_optuna(sweep: Any, data: Any) -> dict[str, Any]:
    log = _Log()
    study = _optuna_study(sweep)
    log.start = time.perf_counter()
    study.optimize(_optuna_objective(sweep, data, log), n_trials=sweep.config.budget.trials)
    return {"sweep_s": log.now(), "trials": list(log.trials.values()), "concurrency": 1}


def _optuna_worker(sweep_path: str, seed: int, trials: int, epochs: int | None, journal: str, start: float, out: str,
                   code: str) -> None:
    """One process of Optuna's parallel mode: load the shared study and optimize until the budget is met."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sweep = _sweep(Path(sweep_path), seed, trials, epochs, code)
    data = _data(sweep)
    storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(journal))
    study = _optuna_study(sweep, storage, "parallel")
    log = _Log()
    log.start = start
    study.optimize(
        _optuna_objective(sweep, data, log),
        callbacks=[optuna.study.MaxTrialsCallback(trials, states=None)],
    )
    Path(out).write_text(json.dumps(list(log.trials.values())))


def run_optuna_parallel(sweep: Any, path: Path, seed: int, epochs: int | None, code: str) -> dict[str, Any]:
    import multiprocessing

    n = sweep.config.resources.concurrency
    with tempfile.TemporaryDirectory() as tmp:
        journal = str(Path(tmp) / "parallel.journal")
        _optuna_study(sweep, __import__("optuna").storages.JournalStorage(__import__("optuna").storages.journal.JournalFileBackend(journal)), "parallel")
        ctx = multiprocessing.get_context("spawn")
        start = time.perf_counter()
        outs = [str(Path(tmp) / f"w{i}.json") for i in range(n)]
        procs = [ctx.Process(target=_optuna_worker, args=(str(path), seed, sweep.config.budget.trials, epochs, journal, start, outs[i], code)) for i in range(n)]
        for p in procs:
            p.start()
        for p in procs:
            p.join()
        sweep_s = time.perf_counter() - start
        trials = [t for out in outs for t in json.loads(Path(out).read_text())]
    return {"sweep_s": sweep_s, "trials": trials, "concurrency": n}


class _DefineByRun:
    """OptunaSearch's define-by-run space: suggests every tunable parameter of the sweep's space
    (fixed ones are added in the trainable). A class, because OptunaSearch pickles it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._space: Any = None

    def __getstate__(self) -> dict[str, Any]:
        return {"path": self.path, "_space": None}

    def __call__(self, trial: Any) -> None:
        if self._space is None:
            from hpo.config import load_sweep

            self._space = load_sweep(self.path).space
        self._space.sample(trial)


def run_ray_tune(sweep: Any, data: Any) -> dict[str, Any]:
    import ray
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler
    from ray.tune.search.optuna import OptunaSearch

    from hpo.study import make_sampler

    config = sweep.config
    space = sweep.space
    fixed = {p.name: p.value for p in space if p.kind == "fixed"}

    def trainable(params: dict[str, Any]) -> None:
        import keras

        params = {**fixed, **params}
        model = _model(sweep, params, data)

        class Report(keras.callbacks.Callback):
            def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
                tune.report({"val_accuracy": float(logs["val_accuracy"]), "epoch": epoch + 1, "wall": time.time()})

        model.fit(data.x_train, data.y_train, batch_size=int(params.get("batch_size", 64)), epochs=config.train.epochs,
                  validation_data=(data.x_val, data.y_val), verbose=0, callbacks=[Report()])

    sampler = make_sampler(config.sampler.name, config.sampler.args, config.sampler.seed, space)
    search = OptunaSearch(_DefineByRun(sweep.path), metric="val_accuracy", mode="max", sampler=sampler,
                          points_to_evaluate=[dict(values) for values in config.enqueue] or None)
    # ASHA with the pruner's grace period (epochs before stopping) and halving rate.
    scheduler = ASHAScheduler(metric="val_accuracy", mode="max", max_t=config.train.epochs, grace_period=min(4, config.train.epochs), reduction_factor=2)
    # Tune would start Ray itself with `ray.init()`, which joins a cluster `ray start` left on this
    # machine; the peers are compared on a fresh local Ray each.
    ray.init(address="local")
    with tempfile.TemporaryDirectory() as tmp:
        tuner = tune.Tuner(
            tune.with_resources(trainable, {"cpu": config.resources.cpus_per_trial}),
            tune_config=tune.TuneConfig(search_alg=search, scheduler=scheduler, num_samples=config.budget.trials,
                                        max_concurrent_trials=config.resources.concurrency),
            run_config=tune.RunConfig(storage_path=tmp, verbose=0),
        )
        start_wall, start = time.time(), time.perf_counter()
        results = tuner.fit()
        sweep_s = time.perf_counter() - start
    trials = []
    for i, result in enumerate(results):
        frame = result.metrics_dataframe
        if frame is None or frame.empty:
            continue
        epochs = [(float(r.wall - start_wall), int(r.epoch), float(r.val_accuracy)) for r in frame.itertuples()]
        first = epochs[0][0] - (epochs[1][0] - epochs[0][0] if len(epochs) > 1 else 0)
        params = {k[len("config/"):]: getattr(v, "item", lambda v=v: v)() for k, v in frame.iloc[0].items() if str(k).startswith("config/")}
        trials.append({"number": i, "params": {**fixed, **params}, "start": max(first, 0.0), "end": epochs[-1][0], "epochs": epochs,
                       "state": "COMPLETE" if epochs[-1][1] == config.train.epochs else "STOPPED"})
    return {"sweep_s": sweep_s, "trials": trials, "concurrency": config.resources.concurrency}


def run_hpo(sweep: Any) -> dict[str, Any]:
    import resource

    from hpo import executor as ex
    from hpo.executor import run_sweep
    from hpo.results import finalize

    log = _Log()
    running: dict[int, dict[str, Any]] = {}
    ends = {ex.TrialComplete: "COMPLETE", ex.TrialPruned: "PRUNED", ex.TrialFailedEnd: "FAILED", ex.TrialInterrupted: "FAILED"}

    def listener(notice: ex.Notice) -> None:
        if isinstance(notice, (ex.TrialStarted, ex.TrialContinued)):
            log.begin(notice.number, notice.params)
        elif isinstance(notice, ex.TrialPaused):
            log.end(notice.number, "PAUSED")
        elif isinstance(notice, ex.EpochReported):
            log.epoch(notice.number, notice.epoch, notice.value)
        elif type(notice) in ends:
            log.end(notice.number, ends[type(notice)])

    cpu_before = resource.getrusage(resource.RUSAGE_SELF)
    log.start = time.perf_counter()
    outcome = run_sweep(sweep, listener=listener, new_study=True)
    cpu = resource.getrusage(resource.RUSAGE_SELF)
    post = time.perf_counter()
    finalize(sweep, outcome.study, outcome.final)
    del running
    return {
        "sweep_s": outcome.wall_s, "trials": list(log.trials.values()), "concurrency": sweep.config.resources.concurrency,
        "breakdown": {**outcome.timings, "driver_cpu_s": (cpu.ru_utime + cpu.ru_stime) - (cpu_before.ru_utime + cpu_before.ru_stime),
                      "retrain_best_s": outcome.final_s, "exports_and_report_s": time.perf_counter() - post},
    }


def child(peer: str, path: Path, seed: int, trials: int | None, epochs: int | None, results_dir: str, asha_trials: int | None = None,
          code: str = "hpo-compiles") -> dict[str, Any]:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sweep = _sweep(path, seed, trials, epochs, code).with_overrides(results_dir=results_dir)
    if peer == "hpo":
        return run_hpo(sweep)
    if peer == "hpo-noprune":
        return run_hpo(sweep.with_overrides(**{"pruner.name": "none", "pruner.args": {}}))
    if peer == "hpo-asha":
        budget = asha_trials or 3 * sweep.config.budget.trials
        eta = 3 if sweep.config.train.epochs >= 3 else 2  # tiny runs: a second rung still fits
        return run_hpo(sweep.with_overrides(**{"pruner.name": "asha", "pruner.args": {"min_epochs": 1, "reduction_factor": eta}, "budget.trials": budget}))
    if peer == "optuna-par":
        return run_optuna_parallel(sweep, path, seed, epochs, code)
    data = _data(sweep)
    return run_optuna(sweep, data) if peer == "optuna" else run_ray_tune(sweep, data)


# -- the parent: run every peer and seed, score the best trials, print -------------------------


def _test_accuracy(path: Path, seed: int, epochs: int | None, params: dict[str, Any], code: str) -> float:
    """The best configuration re-trained once (seeded) and scored on the test split."""
    import numpy as np

    sweep = _sweep(path, seed, None, epochs, code)
    data = _data(sweep)
    model = _model(sweep, params, data)
    model.fit(data.x_train, data.y_train, batch_size=int(params.get("batch_size", 64)), epochs=sweep.config.train.epochs, verbose=0)
    return float(np.mean(np.argmax(model.predict(data.x_test, verbose=0), axis=1) == data.y_test))


def _busy(trials: list[dict[str, Any]]) -> float:
    """Slot-seconds inside the trials that ended (a trial logged without "busy": start to end)."""
    return sum(trial.get("busy", trial.get("end", 0) - trial["start"]) for trial in trials if "end" in trial)


def _slot_shares(runs: list[dict[str, Any]]) -> dict[str, float]:
    """Where hpo's slot time went: inside trials (from launch to end, the worker's start included),
    before the first launch (Ray's start, the study and the data), held back by the sampler's
    start-up phase, idle at the end (nothing left to start while the last trials ran), a pruned
    trial's worker finishing the steps it had begun before the stop reached it, and the rest
    (the driver's loop between one trial's end and the next launch, storage)."""
    shares: dict[str, list[float]] = {}
    for run in runs:
        total = run["concurrency"] * run["sweep_s"]
        parts = {
            "inside trials": _busy(run["trials"]),
            "start-up (before the first launch)": run["concurrency"] * min(t["start"] for t in run["trials"]),
            "held for the sampler's start-up trials": run["breakdown"]["held_slot_s"],
            "idle at the end (budget spent)": run["breakdown"]["drained_slot_s"],
            "pruned trials' workers stopping": run["breakdown"]["stopping_slot_s"],
        }
        parts["the rest (loop, storage)"] = total - sum(parts.values())
        for key, value in parts.items():
            shares.setdefault(key, []).append(value / total)
    return {key: statistics.median(values) for key, values in shares.items()}


def summarize(run: dict[str, Any], target: float, epochs: int) -> dict[str, Any]:
    trials = run["trials"]
    reported = [(t, e, v) for trial in trials for (t, e, v) in trial["epochs"]]
    hits = [t for t, _, v in reported if v >= target]
    complete = [trial for trial in trials if trial["epochs"] and trial["epochs"][-1][1] == epochs]
    best = max(complete or trials, key=lambda trial: trial["epochs"][-1][2] if trial["epochs"] else -1)
    busy = _busy(trials)
    return {
        "sweep_s": run["sweep_s"],
        "epochs": len(reported),
        "best_val": best["epochs"][-1][2] if best["epochs"] else math.nan,
        "best_params": best["params"],
        "to_target_s": min(hits) if hits else math.inf,
        "utilization": busy / (run["concurrency"] * run["sweep_s"]) if run["sweep_s"] else 0.0,
        # a trial's time (start to end, with its model build and validation) per epoch it trained:
        # the cost of an epoch inside each peer, at its own concurrency
        "slot_s_per_epoch": busy / len(reported) if reported else math.nan,
    }


def _cell(values: list[float], fmt: str) -> str:
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return "never"
    median = statistics.median(finite)
    spread = f" ({format(min(finite), fmt)}–{format(max(finite), fmt)})" if len(finite) > 1 else ""
    missed = f", {len(values) - len(finite)}× never" if len(finite) < len(values) else ""
    return f"{format(median, fmt)}{spread}{missed}"


def plot(results: dict[str, list[dict[str, Any]]], target: float, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.5))
    for peer, runs in results.items():
        run = runs[0]
        points = sorted((t, v) for trial in run["trials"] for (t, _, v) in trial["epochs"])
        best, xs, ys = -1.0, [], []
        for t, v in points:
            best = max(best, v)
            xs.append(t)
            ys.append(best)
        ax.step(xs, ys, where="post", label=peer)
    ax.axhline(target, color="grey", linestyle=":", label=f"target {target}")
    ax.set(xlabel="seconds since the sweep started", ylabel="best validation accuracy so far", ylim=(0.8, 1.0), title="time to target (first seed)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sweep", type=Path, default=DEFAULT_SWEEP)
    parser.add_argument("--peers", nargs="+", choices=PEERS, default=list(PEERS[:4]))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--trials", type=int, default=None, help="override the sweep's budget (tiny runs)")
    parser.add_argument("--epochs", type=int, default=None, help="override the sweep's epochs (tiny runs)")
    parser.add_argument("--target", type=float, default=0.975)
    parser.add_argument("--code", choices=list(CODES), default="hpo-compiles",
                        help="who compiles and trains: hpo (the sweep as written), the user's builder, or the user's function")
    parser.add_argument("--asha-trials", type=int, default=None, help="hpo-asha's trial budget (default: 3x the sweep's)")
    parser.add_argument("--plot", type=Path, default=None)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--child", choices=PEERS, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        with tempfile.TemporaryDirectory() as tmp:
            result = child(args.child, args.sweep, args.seeds[0], args.trials, args.epochs, tmp, args.asha_trials, args.code)
            args.out.write_text(json.dumps(result, default=str))
        return {}
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE / "compare"), str(HERE.parent), os.environ.get("PYTHONPATH", "")])}
    results: dict[str, list[dict[str, Any]]] = {peer: [] for peer in args.peers}
    for seed in args.seeds:
        for peer in args.peers:
            with tempfile.TemporaryDirectory() as tmp:
                out = Path(tmp) / "run.json"
                command = [sys.executable, __file__, "--child", peer, "--sweep", str(args.sweep), "--seeds", str(seed), "--out", str(out),
                           "--code", args.code]
                command += [f"--{k}={v}" for k, v in (("trials", args.trials), ("epochs", args.epochs), ("asha-trials", args.asha_trials)) if v is not None]
                start = time.perf_counter()
                subprocess.run(command, check=True, env=env, cwd=HERE / "compare", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                run = json.loads(out.read_text())
            run["process_s"] = time.perf_counter() - start
            run["seed"] = seed
            results[peer].append(run)
            print(f"seed {seed} {peer:<10} sweep {run['sweep_s']:6.1f} s, process {run['process_s']:6.1f} s", flush=True)
    epochs = args.epochs or _sweep(args.sweep, 0, None, None).config.train.epochs
    rows = {}
    for peer, runs in results.items():
        summaries = [summarize(run, args.target, epochs) for run in runs]
        tests = [_test_accuracy(args.sweep, run["seed"], args.epochs, s["best_params"], args.code) for run, s in zip(runs, summaries)]
        rows[peer] = {
            "sweep wall s": _cell([s["sweep_s"] for s in summaries], ".0f"),
            "process wall s": _cell([r["process_s"] for r in runs], ".0f"),
            "epochs trained": _cell([s["epochs"] for s in summaries], ".0f"),
            "best val acc": _cell([s["best_val"] for s in summaries], ".3f"),
            "best trial test acc": _cell(tests, ".3f"),
            f"first ≥ {args.target} after s": _cell([s["to_target_s"] for s in summaries], ".1f"),
            "slot utilization": _cell([100 * s["utilization"] for s in summaries], ".0f") + "%",
            "trial s per epoch": _cell([s["slot_s_per_epoch"] for s in summaries], ".2f"),
        }
    columns = list(next(iter(rows.values())))
    print(f"\n{len(args.seeds)} seeds; median (min–max); code: {args.code}\n")
    print("| peer | " + " | ".join(columns) + " |")
    print("|---|" + "---|" * len(columns))
    for peer, row in rows.items():
        print(f"| {peer} | " + " | ".join(row[c] for c in columns) + " |")
    if "hpo" in results:
        print("\nhpo's time, median over seeds (s):")
        keys = results["hpo"][0]["breakdown"].keys()
        for key in keys:
            print(f"  {key:<28} {statistics.median(run['breakdown'][key] for run in results['hpo']):8.2f}")
    if "hpo" in results:
        print("\nhpo's slot time (concurrency x sweep wall), median over seeds:")
        for key, share in _slot_shares(results["hpo"]).items():
            print(f"  {key:<44} {100 * share:5.1f}%")
    if "hpo" in results and "hpo-noprune" in results:
        pruned, full = ([summarize(run, args.target, epochs) for run in results[p]] for p in ("hpo", "hpo-noprune"))
        saved = statistics.median(1 - a["epochs"] / b["epochs"] for a, b in zip(pruned, full))
        wall = statistics.median(1 - a["sweep_s"] / b["sweep_s"] for a, b in zip(pruned, full))
        print(f"\npruning saved {100 * saved:.0f}% of the epochs and {100 * wall:.0f}% of the sweep's wall time (median over seeds)")
    if args.plot:
        plot(results, args.target, args.plot)
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "runs": results}, indent=1, default=str))
    return {"rows": rows, "runs": results}


if __name__ == "__main__":
    main()
