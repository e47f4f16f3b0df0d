"""Read commands on a big study: `hpo status`, `best` and `export` on a study of N trials (each
with 12 intermediate values, like the default sweep's), timed as a user runs them.

Run: .venv/bin/python benchmarks/big_study.py [--trials 10000]
"""

from __future__ import annotations

import argparse
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SWEEP = """
name: big
data: {source: digits}
train: {epochs: 12}
space: {params: {dropout: {type: float, low: 0.0, high: 1.0}, batch_size: {type: int, low: 1, high: 64}}}
budget: {trials: %d}
results_dir: %s
"""


class _MemoryJournal:
    """An Optuna journal backend in memory: the study is written record by record as a sweep would
    write it, then the records go to the journal file in one append (instead of 170,000 locked ones)."""

    def __init__(self) -> None:
        self.logs: list[dict] = []

    def read_logs(self, log_number_from: int):
        return iter(self.logs[log_number_from:])

    def append_logs(self, logs: list[dict]) -> None:
        self.logs.extend(logs)


def make_study(folder: Path, trials: int) -> Path:
    """A journal of ``trials`` finished trials with the records an hpo sweep writes for each: ask,
    parameters, run and placement attributes, one report per epoch, epochs and metrics, tell."""
    import optuna

    from hpo.config import load_sweep
    from hpo.study import open_study

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    path = folder / "big.yaml"
    path.write_text(SWEEP % (trials, folder / "results"))
    sweep = load_sweep(path)
    memory = _MemoryJournal()
    study = open_study(sweep, storage=optuna.storages.JournalStorage(memory))
    study.sampler = optuna.samplers.RandomSampler(seed=0)
    rng = random.Random(0)
    for number in range(trials):
        trial = study.ask()
        trial.set_user_attr("hpo:run", "bench")
        params = sweep.space.sample(trial)
        trial.set_user_attr("hpo:placement", {"host": "h", "pid": 1, "node": "n", "gpus": []})
        epochs = 12 if number % 2 else rng.randint(2, 5)
        for epoch in range(1, epochs + 1):
            trial.report(params["dropout"] * epoch / 12, epoch)
        trial.set_user_attr("hpo:epochs", epochs)
        trial.set_user_attr("hpo:val_metrics", {"val_accuracy": params["dropout"], "val_loss": 1 - params["dropout"]})
        if epochs == 12:
            study.tell(trial, params["dropout"])
        else:
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
    journal = folder / "results" / "big" / "study.journal"
    journal.parent.mkdir(parents=True, exist_ok=True)
    optuna.storages.journal.JournalFileBackend(str(journal)).append_logs(memory.logs)
    _as_a_running_driver_leaves_it(journal, study.study_name)
    return path


def _as_a_running_driver_leaves_it(journal: Path, name: str) -> None:
    """Optuna hands hpo's journal a snapshot every 100 trials a driver creates: a live study has
    one at most 99 trials old. Create trials (failed ones) up to the next hundred."""
    import optuna

    from hpo.storage import open_storage

    study = optuna.load_study(study_name=name, storage=open_storage(str(journal), append=True))
    while True:
        trial = study.ask()
        study.tell(trial, state=optuna.trial.TrialState.FAIL)
        if trial._trial_id % 100 == 0:
            return


def finish(path: Path) -> None:
    """What the end of `hpo run` leaves: the exports, whose table read commands reuse."""
    from hpo.config import load_sweep
    from hpo.results import write_exports
    from hpo.study import load_existing_study

    sweep = load_sweep(path)
    write_exports(sweep, load_existing_study(sweep))


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=10_000)
    args = parser.parse_args(argv)
    hpo = str(Path(sys.executable).parent / "hpo")
    timings = {}
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        path = make_study(Path(tmp), args.trials)
        print(f"a study of {args.trials} trials written in {time.perf_counter() - start:.1f} s")
        for when in ("live (the journal replayed)", "finished (`hpo run` left its exports)"):
            if when.startswith("finished"):
                finish(path)
            for command in (["status", "--format", "json"], ["status"], ["best"], ["export", "--format", "csv", "-o", "t.csv"]):
                start = time.perf_counter()
                subprocess.run([hpo, command[0], str(path), *command[1:]], check=True, capture_output=True, cwd=tmp)
                timings[f"{when}: hpo {' '.join(command)}"] = time.perf_counter() - start
    for command, seconds in timings.items():
        print(f"  {command:<70} {seconds:6.2f} s")
    return timings


if __name__ == "__main__":
    main()
