"""`hpo run SWEEP` (and `hpo resume SWEEP`): run a sweep end to end with live progress."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from hpo import _constants
from hpo._errors import SweepAborted, SweepInterrupted, UsageError
from hpo._progress import Progress
from hpo.cli._common import (
    DEBUG_OPT,
    RESULTS_OPT,
    STORAGE_OPT,
    SWEEP_ARG,
    exits,
    print_error,
    stderr,
    stdout,
)
from hpo.cli._finish import print_finish
from hpo.config import ResourcesConfig, Sweep
from hpo.storage import mask_url

if TYPE_CHECKING:
    from hpo.executor import SweepOutcome


def _budget(budget: Any) -> str:
    parts = [f"{budget.trials} trials" if budget.trials is not None else "no trial limit"]
    if budget.timeout is not None:
        parts.append(f"{budget.timeout:g} s")
    if budget.target is not None:
        parts.append(f"target {budget.target:g}")
    return " / ".join(parts)


def _continued(sweep: Sweep) -> Sweep:
    """The sweep with the overrides of the run being resumed (kept with its study)."""
    from hpo.study import load_existing_study

    study = load_existing_study(sweep)
    kept = study.user_attrs.get(_constants.ATTR_RUN_OVERRIDES) or {}
    if kept:
        stderr().print(
            "resuming with the settings of the interrupted run: " + ", ".join(f"{k}={v}" for k, v in kept.items()),
            highlight=False,
        )
    return sweep.with_overrides(**kept)


def _sharing(resources: ResourcesConfig) -> str:
    """The header's word on trials that share a worker process."""
    per = resources.trials_per_worker
    return "" if per == 1 else f" ({per} per worker process)"


def _run(sweep_path: Path, new_study: bool, resume: bool = False, save: str = "best", **flags: Any) -> int:
    """``flags``: the command's options, named as ``hpo.run`` names them (``hpo._api.FLAGS``)."""
    from hpo._api import check_save, execute, resolve

    sweep = resolve(sweep_path, **flags)
    check_save(sweep, save)
    if resume:
        sweep = _continued(sweep)

    config = sweep.config
    out = stdout()
    out.print(
        f"sweep [bold]{sweep.name}[/]: {len(sweep.space.distributions())} tuned parameters, "
        f"budget {_budget(config.budget)}, {config.resources.concurrency} concurrent{_sharing(config.resources)}; "
        f"sampler {config.sampler.name}, pruner {config.pruner.name}",
        highlight=False,
    )
    from hpo.study import watched_value

    def finished(outcome: SweepOutcome) -> None:
        progress.close()  # the sweep's table stays; what follows prints below it
        counts, best = outcome.counts, outcome.best
        if outcome.nothing_left:
            out.print(
                f"nothing left to run: study {outcome.study.study_name!r} in {outcome.storage} has finished "
                f"{len(outcome.study.trials)} trials, its whole budget; raise it with --trials, "
                "or start a new study with --new-study",
                highlight=False,
            )
        else:
            out.print(
                f"done in {outcome.wall_s:.0f}s: {counts['complete']} complete, {counts['pruned']} pruned, "
                f"{counts['failed']} failed"
                + (f", {counts['interrupted']} interrupted (run again)" if counts.get("interrupted") else "")
                + f" this run; study {outcome.study.study_name!r} in {outcome.storage}",
                highlight=False,
            )
        if best is not None:
            out.print(
                f"best trial {best.number}: {config.objective.metric} = {watched_value(best, config.objective):.4f}",
                highlight=False,
            )

    with Progress(config.budget.trials, config.objective.direction, config.objective.metric) as progress:
        try:
            result, results = execute(sweep, new_study=new_study, save=save, listener=progress, finished=finished)
        except SweepInterrupted as exc:
            progress.close()
            stderr().print(str(exc), markup=False, highlight=False)
            return _constants.EXIT_INTERRUPTED
        except SweepAborted as exc:
            progress.close()
            print_error(str(exc), prefix="sweep stopped:")
            stderr().print(
                f"The study keeps every finished trial; continue with: hpo resume {sweep_path}", highlight=False
            )
            return _constants.EXIT_RUNTIME
    outcome = result.outcome
    assert outcome is not None, "hpo.run's result always holds what the run did"
    if results.front is not None:
        out.print(
            f"Pareto front: {len(results.front['front'])} trials ({_constants.PARETO_JSON}; `hpo best` lists them)",
            highlight=False,
        )
    summary = results.best
    if summary is not None and "finish" in summary:
        print_finish(summary["finish"], out)
    elif summary is not None and summary["test_metrics"]:
        tests = ", ".join(f"{k[5:]} {v:.4f}" for k, v in summary["test_metrics"].items())
        when = "by an earlier run" if outcome.nothing_left else f"once in {outcome.final_s:.0f}s"
        out.print(f"re-trained {when}; test split: {tests}", highlight=False)
    written = [
        name
        for name in (
            _constants.TRIALS_CSV,
            _constants.BEST_JSON,
            _constants.BEST_MODEL,
            _constants.PARETO_JSON,
            _constants.FRONT_DIR,
            _constants.REPORT_HTML,
        )
        if (results.folder / name).exists()
    ]
    out.print(f"results: {results.folder}/ ({', '.join(written)})", highlight=False)
    out.print(f"report:    {results.report}", highlight=False)
    out.print(f"dashboard: hpo dashboard {sweep_path}", highlight=False)
    if config.tracking.tensorboard:
        out.print(f"tensorboard: hpo tensorboard {sweep_path}", highlight=False)
    if config.tracking.mlflow is not None:
        from hpo.tracking import tracking_uri

        out.print(
            f"mlflow: {mask_url(tracking_uri(sweep))}, experiment {config.tracking.mlflow.experiment or sweep.name!r}",
            highlight=False,
        )
    return _constants.EXIT_OK


@exits
def run(
    sweep: Path = SWEEP_ARG,
    trials: int | None = typer.Option(None, "--trials", help="Trial budget (whole study)."),
    timeout: float | None = typer.Option(None, "--timeout", help="No new trials after this many seconds."),
    concurrency: int | None = typer.Option(None, "--concurrency", help="Maximum concurrent trials."),
    gpus_per_trial: float | None = typer.Option(
        None, "--gpus-per-trial", help="GPUs per trial; 0.25 packs four trials per GPU."
    ),
    trials_per_worker: int | None = typer.Option(
        None,
        "--trials-per-worker",
        help="Trials sharing one worker process as its threads (trial functions that wait; "
        "resources.trials_per_worker).",
    ),
    storage: str | None = STORAGE_OPT,
    results_dir: str | None = RESULTS_OPT,
    address: str | None = typer.Option(
        None, "--address", help="Ray cluster to join (or env RAY_ADDRESS); local Ray by default."
    ),
    seed: int | None = typer.Option(None, "--seed", help="Sampler seed."),
    new_study: bool = typer.Option(
        False, "--new-study", help="Start a new study beside an existing one (e.g. after changing the space)."
    ),
    carry_over: bool | None = typer.Option(
        None,
        "--carry-over",
        help="When the space changed: a new study that keeps the trials the new space can produce (carry_over).",
    ),
    finish: str | None = typer.Option(
        None,
        "--finish",
        metavar="KxS",
        help="After the search, re-train the K best configurations with S seeds each and select the best by "
        "mean (finish.top_k, finish.seeds), e.g. 3x4.",
    ),
    save: str = typer.Option(
        "best",
        "--save",
        help="best: re-train and save the best trial; front: every Pareto-front trial (multi-objective).",
    ),
    mlflow_uri: str | None = typer.Option(
        None, "--mlflow-uri", help="Track every trial in MLflow at this URI (tracking.mlflow.uri)."
    ),
    tensorboard: bool | None = typer.Option(
        None, "--tensorboard", help="Write TensorBoard logs (tracking.tensorboard); view with hpo tensorboard."
    ),
    debug: bool = DEBUG_OPT,
) -> int:
    """Run a sweep: Optuna samples and prunes, Ray runs the trials in parallel."""
    return _run(
        sweep,
        new_study,
        save=save,
        trials=trials,
        timeout=timeout,
        concurrency=concurrency,
        gpus_per_trial=gpus_per_trial,
        trials_per_worker=trials_per_worker,
        storage=storage,
        results_dir=results_dir,
        seed=seed,
        address=address,
        mlflow_uri=mlflow_uri,
        tensorboard=tensorboard,
        carry_over=carry_over,
        finish=_finish_flag(finish),
    )


def _finish_flag(value: str | None) -> dict[str, int] | None:
    """``--finish KxS`` as the ``finish`` section it sets."""
    if value is None:
        return None
    match = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", value)
    if match is None:
        raise UsageError(f"--finish takes the top K and the seeds as KxS, e.g. --finish 3x4, but got {value!r}")
    return {"top_k": int(match[1]), "seeds": int(match[2])}


@exits
def resume(
    sweep: Path = SWEEP_ARG,
    address: str | None = typer.Option(None, "--address", help="Ray cluster to join (or env RAY_ADDRESS)."),
    storage: str | None = STORAGE_OPT,
    results_dir: str | None = RESULTS_OPT,
    debug: bool = DEBUG_OPT,
) -> int:
    """Continue a sweep's study to its budget (the same as `hpo run` on an existing study)."""
    return _run(sweep, False, resume=True, storage=storage, results_dir=results_dir, address=address)
