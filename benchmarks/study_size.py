"""The driver's cost per trial as the study grows: hpo continues a study that already holds N
finished trials (written as a sweep writes them, benchmarks/big_study.py) with a trivial trial
function (five instant reports), and the time per trial over its last trials is compared across N.

Each size runs in this one process on the same local Ray (kept between the runs), on the default
journal storage, random sampler, 2 trials at a time, no pruner. With ``--sampler tpe`` TPE's own
cost per ``ask`` grows with the study (that is the sampler's, not hpo's): the table's last column,
hpo's time per trial less plain Optuna's on the same study and sampler, is hpo's own share.

Run (a minute or two on 2 cores, either sampler):
    .venv/bin/python benchmarks/study_size.py --sizes 500 10000 [--sampler tpe]
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]

from big_study import make_study  # noqa: E402 - after the path


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


SAMPLERS = ("random", "tpe")


def _continue(path: Path, extra: int, sampler: str) -> list[tuple[float, float]]:
    """Run ``extra`` more trials on the study at ``path``; when each ended, and the driver's CPU
    seconds by then."""
    import optuna

    from hpo import executor as ex
    from hpo.config import load_sweep
    from hpo.executor import run_sweep
    from hpo.study import load_existing_study

    sweep = load_sweep(path)
    existing = len(load_existing_study(sweep).trials)
    sweep = sweep.with_overrides(**{
        "budget.trials": existing + extra, "objective.function": "tests.cheap:trivial",
        "sampler.name": sampler, "sampler.seed": 0, "pruner.name": "none", "resources.concurrency": 2,
    })
    ends: list[tuple[float, float]] = []

    def listener(notice: ex.Notice) -> None:
        if isinstance(notice, (ex.TrialComplete, ex.TrialPruned, ex.TrialFailedEnd)):
            ends.append((time.perf_counter(), _cpu_s()))

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    run_sweep(sweep, listener=listener, evaluate=False, keep_ray=True)
    return ends


def _plain_optuna(path: Path, trials: int, sampler: str) -> float:
    """Optuna's own cost per trial on the same study, in this process: ask, the space's two
    parameters, five reports, tell (what any driver pays to the storage and to ``ask``), in ms."""
    import optuna

    from hpo.config import load_sweep
    from hpo.study import load_existing_study

    study = load_existing_study(load_sweep(path))
    study.sampler = optuna.samplers.TPESampler(seed=0) if sampler == "tpe" else optuna.samplers.RandomSampler(seed=0)
    start = time.perf_counter()
    for _ in range(trials):
        trial = study.ask()
        x = trial.suggest_float("dropout", 0.0, 1.0)
        trial.suggest_int("batch_size", 1, 64)
        for epoch in range(1, 6):
            trial.report(x * epoch, epoch)
        study.tell(trial, x)
    return 1000 * (time.perf_counter() - start) / trials


def main(argv: list[str] | None = None) -> dict[int, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[500, 10_000])
    parser.add_argument("--trials", type=int, default=300, help="trials run on each study")
    parser.add_argument("--last", type=int, default=100, help="the per-trial time is measured over these last trials")
    parser.add_argument("--sampler", choices=SAMPLERS, default="random", help="the sampler of hpo and of plain Optuna")
    args = parser.parse_args(argv)
    rows: dict[int, tuple[float, float, float]] = {}
    for size in args.sizes:
        with tempfile.TemporaryDirectory() as tmp:
            path = make_study(Path(tmp), size)
            ends = _continue(path, args.trials, args.sampler)
            plain = _plain_optuna(path, args.last, args.sampler)
        last = min(args.last, len(ends) - 1)
        (wall, cpu), (wall_before, cpu_before) = ends[-1], ends[-1 - last]
        rows[size] = (1000 * (wall - wall_before) / last, 1000 * (cpu - cpu_before) / last, plain)
        print(f"study of {size} trials: {rows[size][0]:.1f} ms per trial over the last {last}", flush=True)
    first, first_plain = rows[args.sizes[0]][0], rows[args.sizes[0]][2]
    print(f"\n{args.sampler} sampler")
    print(f"| trials already in the study | hpo ms per trial (last {args.last}) | driver CPU ms per trial | vs {args.sizes[0]} "
          f"| plain Optuna ms per trial (ask, 5 reports, tell) | vs {args.sizes[0]} | hpo's own share ms (hpo - plain) |")
    print("|---|---|---|---|---|---|---|")
    for size, (ms, cpu_ms, plain_ms) in rows.items():
        print(f"| {size:,} | {ms:.1f} | {cpu_ms:.1f} | {ms / first:.2f}x | {plain_ms:.1f} | {plain_ms / first_plain:.2f}x "
              f"| {ms - plain_ms:.1f} |")
    return {size: ms for size, (ms, _, _) in rows.items()}


if __name__ == "__main__":
    main()
