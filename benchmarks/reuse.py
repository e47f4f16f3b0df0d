"""Reusing trial processes vs a fresh process per trial, on a small real Keras sweep (digits MLP).

A fresh process imports TensorFlow and loads the data for every trial; a reused one does it once.
Run: .venv/bin/python benchmarks/reuse.py [--trials 12]
"""

from __future__ import annotations

import argparse
import tempfile
import textwrap
import time
from pathlib import Path


def sweep_file(folder: Path, trials: int) -> Path:
    spaces = Path(__file__).resolve().parents[1] / "search_spaces"
    path = folder / "reuse.yaml"
    path.write_text(textwrap.dedent(f"""
        name: reuse
        data: {{source: digits}}
        train: {{epochs: 4}}
        space:
          include: [{spaces}/mlp.yaml]
          params: {{depth: {{high: 2}}, units: {{high: 64}}, learning_rate: 0.01, optimizer: adam, batch_size: 64, normalization: minmax}}
        sampler: {{name: random, seed: 0}}
        pruner: {{name: none}}
        budget: {{trials: {trials}}}
        resources: {{concurrency: 2}}
        results_dir: {folder}
    """))
    return path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=12)
    args = parser.parse_args()
    from hpo.config import load_sweep
    from hpo.executor import run_sweep

    print(f"{args.trials} trials x 4 epochs, digits MLP, 2 concurrent")
    print(f"{'trial processes':<28} {'wall s':>8} {'s/trial':>8} {'best val acc':>13}")
    for reuse in (True, False):
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            outcome = run_sweep(load_sweep(sweep_file(Path(tmp), args.trials)), reuse_actors=reuse)
            wall = time.perf_counter() - start
            best = outcome.best_trial.value
        label = "reused (hpo default)" if reuse else "fresh process per trial"
        print(f"{label:<28} {wall:>8.1f} {wall / args.trials:>8.2f} {best:>13.3f}")


if __name__ == "__main__":
    main()
