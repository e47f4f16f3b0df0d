"""The finish after a search: the top candidates re-trained with several seeds on the pool.

The re-trainings run in parallel on the sweep's workers, without pruning, and are recorded on the
study as the ``hpo:finish`` attribute (never as trials, so the search's budget, curves and sampler
are untouched). The selected configuration's model (the seed closest to its mean) becomes the
sweep's best model.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import optuna

from hpo import _constants
from hpo.config import Sweep
from hpo.executor._ray import FinalJob, RayPool
from hpo.results import FinishRun, summarize_finish, top_candidates


def finish_sweep(
    sweep: Sweep, study: optuna.Study, pool: RayPool, interrupted: Callable[[], bool]
) -> dict[str, Any] | None:
    """Re-train the ``finish.top_k`` best configurations with ``finish.seeds`` seeds each; the
    selected configuration's result (as a single re-training's, with the seeds' means and a
    ``finish`` summary, and the single-run best's re-training with the sweep's seed as
    ``single_run_best``). None when no feasible trial completed or when interrupted."""
    finish, objective = sweep.config.finish, sweep.config.objective
    assert finish is not None, "finish_sweep runs for a sweep with a finish section"
    candidates = top_candidates(study.get_trials(deepcopy=False), objective, finish.top_k)
    if not candidates:
        return None
    seeds = [sweep.config.train.seed + offset for offset in range(finish.seeds)]
    jobs = [FinalJob(t.number, sweep.space.configuration(t.params), seed) for t in candidates for seed in seeds]
    done = pool.finals(jobs, interrupted)
    if done is None:
        return None
    runs = [
        FinishRun(job.number, int(job.seed or 0), r["validation_metrics"], r["test_metrics"], r["seconds"])
        for job, r in zip(jobs, done, strict=True)
    ]
    summary = {**summarize_finish(candidates, runs, objective), "top_k_asked": finish.top_k}
    study.set_user_attr(_constants.ATTR_FINISH, summary)
    selected = summary["selected"]
    chosen = next(row for row in summary["candidates"] if row["trial"] == selected)
    kept = next(
        r for job, r in zip(jobs, done, strict=True) if job.number == selected and job.seed == summary["model_seed"]
    )
    first = next(r for job, r in zip(jobs, done, strict=True) if job.number == candidates[0].number)
    return {
        "trial": selected,
        "validation_metrics": {name: spread["mean"] for name, spread in chosen["validation"].items()},
        "test_metrics": {name: spread["mean"] for name, spread in summary["test"].items()},
        "model": kept["model"],
        "finish": summary,
        # the single-run best re-trained with the sweep's own seed (a multi-objective front's entry)
        "single_run_best": {key: first[key] for key in ("validation_metrics", "test_metrics", "model")},
    }
