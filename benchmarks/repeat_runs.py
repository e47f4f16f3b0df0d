"""Several `hpo.run` calls in one Python process (a notebook): the local Ray kept between them, and,
for comparison, stopped after each (as the command line does), side by side in one process.

Each run is the same small sweep (4 trials of 3 short epochs, 2 at a time, a new study each time),
of a trial function (``--code function``: the user's code, so new workers each run) or of the
built-in trainer (``--code builtin``: a kept Ray keeps its warm workers, TensorFlow imported, for
the next run). It prints, per run: the seconds until Ray was up (started or reused), until the
first trial started on a worker, and the whole run.

Run: .venv/bin/python benchmarks/repeat_runs.py [--runs 3] [--code function builtin]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]


def _sweep(folder: Path, code: str) -> Path:
    path = folder / f"repeat_{code}.yaml"
    body = {
        "function": """
            data: {source: synthetic, options: {samples: 200, features: 4, classes: 2}}
            objective: {metric: val_accuracy, function: "tests.cheap:objective"}
            space: {params: {x: {type: float, low: 0.0, high: 1.0}, epochs: 3, sleep: 0.05}}
        """,
        "builtin": """
            data: {source: synthetic, options: {samples: 200, features: 4, classes: 2}}
            space: {params: {learning_rate: {type: float, low: 0.01, high: 0.1}}}
        """,
    }[code]
    path.write_text(textwrap.dedent(f"""
        name: repeat_{code}
        train: {{epochs: 3}}
        sampler: {{name: random, seed: 0}}
        pruner: {{name: none}}
        budget: {{trials: 4}}
        resources: {{concurrency: 2}}
        results_dir: {folder / "results"}
    """) + textwrap.dedent(body))
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="runs of each kind")
    parser.add_argument("--code", nargs="+", choices=["function", "builtin"], default=["function", "builtin"])
    args = parser.parse_args()
    import hpo

    print("| sweep | Ray between runs | run | Ray | Ray up s | first trial started s | whole run s |")
    print("|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as folder:
        for code in args.code:
            sweep = _sweep(Path(folder), code)
            for kept in (False, True):
                for number in range(1, args.runs + 1):
                    start = time.perf_counter()
                    result = hpo.run(sweep, new_study=True, progress=False)
                    whole = time.perf_counter() - start
                    if not kept:
                        hpo.stop_ray()
                    outcome = result.outcome
                    assert outcome is not None
                    timings = outcome.timings
                    first = timings["ray_start_s"] + timings.get("first_trial_started_s", 0.0)
                    print(f"| {code} | {'kept' if kept else 'stopped'} | {number} | {outcome.ray} | "
                          f"{timings['ray_start_s']:.2f} | {first:.2f} | {whole:.2f} |", flush=True)
            hpo.stop_ray()


if __name__ == "__main__":
    main()
