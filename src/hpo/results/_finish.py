"""The finish: the top candidates re-trained with several seeds, their spread, and the choice.

One run per (configuration, seed) comes back from the workers; this module turns them into each
candidate's mean, standard deviation and 95% interval of every validation metric, selects the best
by mean, and keeps the test scores of the selected configuration only: no other configuration's
test score is ever shown, so nothing is chosen on the test split. Nothing here imports Ray.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from optuna.trial import FrozenTrial, TrialState

from hpo.config import ObjectiveConfig
from hpo.study import is_feasible, watched_value

RULE = "the best mean of {metric} over the seeds ({direction}); a tie goes to the better single-run value"


@dataclass(frozen=True)
class FinishRun:
    """One seed's re-training of one candidate, as a worker returned it."""

    trial: int
    seed: int
    validation: dict[str, float]
    test: dict[str, float]
    seconds: float


def spread(values: Sequence[float]) -> dict[str, Any]:
    """Mean, sample standard deviation and the 95% interval of the mean (Student's t with n - 1
    degrees of freedom) of a metric's values over the seeds."""
    from scipy import stats

    mean = statistics.fmean(values)
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    half = float(stats.t.ppf(0.975, len(values) - 1)) * std / math.sqrt(len(values)) if len(values) > 1 else 0.0
    return {"mean": mean, "std": std, "low": mean - half, "high": mean + half, "values": list(values)}


def _metrics(runs: Sequence[FinishRun], part: str) -> dict[str, dict[str, Any]]:
    names = sorted(set.intersection(*(set(getattr(run, part)) for run in runs))) if runs else []
    return {name: spread([float(getattr(run, part)[name]) for run in runs]) for name in names}


def summarize_finish(
    candidates: Sequence[FrozenTrial], runs: Sequence[FinishRun], objective: ObjectiveConfig
) -> dict[str, Any]:
    """What the finish found, as ``best.json``'s ``finish`` and the study's record of it: each
    candidate's spread, the selected trial (best mean of the watched metric), whether it differs
    from the single-run best, the selected one's test scores, and the seed whose model is kept
    (the one whose validation value is closest to the mean)."""
    metric, maximize = objective.metric, objective.direction == "maximize"
    sign = 1.0 if maximize else -1.0
    rows: list[dict[str, Any]] = []
    for rank, trial in enumerate(candidates, start=1):
        own = sorted((run for run in runs if run.trial == trial.number), key=lambda run: run.seed)
        validation = _metrics(own, "validation")
        if metric not in validation:
            raise ValueError(f"the finish's re-trainings of trial {trial.number} did not report {metric!r}")
        rows.append(
            {
                "trial": trial.number,
                "rank": rank,
                "single_run_value": watched_value(trial, objective),
                "validation": validation,
                "seconds": sum(run.seconds for run in own),
            }
        )
    chosen = max(rows, key=lambda row: (sign * row["validation"][metric]["mean"], -row["rank"]))
    own = sorted((run for run in runs if run.trial == chosen["trial"]), key=lambda run: run.seed)
    mean = chosen["validation"][metric]["mean"]
    kept = min(own, key=lambda run: (abs(run.validation[metric] - mean), run.seed))
    return {
        "metric": metric,
        "top_k": len(candidates),
        "seeds": sorted({run.seed for run in runs}),
        "rule": RULE.format(metric=metric, direction=objective.direction),
        "single_run_best": candidates[0].number,
        "selected": chosen["trial"],
        "differs": chosen["trial"] != candidates[0].number,
        "candidates": rows,
        "test": _metrics(own, "test"),
        "model_seed": kept.seed,
        "trial_seconds": sum(run.seconds for run in runs),
    }


def top_candidates(trials: Sequence[FrozenTrial], objective: ObjectiveConfig, k: int) -> list[FrozenTrial]:
    """The ``k`` best feasible COMPLETE trials on the watched metric, one per configuration (a
    configuration seen twice, e.g. carried over and sampled again, counts once, at its best)."""
    complete = [t for t in trials if t.state is TrialState.COMPLETE and is_feasible(t)]
    sign = -1.0 if objective.direction == "maximize" else 1.0
    chosen: list[FrozenTrial] = []
    seen: list[dict[str, Any]] = []
    for trial in sorted(complete, key=lambda t: (sign * watched_value(t, objective), t.number)):
        if trial.params in seen:
            continue
        seen.append(trial.params)
        chosen.append(trial)
        if len(chosen) == k:
            break
    return chosen
