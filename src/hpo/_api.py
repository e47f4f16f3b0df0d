"""Sweeps from Python (a notebook, a script): ``hpo.run`` and ``hpo.load``, the same functions
the CLI's ``run``/``resume`` and read commands are built on.

    import hpo
    result = hpo.run("sweeps/digits_cnn.yaml", trials=8)
    result.best.params, result.trials.head(), result.folder
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hpo.config import Sweep

if TYPE_CHECKING:
    import optuna
    import pandas as pd

    from hpo.executor import Listener, Notice, SweepOutcome
    from hpo.results import Written

# run()'s keyword arguments, as the CLI's flags name them, and the sweep keys they set.
FLAGS = {
    "trials": "budget.trials",
    "timeout": "budget.timeout",
    "concurrency": "resources.concurrency",
    "gpus_per_trial": "resources.gpus_per_trial",
    "trials_per_worker": "resources.trials_per_worker",
    "storage": "storage",
    "results_dir": "results_dir",
    "seed": "sampler.seed",
    "address": "resources.address",
    "mlflow_uri": "tracking.mlflow.uri",
    "tensorboard": "tracking.tensorboard",
    "carry_over": "carry_over",
    "finish": "finish",
}


@dataclass
class SweepResult:
    """A sweep's study and results folder, with its best trial, Pareto front and trials table."""

    sweep: Sweep
    study: optuna.Study
    outcome: SweepOutcome | None = None  # what `run` did (None from `load`)

    @property
    def folder(self) -> Path:
        return self.sweep.results_dir

    @property
    def best(self) -> optuna.trial.FrozenTrial | None:
        """The best feasible trial (with several goals: the front's best at ``prune_on``)."""
        from hpo.study import best_trial

        return best_trial(self.study, self.sweep.config.objective)

    @property
    def front(self) -> list[optuna.trial.FrozenTrial]:
        """The feasible Pareto front (a single-objective sweep's best and its ties)."""
        from hpo.study import pareto_front

        return pareto_front(self.study)

    @property
    def trials(self) -> pd.DataFrame:
        """One row per trial, as `hpo status`/`hpo export` show them."""
        from hpo.results import trials_frame

        return trials_frame(self.study, self.sweep.config.objective)


def resolve(sweep_or_path: Sweep | str | Path, overrides: dict[str, Any] | None = None, **flags: Any) -> Sweep:
    """The sweep with environment (``HPO_*``, ``RAY_ADDRESS``), then ``flags`` and ``overrides``
    (dotted keys) applied; a path is loaded and validated."""
    from hpo._errors import UsageError
    from hpo._settings import resolve_sweep

    unknown = sorted(set(flags) - set(FLAGS))
    if unknown:
        raise UsageError(
            f"unknown setting {', '.join(unknown)}; use one of {', '.join(FLAGS)}, or overrides={{'key.path': value}}"
        )
    dotted = {FLAGS[k]: v for k, v in flags.items()}
    dotted.update(overrides or {})
    return resolve_sweep(sweep_or_path, **dotted)


def check_save(sweep: Sweep, save: str) -> None:
    """``save``: ``best`` (the best trial's model) or ``front`` (every Pareto-front trial's)."""
    from hpo._errors import UsageError

    if save not in ("best", "front"):
        raise UsageError(f"--save must be best or front, but got {save!r}")
    if save == "front" and not sweep.config.objective.multi:
        raise UsageError(
            "--save front saves a multi-objective sweep's Pareto front, but this sweep has one objective; use --save "
            "best"
        )


def execute(
    sweep: Sweep,
    *,
    new_study: bool = False,
    save: str = "best",
    listener: Listener | None = None,
    finished: Callable[[SweepOutcome], None] | None = None,
    keep_ray: bool = False,
) -> tuple[SweepResult, Written]:
    """Run ``sweep`` and write its results folder (``finished`` is told the outcome in between);
    the result and what was written. ``keep_ray``: leave the local Ray it started up for the
    next sweep of this process."""
    from hpo.executor import run_sweep
    from hpo.results import finalize
    from hpo.tracking import open_trackers, run_summary

    check_save(sweep, save)
    done = None if new_study else _nothing_left(sweep, save, listener)
    if done is not None:
        if finished is not None and done[0].outcome is not None:
            finished(done[0].outcome)
        return done
    with open_trackers(sweep) as trackers:
        heard = _both(listener, trackers) if trackers else listener
        outcome = run_sweep(sweep, new_study=new_study, listener=heard, save_front=save == "front", keep_ray=keep_ray)
        if finished is not None:
            finished(outcome)
        written = finalize(sweep, outcome.study, outcome.final, outcome.front)
        trackers.finish(*run_summary(outcome.study, written))
    return SweepResult(sweep, outcome.study, outcome), written


def _nothing_left(sweep: Sweep, save: str, listener: Listener | None) -> tuple[SweepResult, Written] | None:
    """The result of a run that would start no trial and whose best was re-trained by an earlier
    run (``best.json`` current; with ``--save front`` ``pareto.json`` too): no Ray, no data, no
    training, the exports and the report written again. None when a run has work to do."""
    from hpo.executor import StudyOpened, SweepOutcome, earlier_runs, spent_study
    from hpo.results import load_best, load_pareto, refresh
    from hpo.storage import Store
    from hpo.study import best_trial

    store = Store(sweep.storage_url())
    try:
        study = spent_study(sweep, store)
        if study is None:
            return None
        best = best_trial(study, sweep.config.objective)
        best_json = load_best(sweep, study)
        if (best is not None and best_json is None) or (save == "front" and load_pareto(sweep, study) is None):
            return None  # the last run ended before its re-training: a run does that now
        if best is not None and not _finish_done(sweep, best_json):
            return None  # a finish asked for now (or a different one): a run re-trains the top candidates
        if listener is not None:
            listener(StudyOpened(study.study_name, store.masked))
            resumed = earlier_runs(sweep, study)  # every trial finished: never None here
            if resumed is not None:
                listener(resumed)
        written = refresh(sweep, study)
    finally:
        store.close()
    counts = {"complete": 0, "pruned": 0, "failed": 0, "interrupted": 0}
    return SweepResult(
        sweep, study, SweepOutcome(study, store.masked, 0.0, counts, best=best, nothing_left=True)
    ), written


def _finish_done(sweep: Sweep, best_json: dict[str, Any] | None) -> bool:
    """Whether ``best.json`` holds what the sweep's ``finish`` asks for: nothing without one, else
    a finish asked with the same ``top_k`` (it may have found fewer candidates) and the same seeds."""
    finish = sweep.config.finish
    if finish is None:
        return True
    done = (best_json or {}).get("finish")
    if done is None:
        return False
    seeds = [sweep.config.train.seed + offset for offset in range(finish.seeds)]
    return bool(done["seeds"] == seeds and done.get("top_k_asked") == finish.top_k)


def _both(first: Listener | None, second: Listener) -> Listener:
    """One listener that tells ``first`` (progress), then ``second`` (the trackers)."""
    if first is None:
        return second

    def both(notice: Notice) -> None:
        first(notice)
        second(notice)

    return both


def run(
    sweep_or_path: Sweep | str | Path,
    *,
    new_study: bool = False,
    save: str = "best",
    progress: bool = True,
    overrides: dict[str, Any] | None = None,
    **flags: Any,
) -> SweepResult:
    """Run a sweep (a YAML path or a ``Sweep`` built in code) to its budget, as `hpo run` does.

    ``flags``: trials, timeout, concurrency, gpus_per_trial, trials_per_worker, storage, results_dir, seed, address,
    mlflow_uri (track in MLflow there), tensorboard (True: write TensorBoard logs), carry_over (True:
    when the space changed, a new study that keeps the earlier study's trials the new space can produce),
    finish (``{"top_k": K, "seeds": S}``: re-train the K best configurations with S seeds each and
    select the best by mean);
    ``overrides``: any other setting by dotted key. Progress shows as a live table (in a notebook
    cell too) when ``progress``. Ctrl+C or a kernel interrupt raises ``SweepInterrupted`` with the
    study consistent and resumable, as on the command line. A local Ray it starts stays up for the
    next ``run`` in this process (a notebook pays Ray's start once; ``hpo.stop_ray()`` stops it,
    and Ray stops it at exit); a sweep whose own modules it does not ship gets a fresh one."""
    from hpo._progress import Progress

    sweep = resolve(sweep_or_path, overrides, **flags)
    config = sweep.config
    if not progress:
        return execute(sweep, new_study=new_study, save=save, keep_ray=True)[0]
    with Progress(config.budget.trials, config.objective.direction, config.objective.metric) as listener:
        return execute(sweep, new_study=new_study, save=save, listener=listener, keep_ray=True)[0]


def stop_ray() -> None:
    """Stop the local Ray that ``run`` kept up in this process (nothing when there is none; a Ray
    the caller started or a cluster it joined is left alone)."""
    import sys

    if "ray" in sys.modules:  # never import Ray only to find it was not started
        from hpo.executor._ray import stop_kept_ray

        stop_kept_ray()


def load(sweep_or_path: Sweep | str | Path, **flags: Any) -> SweepResult:
    """An existing sweep's latest study, read-only (``storage``/``results_dir`` as in `run`)."""
    from hpo.study import load_existing_study

    sweep = resolve(sweep_or_path, **flags)
    return SweepResult(sweep, load_existing_study(sweep))
