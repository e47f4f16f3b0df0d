"""Throughput at many slots: trials that only sleep, so that everything above the floor is the
framework's own cost (issue 27).

Workload: N trials of a trial function that sleeps ``--sleep`` seconds per epoch and reports each
of ``--reports`` epochs, no pruner, with the random sampler and with TPE (seed 0), K slots at once.
The floor is N x reports x sleep / K. Compared, each side by side in one run:

- hpo: ``hpo.run`` in this process (the driver), K slots of 2/K CPUs each, the default journal;
- hpo-shared: the same with ``resources.trials_per_worker: --per-worker`` (K slots in K / that
  worker processes, each trial a thread of its worker);
- Optuna's parallel mode: K processes, each ``study.optimize`` with ``MaxTrialsCallback`` on one
  ``JournalFileBackend``, and on one PostgreSQL database (a throwaway server, or ``--postgres``);
- Ray Tune with its stock ``OptunaSearch`` at K = ``--tune-slots``.

Printed per row: trials/s (first trial's start to last trial's end, from the study), the overhead
over the floor, the whole run; for hpo also the driver's CPU seconds and where each trial's driver
time goes (ask, tell, report writes, attribute writes, answers to reports, the rest of the event
handling), and, at the largest K, the memory of each worker process.

Run: .venv/bin/python benchmarks/throughput.py [--slots 16 32 64] [--trials 480] [--samplers random tpe]
     [--peers hpo hpo-shared optuna-journal optuna-postgres ray-tune] [--per-worker 8]
"""

from __future__ import annotations

import argparse
import collections
import multiprocessing
import resource
import statistics
import sys
import tempfile
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]


def _timed(study: Any) -> list[Any]:
    """The study's finished trials that have a start and an end time."""
    return [t for t in study.get_trials(deepcopy=False) if t.datetime_complete is not None and t.datetime_start]


def _span(done: list[Any]) -> tuple[float, int]:
    """Seconds from the first trial's start to the last trial's end, and the finished trials."""
    first = min(t.datetime_start for t in done)
    last = max(t.datetime_complete for t in done)
    return (last - first).total_seconds(), len(done)


def _idle(done: list[Any], slots: int) -> dict[str, float]:
    """Slot-seconds with no trial between the first start and the last end of the trials ``done``,
    split where they fall: before all ``slots`` first run at once (the ramp: workers and trials
    starting), after the last trial started (the tail: slots whose next trial would be past the
    budget), and between."""
    events = sorted([(t.datetime_start, 1) for t in done] + [(t.datetime_complete, -1) for t in done])
    first, last_start = events[0][0], max(t.datetime_start for t in done)
    idle = {"ramp": 0.0, "between": 0.0, "tail": 0.0}
    running, full, previous = 0, False, first
    for when, step in events:
        part = "tail" if previous >= last_start else ("between" if full else "ramp")
        idle[part] += (slots - running) * (when - previous).total_seconds()
        running += step
        full = full or running >= slots
        previous = when
    return idle


def _measured(study: Any, slots: int) -> tuple[float, int, dict[str, float]]:
    """From the study a run left: its span (first start to last end), its finished trials, and the
    slot-seconds without a trial (``_idle``)."""
    timed = _timed(study)
    span, done = _span(timed)
    return span, done, _idle(timed, slots)


def _sampler(name: str) -> Any:
    import optuna

    return optuna.samplers.TPESampler(seed=0) if name == "tpe" else optuna.samplers.RandomSampler(seed=0)


# -- hpo ----------------------------------------------------------------------------------------


class _Timer:
    """Seconds and calls spent in wrapped functions of the driver process, by label."""

    def __init__(self) -> None:
        self.spent: dict[str, float] = collections.defaultdict(float)
        self.calls: collections.Counter[str] = collections.Counter()
        self._undo: list[Callable[[], None]] = []

    def wrap(self, owner: Any, name: str, label: str) -> None:
        original = getattr(owner, name)

        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                self.spent[label] += time.perf_counter() - start
                self.calls[label] += 1

        setattr(owner, name, timed)
        self._undo.append(lambda: setattr(owner, name, original))

    def undo(self) -> None:
        for undo in reversed(self._undo):
            undo()


@contextmanager
def _driver_timer() -> Iterator[_Timer]:
    import optuna

    from hpo.executor._ray import RayPool

    timer = _Timer()
    storage = optuna.storages.JournalStorage
    timer.wrap(optuna.Study, "ask", "ask")
    timer.wrap(storage, "set_trial_state_values", "tell")
    timer.wrap(storage, "set_trial_intermediate_value", "report writes")
    timer.wrap(storage, "set_trial_user_attr", "attribute writes")
    timer.wrap(storage, "set_trial_system_attr", "attribute writes")
    timer.wrap(RayPool, "hear", "answers to reports")
    try:
        yield timer
    finally:
        timer.undo()


def _proc_memory(pid: str) -> tuple[float, float]:
    """RSS and private memory (MB) of a process, from /proc (Linux)."""
    private = rss = 0.0
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        key, _, value = line.partition(":")
        if key == "Rss":
            rss = float(value.split()[0]) / 1024
        elif key in ("Private_Clean", "Private_Dirty"):
            private += float(value.split()[0]) / 1024
    return rss, private


def _worker_memory(stop: threading.Event, seen: dict[str, tuple[float, float]]) -> None:
    """The largest RSS and private memory (MB) of each Ray worker process running hpo's trial worker."""
    while not stop.wait(5.0):  # seldom: reading 64 processes' page tables costs CPU the sweep needs
        for folder in Path("/proc").iterdir():
            if not folder.name.isdigit():
                continue
            try:
                if b"_PlacedWorker" not in (folder / "cmdline").read_bytes():
                    continue
                rss, private = _proc_memory(folder.name)
            except OSError:
                continue
            old = seen.get(folder.name, (0.0, 0.0))
            seen[folder.name] = (max(old[0], rss), max(old[1], private))


def run_hpo(
    slots: int, sampler: str, args: argparse.Namespace, folder: Path, memory: bool, per_worker: int = 1
) -> dict[str, Any]:
    import hpo

    path = folder / f"hpo-{slots}-{sampler}-{per_worker}.yaml"
    path.write_text(textwrap.dedent(f"""
        name: throughput
        data: {{source: synthetic, options: {{samples: 200, features: 4, classes: 2}}}}
        objective: {{metric: val_accuracy, function: "tests.cheap:objective"}}
        space: {{params: {{x: {{type: float, low: 0.0, high: 1.0}}, epochs: {args.reports}, sleep: {args.sleep}}}}}
        sampler: {{name: {sampler}, seed: 0}}
        pruner: {{name: none}}
        budget: {{trials: {args.trials}}}
        resources: {{concurrency: {slots}, cpus_per_trial: {2 / slots}, trials_per_worker: {per_worker}}}
        results_dir: {folder / f"results-{slots}-{sampler}-{per_worker}"}
    """))
    seen: dict[str, tuple[float, float]] = {}
    stop = threading.Event()
    watcher = threading.Thread(target=_worker_memory, args=(stop, seen), daemon=True)
    if memory:
        watcher.start()
    cpu = resource.getrusage(resource.RUSAGE_SELF)
    start = time.perf_counter()
    with _driver_timer() as timer:
        result = hpo.run(path, progress=False)
    whole = time.perf_counter() - start
    used = resource.getrusage(resource.RUSAGE_SELF)
    stop.set()
    outcome = result.outcome
    assert outcome is not None
    span, done, idle = _measured(result.study, slots)
    per_trial = {label: 1000 * spent / done for label, spent in timer.spent.items()}
    timings = outcome.timings
    handled = 1000 * timings["handling_s"] / done
    inside = sum(per_trial.get(label, 0.0) for label in ("tell", "report writes", "answers to reports"))
    row = {
        "peer": "hpo" if per_worker == 1 else f"hpo-shared ({per_worker} per worker)",
        "slots": slots,
        "sampler": sampler,
        "span_s": span,
        "trials": done,
        "whole_s": whole,
        "idle_slot_s": idle,
        "driver_cpu_s": used.ru_utime + used.ru_stime - cpu.ru_utime - cpu.ru_stime,
        "ms_per_trial": {**per_trial, "event handling (rest)": max(handled - inside, 0.0)},
        "loop_s": {k: timings[k] for k in ("asking_s", "handling_s", "waiting_s")},
    }
    if seen:
        rss = [r for r, _ in seen.values()]
        uss = [u for _, u in seen.values()]
        row["workers"] = {"count": len(seen), "rss_mb": statistics.median(rss), "private_mb": statistics.median(uss)}
    return row


# -- Optuna's parallel mode -----------------------------------------------------------------------


def _optuna_process(url: str, trials: int, reports: int, sleep: float, sampler: str) -> None:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if url.endswith(".journal"):
        storage: Any = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(url))
    else:
        storage = url
    study = optuna.load_study(
        study_name="throughput", storage=storage, sampler=_sampler(sampler), pruner=optuna.pruners.NopPruner()
    )

    def objective(trial: optuna.Trial) -> float:
        x = trial.suggest_float("x", 0.0, 1.0)
        for epoch in range(1, reports + 1):
            time.sleep(sleep)
            trial.report(x * epoch, epoch)
            if trial.should_prune():
                raise optuna.TrialPruned()
        return x * reports

    study.optimize(objective, callbacks=[optuna.study.MaxTrialsCallback(trials, states=None)])


def run_optuna(slots: int, sampler: str, args: argparse.Namespace, url: str, peer: str) -> dict[str, Any]:
    import optuna

    storage: Any = (
        optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(url)) if url.endswith(".journal") else url
    )
    study = optuna.create_study(study_name="throughput", storage=storage, direction="maximize",
                                pruner=optuna.pruners.NopPruner())
    context = multiprocessing.get_context("spawn")
    start = time.perf_counter()
    processes = [
        context.Process(target=_optuna_process, args=(url, args.trials, args.reports, args.sleep, sampler))
        for _ in range(slots)
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join()
    whole = time.perf_counter() - start
    span, done, idle = _measured(study, slots)
    optuna.delete_study(study_name="throughput", storage=storage)
    return {"peer": peer, "slots": slots, "sampler": sampler, "span_s": span, "trials": done, "whole_s": whole,
            "idle_slot_s": idle}


# -- Ray Tune -------------------------------------------------------------------------------------


def run_ray_tune(slots: int, sampler: str, args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    import ray
    from ray import tune
    from ray.tune.search.optuna import OptunaSearch

    reports, sleep = args.reports, args.sleep

    def trainable(config: dict[str, Any]) -> None:
        for epoch in range(1, reports + 1):
            time.sleep(sleep)
            tune.report({"value": config["x"] * epoch, "epoch": epoch, "wall": time.time()})

    ray.init(address="local", include_dashboard=False, log_to_driver=False)
    search = OptunaSearch({"x": tune.uniform(0.0, 1.0)}, metric="value", mode="max", sampler=_sampler(sampler))
    tuner = tune.Tuner(
        tune.with_resources(trainable, {"cpu": 2 / slots}),
        tune_config=tune.TuneConfig(search_alg=search, num_samples=args.trials, max_concurrent_trials=slots),
        run_config=tune.RunConfig(storage_path=str(folder / "tune"), verbose=0),
    )
    start = time.perf_counter()
    results = tuner.fit()
    whole = time.perf_counter() - start
    ray.shutdown()
    walls = [
        (float(frame.wall.min()) - sleep, float(frame.wall.max()))
        for result in results
        if (frame := result.metrics_dataframe) is not None and not frame.empty
    ]
    span = max(end for _, end in walls) - min(begin for begin, _ in walls)
    return {"peer": "ray-tune", "slots": slots, "sampler": sampler, "span_s": span, "trials": len(walls), "whole_s": whole}


# -- the tables ---------------------------------------------------------------------------------


def _print(rows: list[dict[str, Any]], args: argparse.Namespace) -> None:
    print(f"{args.trials} trials x {args.reports} reports, {args.sleep:g} s sleep per epoch, no pruner; floor = "
          "trials x reports x sleep / slots")
    print()
    print("| peer | sampler | slots | floor s | first start -> last end s | trials/s | over the floor | whole run s | "
          "driver CPU s |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        floor = r["trials"] * args.reports * args.sleep / r["slots"]
        cpu = f"{r['driver_cpu_s']:.1f}" if "driver_cpu_s" in r else ""
        print(f"| {r['peer']} | {r['sampler']} | {r['slots']} | {floor:.1f} | {r['span_s']:.1f} | "
              f"{r['trials'] / r['span_s']:.1f} | {100 * (r['span_s'] / floor - 1):+.0f}% | {r['whole_s']:.1f} | {cpu} |")
    counted = [r for r in rows if "idle_slot_s" in r]
    if counted:
        print()
        print("where the time over the floor goes: slot-seconds without a trial between the first start and "
              "the last end, divided by the slots (seconds of the span)")
        print()
        print("| peer | sampler | slots | over the floor s | ramp (until all slots first run) | between | "
              "tail (after the last start) | in the trials, over their sleeps |")
        print("|---|---|---|---|---|---|---|---|")
        for r in counted:
            idle, k = r["idle_slot_s"], r["slots"]
            over = r["span_s"] - r["trials"] * args.reports * args.sleep / k
            inside = over - sum(idle.values()) / k  # a trial's time from its start to its end, past its sleeps
            print(f"| {r['peer']} | {r['sampler']} | {k} | {over:.2f} | {idle['ramp'] / k:.2f} | "
                  f"{idle['between'] / k:.2f} | {idle['tail'] / k:.2f} | {inside:.2f} |")
    mine = [r for r in rows if r["peer"].startswith("hpo")]
    if not mine:
        return
    labels = sorted({label for r in mine for label in r["ms_per_trial"]})
    print()
    print("hpo's driver, ms per trial (wall time in the driver's loop thread):")
    print()
    print("| peer | sampler | slots | " + " | ".join(labels) + " | loop: asking s | handling s | waiting s |")
    print("|---|---|---|" + "---|" * len(labels) + "---|---|---|")
    for r in mine:
        cells = " | ".join(f"{r['ms_per_trial'].get(label, 0.0):.2f}" for label in labels)
        loop = r["loop_s"]
        print(f"| {r['peer']} | {r['sampler']} | {r['slots']} | {cells} | {loop['asking_s']:.1f} | "
              f"{loop['handling_s']:.1f} | {loop['waiting_s']:.1f} |")
    for r in mine:
        if "workers" in r:
            w = r["workers"]
            print()
            print(f"memory per worker process, {r['peer']} at {r['slots']} slots ({r['sampler']}): "
                  f"{w['count']} workers, median RSS {w['rss_mb']:.0f} MB, "
                  f"median private memory (its own pages) {w['private_mb']:.0f} MB")


@contextmanager
def _postgres(url: str | None) -> Iterator[str | None]:
    if url:
        yield url
        return
    try:
        from tests._postgres import PostgresServer

        server = PostgresServer()
    except BaseException as exc:  # pytest.skip when the server binaries are missing
        print(f"(no PostgreSQL: {exc}; the optuna-postgres rows are left out)")
        yield None
        return
    try:
        yield server.url
    finally:
        server.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slots", nargs="+", type=int, default=[16, 32, 64])
    parser.add_argument("--trials", type=int, default=480)
    parser.add_argument("--reports", type=int, default=5)
    parser.add_argument("--sleep", type=float, default=0.2)
    parser.add_argument("--samplers", nargs="+", default=["random", "tpe"])
    parser.add_argument(
        "--peers", nargs="+", default=["hpo", "hpo-shared", "optuna-journal", "optuna-postgres", "ray-tune"]
    )
    parser.add_argument("--per-worker", type=int, default=8, help="hpo-shared's resources.trials_per_worker")
    parser.add_argument("--tune-slots", type=int, default=16)
    parser.add_argument("--postgres", help="a PostgreSQL URL for the optuna-postgres rows (default: a throwaway server)")
    args = parser.parse_args()
    import hpo

    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp, _postgres(
        args.postgres if "optuna-postgres" in args.peers else "unused"
    ) as pg:
        folder = Path(tmp)
        for sampler in args.samplers:
            for slots in args.slots:
                if "hpo" in args.peers:
                    rows.append(run_hpo(slots, sampler, args, folder, memory=slots == max(args.slots)))
                if "hpo-shared" in args.peers:
                    memory = slots == max(args.slots)
                    per_worker = min(args.per_worker, slots)
                    rows.append(run_hpo(slots, sampler, args, folder, memory, per_worker=per_worker))
                if "optuna-journal" in args.peers:
                    journal = str(folder / f"optuna-{slots}-{sampler}.journal")
                    rows.append(run_optuna(slots, sampler, args, journal, "optuna-journal"))
                if "optuna-postgres" in args.peers and pg:
                    rows.append(run_optuna(slots, sampler, args, pg, "optuna-postgres"))
            hpo.stop_ray()
            if "ray-tune" in args.peers:
                rows.append(run_ray_tune(args.tune_slots, sampler, args, folder))
    _print(rows, args)


if __name__ == "__main__":
    main()
