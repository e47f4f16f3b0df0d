"""The finish and the stop rules on real sweeps: how often the single-run best is not the best by
mean, what each way's chosen model scores on the test split, what the finish costs, and what the
stop rules would have saved against the best value they would have given up.

For each sweep and each sampler seed: the sweep runs to its budget and its single-run best is
re-trained once and scored on the test split (hpo without a finish); then `finish` re-trains the
top K configurations with S seeds each on the same study and selects by mean (hpo with one). The
stop rules are replayed on the finished trials in the order they finished: the patience rule
(``--patience`` trials without improvement) and its noise-aware form, whose threshold is the seed
noise (sd over the S seeds) of the configuration the search ranked first, as the rule would
measure it on its incumbent.

Run: .venv/bin/python benchmarks/finish.py [--sweeps digits_cnn breast_cancer_mlp] [--seeds 0 1 2 3 4]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]


def _in_order(trials: list[Any]) -> list[Any]:
    """The finished trials (COMPLETE, PRUNED) in the order they finished, as the stop rules count them."""
    import datetime

    from optuna.trial import TrialState

    return sorted(
        (t for t in trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)),
        key=lambda t: (t.datetime_complete or datetime.datetime.min, t.number),
    )


def _stop_point(finished: list[Any], rule: Any) -> int:
    """How many of the ``finished`` trials the rule would have let finish (all when it never fires)."""
    for count in range(1, len(finished) + 1):
        if rule.reason(finished[:count]) is not None:
            return count
    return len(finished)


def _best_within(finished: list[Any], count: int, maximize: bool) -> float:
    """The best value among the first ``count`` of the ``finished`` trials."""
    from optuna.trial import TrialState

    values = [t.value for t in finished[:count] if t.state == TrialState.COMPLETE]
    return (max if maximize else min)(values)


def _one(path: Path, seed: int, folder: Path, args: argparse.Namespace) -> dict[str, Any]:
    import hpo
    from hpo.config import Sweep, load_sweep
    from hpo.study import Patience

    overrides = {"train.epochs": args.epochs} if args.epochs else {}
    common = {"seed": seed, "results_dir": str(folder), "progress": False, "overrides": overrides}
    if args.trials:
        common["trials"] = args.trials
    loaded = load_sweep(path)  # the search and its single-run best, without the sweep's own finish
    searched = hpo.run(Sweep(path, loaded.config.model_copy(update={"finish": None}), loaded.space), **common)
    single = json.loads((searched.folder / "best.json").read_text())
    finished = hpo.run(path, finish={"top_k": args.top_k, "seeds": args.finish_seeds}, **common)
    best = json.loads((finished.folder / "best.json").read_text())
    finish = best["finish"]
    study = finished.study
    objective = finished.sweep.config.objective
    maximize = objective.direction == "maximize"
    trials = study.get_trials(deepcopy=False)
    search_s = sum(
        (t.datetime_complete - t.datetime_start).total_seconds()
        for t in trials
        if t.datetime_complete is not None and t.datetime_start is not None
    )
    top = finish["candidates"][0]["validation"][objective.metric]
    finished_in_order = _in_order(trials)
    final_best = _best_within(finished_in_order, len(finished_in_order), maximize)
    row: dict[str, Any] = {
        "sweep": finished.sweep.name,
        "seed": seed,
        "trials": len(trials),
        "single_run_best": finish["single_run_best"],
        "selected": finish["selected"],
        "differs": finish["differs"],
        "single_test": single["test_metrics"].get("test_accuracy"),
        "finish_test_mean": finish["test"]["test_accuracy"]["mean"],
        "finish_test_sd": finish["test"]["test_accuracy"]["std"],
        "search_trial_s": search_s,
        "finish_trial_s": finish["trial_seconds"],
        "noise_sd": top["std"],
    }
    for name, delta in (("patience", 0.0), ("noise", top["std"])):
        rule = Patience(args.patience, delta, objective.direction, objective.metric)
        stop = _stop_point(finished_in_order, rule)
        given_up = final_best - _best_within(finished_in_order, stop, maximize)
        row[f"{name}_trials"] = stop
        row[f"{name}_given_up"] = given_up if maximize else -given_up
    return row


def _print(rows: list[dict[str, Any]]) -> None:
    print(
        "| sweep | sampler seed | trials | single-run best | selected | differs | test acc, single-run best "
        "(seed 0) | test acc, selected (mean ± sd over seeds) | search trial-s | finish trial-s | seed noise "
        "(sd) | patience: trials / best given up | noise-aware: trials / best given up |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['sweep']} | {r['seed']} | {r['trials']} | #{r['single_run_best']} | #{r['selected']} | "
            f"{'yes' if r['differs'] else 'no'} | {r['single_test']:.4f} | {r['finish_test_mean']:.4f} ± "
            f"{r['finish_test_sd']:.4f} | {r['search_trial_s']:.0f} | {r['finish_trial_s']:.0f} | "
            f"{r['noise_sd']:.4f} | {r['patience_trials']} / {r['patience_given_up']:.4f} | "
            f"{r['noise_trials']} / {r['noise_given_up']:.4f} |"
        )
    print()
    print(
        "| sweep | runs | single-run best not best by mean | test acc single-run way: mean (sd over runs) | "
        "test acc finish way: mean (sd over runs) | finish cost, % of the search's trial-s | "
        "patience: trials saved / best given up (mean) | noise-aware: trials saved / best given up (mean) |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for sweep in dict.fromkeys(r["sweep"] for r in rows):
        mine = [r for r in rows if r["sweep"] == sweep]

        def sd(values: list[float]) -> float:
            return statistics.stdev(values) if len(values) > 1 else 0.0

        single = [r["single_test"] for r in mine]
        chosen = [r["finish_test_mean"] for r in mine]
        cost = 100 * sum(r["finish_trial_s"] for r in mine) / max(sum(r["search_trial_s"] for r in mine), 1e-9)
        saved = {n: statistics.fmean(r["trials"] - r[f"{n}_trials"] for r in mine) for n in ("patience", "noise")}
        lost = {n: statistics.fmean(r[f"{n}_given_up"] for r in mine) for n in ("patience", "noise")}
        print(
            f"| {sweep} | {len(mine)} | {sum(r['differs'] for r in mine)} of {len(mine)} | "
            f"{statistics.fmean(single):.4f} ({sd(single):.4f}) | {statistics.fmean(chosen):.4f} ({sd(chosen):.4f}) | "
            f"{cost:.0f}% | {saved['patience']:.1f} / {lost['patience']:.4f} | "
            f"{saved['noise']:.1f} / {lost['noise']:.4f} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sweeps", nargs="+", default=["digits_cnn", "breast_cancer_mlp"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4], help="sampler seeds")
    parser.add_argument("--top-k", type=int, default=3)
    parser.add_argument("--finish-seeds", type=int, default=3)
    parser.add_argument("--patience", type=int, default=8)
    parser.add_argument("--trials", type=int, default=0, help="override the sweeps' budget (0: theirs)")
    parser.add_argument("--epochs", type=int, default=0, help="override train.epochs (0: the sweep's)")
    parser.add_argument("--json", type=Path, help="also write the rows here")
    args = parser.parse_args()
    import hpo

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.sweeps:
            for seed in args.seeds:
                rows.append(_one(ROOT / "sweeps" / f"{name}.yaml", seed, Path(tmp) / f"{name}-{seed}", args))
    hpo.stop_ray()
    _print(rows)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
