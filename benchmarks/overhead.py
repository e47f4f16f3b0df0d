"""Framework cost per trial: a trivial objective (5 reports, no training) through hpo's executor
versus plain Optuna ``study.optimize`` in one process, both on a JournalFile storage, both with
the random sampler (TPE's own cost per ``ask`` grows with the study; that is the sampler's, not
the framework's).

Run: .venv/bin/python benchmarks/overhead.py [--trials 60] [--concurrency 2]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import textwrap
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for tests.cheap


def plain_optuna(trials: int, folder: Path, pruner: str) -> float:
    import optuna

    storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(folder / "plain.journal")))
    chosen = optuna.pruners.MedianPruner() if pruner == "median" else optuna.pruners.NopPruner()
    study = optuna.create_study(storage=storage, pruner=chosen, direction="maximize", sampler=optuna.samplers.RandomSampler(seed=0))

    def objective(trial: optuna.Trial) -> float:
        x = trial.suggest_float("x", 0.0, 1.0)
        for epoch in range(1, 6):
            trial.report(x * epoch, epoch)
            if trial.should_prune():
                raise optuna.TrialPruned()
        return x * 5

    start = time.perf_counter()
    study.optimize(objective, n_trials=trials)
    return time.perf_counter() - start


def hpo_executor(trials: int, concurrency: int, folder: Path, pruner: str) -> tuple[float, float, list[float]]:
    """Total wall time (Ray start, actor start, teardown included), the steady span from the
    first trial's start to the last trial's end, and when each trial ended."""
    from hpo.config import load_sweep
    from hpo.executor import run_sweep

    path = folder / "bench.yaml"
    path.write_text(textwrap.dedent(f"""
        name: bench
        data: {{source: digits}}
        objective: {{metric: val_accuracy, function: "tests.cheap:trivial"}}
        space: {{params: {{x: {{type: float, low: 0.0, high: 1.0}}}}}}
        sampler: {{name: random, seed: 0}}
        pruner: {{name: {pruner}}}
        budget: {{trials: {trials}}}
        resources: {{concurrency: {concurrency}}}
        results_dir: {folder}
    """))
    stamps: list[float] = []
    ends: list[float] = []

    from hpo import executor as ex

    def listener(notice: ex.Notice) -> None:
        ended = isinstance(notice, (ex.TrialComplete, ex.TrialPruned, ex.TrialFailedEnd))
        if ended or isinstance(notice, ex.TrialStarted):
            stamps.append(time.perf_counter())
        if ended:
            ends.append(time.perf_counter())

    start = time.perf_counter()
    run_sweep(load_sweep(path), listener=listener, evaluate=False)
    return time.perf_counter() - start, stamps[-1] - stamps[0], ends


def _per_trial_ms(ends: list[float], first: int, last: int) -> float:
    """Framework time per trial over trials ``first``..``last`` (by end order)."""
    last = min(last, len(ends) - 1)
    return 1000 * (ends[last] - ends[first]) / (last - first)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=60)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--pruner", choices=["median", "none"], default="median")
    args = parser.parse_args()
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        plain = plain_optuna(args.trials, folder, args.pruner)
        executed, steady, ends = hpo_executor(args.trials, args.concurrency, folder, args.pruner)
    print(f"{args.trials} trials, 5 reports each, trivial objective, pruner {args.pruner}")
    print(f"{'setup':<48} {'wall s':>8} {'ms/trial':>9}")
    print(f"{'plain Optuna study.optimize, one process':<48} {plain:>8.2f} {1000 * plain / args.trials:>9.1f}")
    label = f"hpo executor, {args.concurrency} concurrent, whole run"
    print(f"{label:<48} {executed:>8.2f} {1000 * executed / args.trials:>9.1f}")
    label = "hpo executor, first start to last end"
    print(f"{label:<48} {steady:>8.2f} {1000 * steady / args.trials:>9.1f}")
    if args.trials >= 300:
        early = _per_trial_ms(ends, 50, 150)
        late = _per_trial_ms(ends, len(ends) - 101, len(ends) - 1)
        print(f"hpo ms/trial around trial 100: {early:.1f}; over the last 100 trials: {late:.1f} ({late / early:.2f}x)")


if __name__ == "__main__":
    main()
