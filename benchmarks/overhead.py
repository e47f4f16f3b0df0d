"""Framework cost per trial: a trivial objective (5 reports, no training) through hpo's executor
versus plain Optuna ``study.optimize`` in one process, both on a JournalFile storage.

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


def plain_optuna(trials: int, folder: Path) -> float:
    import optuna

    storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(folder / "plain.journal")))
    study = optuna.create_study(storage=storage, pruner=optuna.pruners.MedianPruner(), direction="maximize")

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


def hpo_executor(trials: int, concurrency: int, folder: Path) -> tuple[float, float]:
    """Total wall time (Ray start, actor start, teardown included) and the steady span from the
    first trial's start to the last trial's end."""
    from hpo.config import load_sweep
    from hpo.executor import run_sweep

    path = folder / "bench.yaml"
    path.write_text(textwrap.dedent(f"""
        name: bench
        data: {{source: digits}}
        objective: {{metric: val_accuracy, function: "tests.cheap:trivial"}}
        space: {{params: {{x: {{type: float, low: 0.0, high: 1.0}}}}}}
        pruner: {{name: median}}
        budget: {{trials: {trials}}}
        resources: {{concurrency: {concurrency}}}
        results_dir: {folder}
    """))
    stamps: list[float] = []
    start = time.perf_counter()
    run_sweep(load_sweep(path), listener=lambda e, n, d: stamps.append(time.perf_counter()))
    return time.perf_counter() - start, stamps[-1] - stamps[0]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=60)
    parser.add_argument("--concurrency", type=int, default=2)
    args = parser.parse_args()
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        plain = plain_optuna(args.trials, folder)
        executed, steady = hpo_executor(args.trials, args.concurrency, folder)
    print(f"{args.trials} trials, 5 reports each, trivial objective")
    print(f"{'setup':<48} {'wall s':>8} {'ms/trial':>9}")
    print(f"{'plain Optuna study.optimize, one process':<48} {plain:>8.2f} {1000 * plain / args.trials:>9.1f}")
    label = f"hpo executor, {args.concurrency} concurrent, whole run"
    print(f"{label:<48} {executed:>8.2f} {1000 * executed / args.trials:>9.1f}")
    label = "hpo executor, first start to last end"
    print(f"{label:<48} {steady:>8.2f} {1000 * steady / args.trials:>9.1f}")


if __name__ == "__main__":
    main()
