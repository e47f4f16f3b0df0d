"""`report.html`: Optuna's plots of the study (self-contained, works offline), PNGs of the key
ones, and a summary: trials by state, epochs saved by pruning, trial time, the best configuration."""

from __future__ import annotations

import html
import warnings
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState

from hpo import _constants
from hpo.config import Sweep
from hpo.results._best import load_best
from hpo.results._frame import trials_frame
from hpo.study import is_feasible, pareto_front, watched_value

_MAX_LEGEND_TRIALS = 15


def summarize(sweep: Sweep, study: optuna.Study) -> dict[str, Any]:
    """Counts by state, epochs trained vs. a sweep without pruning, total trial time."""
    frame = trials_frame(study)
    max_epochs = sweep.config.train.epochs
    pruned = frame[frame.state == "PRUNED"] if not frame.empty else frame
    trained = int(frame.epochs.fillna(0).sum()) if not frame.empty else 0
    saved = int((max_epochs - pruned.epochs.fillna(0)).sum()) if not pruned.empty else 0
    return {
        "trials": len(frame),
        "by_state": {str(k): int(v) for k, v in frame.state.value_counts().items()} if not frame.empty else {},
        "epochs_trained": trained,
        "epochs_saved_by_pruning": saved,
        "epochs_saved_share": saved / (trained + saved) if trained + saved else 0.0,
        "trial_time_s": float(frame.duration_s.fillna(0).sum()) if not frame.empty else 0.0,
    }


def _cell(value: Any) -> str:
    """A table cell: floats to 4 significant digits (best.json and the exports keep them whole)."""
    if isinstance(value, float):
        return f"{value:.4g}"
    return html.escape(str(value))


def _target(sweep: Sweep) -> dict[str, Any]:
    """What Optuna's plots show, named by the metric (not "Objective Value"): the objective, or with
    several goals the goal pruning watches."""
    objective = sweep.config.objective
    if not objective.multi:
        return {"target_name": objective.metric}
    return {"target": lambda t: watched_value(t, objective), "target_name": objective.metric}


def _curves_axis(sweep: Sweep) -> str:
    """The intermediate values' axis: what the trials report per epoch."""
    return f"{sweep.config.objective.metric} per epoch"


def _figures(sweep: Sweep, study: optuna.Study) -> list[tuple[str, Any]]:
    import optuna.visualization as vis

    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    target = _target(sweep)
    figures: list[tuple[str, Any]] = []
    goals = sweep.config.objective.targets
    if len(goals) in (2, 3) and complete:
        names = [g.metric for g in goals]
        figures.append(
            (
                f"Pareto front: {' vs '.join(names)} (the best trials are those no other beats on every goal)",
                vis.plot_pareto_front(study, target_names=names),
            )
        )
    figures.append(("Optimization history", vis.plot_optimization_history(study, **target)))
    if any(t.intermediate_values for t in study.get_trials(deepcopy=False)):
        curves = vis.plot_intermediate_values(study)
        curves.update_layout(yaxis_title=_curves_axis(sweep), xaxis_title="epoch")
        figures.append(("Intermediate values: learning curves, pruned trials end early", curves))
    if len(complete) >= 2:
        try:
            importances = optuna.importance.get_param_importances(study, target=target.get("target"))
        except (ValueError, RuntimeError) as exc:  # e.g. no parameter common to all complete trials
            importances = {}
            figures.append((f"Parameter importances: not available ({exc})", None))
        if importances:
            top = list(importances)[:8]
            title = "Parameter importances" + (" (few trials: a rough guide)" if len(complete) < 20 else "")
            figures.append((title, vis.plot_param_importances(study, **target)))  # its axis: importance
            figures.append(
                (
                    "Parallel coordinates (most important parameters)",
                    vis.plot_parallel_coordinate(study, params=top, **target),
                )
            )
            figures.append(("Slice (most important parameters)", vis.plot_slice(study, params=top[:6], **target)))
    return figures


def _pngs(sweep: Sweep, study: optuna.Study, folder: Path) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import optuna.visualization.matplotlib as vm

    made = []
    target = _target(sweep)
    goals = [g.metric for g in sweep.config.objective.targets]
    plots = [
        ("history.png", lambda s: vm.plot_optimization_history(s, **target)),
        ("intermediate_values.png", vm.plot_intermediate_values),  # axis renamed below
    ]
    if len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))) >= 2:
        plots.append(("importances.png", lambda s: vm.plot_param_importances(s, **target)))
    if len(goals) in (2, 3):
        plots.insert(0, ("pareto_front.png", lambda s: vm.plot_pareto_front(s, target_names=goals)))
    for name, plot in plots:
        try:
            ax: Any = plot(study)  # matplotlib Axes, or an array of them
        except (ValueError, RuntimeError):
            continue
        fig = ax.figure if hasattr(ax, "figure") else ax.flat[0].figure
        if name == "intermediate_values.png":
            ax.set_ylabel(_curves_axis(sweep))
            ax.set_xlabel("epoch")
        legend = ax.get_legend() if hasattr(ax, "get_legend") else None
        if legend is not None and len(study.trials) > _MAX_LEGEND_TRIALS:
            legend.remove()  # one entry per trial stops being readable (and is cut off) past this
        fig.set_size_inches(9, 5)
        fig.tight_layout()
        fig.savefig(folder / name, dpi=110)
        plt.close(fig)
        made.append(name)
    return made


def _front_section(sweep: Sweep, study: optuna.Study) -> list[str]:
    """With several goals or constraints: the Pareto front's trials and which trials are infeasible."""
    objective = sweep.config.objective
    if not objective.multi and not objective.constraints:
        return []
    names = [g.metric for g in objective.targets]
    parts = []
    if objective.multi:
        parts.append(
            f"<h2>Pareto front ({len(pareto_front(study))} trials)</h2><table><tr><th>trial</th>"
            + "".join(f"<th>{html.escape(n)}</th>" for n in names)
            + "</tr>"
        )
        for t in pareto_front(study):
            parts.append(f"<tr><td>#{t.number}</td>" + "".join(f"<td>{_cell(v)}</td>" for v in t.values) + "</tr>")
        parts.append("</table>")
    if objective.constraints:
        infeasible = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)) if not is_feasible(t)]
        parts.append(
            f"<h3>Constraints: {html.escape(', '.join(objective.constraints))}</h3><p>infeasible trials (never best): "
            + (", ".join(f"#{t.number}" for t in infeasible) or "none")
            + "</p>"
        )
    return parts


def _stopped_early_row(study: optuna.Study) -> list[str]:
    """Why the search ended before its budget (``budget.stop_when``) and what that spared."""
    stopped = study.user_attrs.get(_constants.ATTR_STOPPED_EARLY)
    if not stopped:
        return []
    saved = stopped.get("saved_trials")
    spared = "" if saved is None else f"; {saved} trials of the budget were not needed"
    return [f"<tr><th>stopped early</th><td>{html.escape(str(stopped['reason']))}{spared}</td></tr>"]


def _carried_rows(study: optuna.Study) -> list[str]:
    """How many trials were carried over from the study before a space edit, and which did not fit."""
    carried = study.user_attrs.get(_constants.ATTR_CARRIED)
    if not carried:
        return []
    own = sum(_constants.ATTR_CARRIED_FROM not in t.user_attrs for t in study.get_trials(deepcopy=False))
    rows = [
        f"<tr><th>carried over</th><td>{carried['carried']} finished trials of study "
        f"<code>{html.escape(str(carried['from']))}</code> (outside the budget); {own} trials of its own</td></tr>"
    ]
    if carried["incompatible"]:
        listed = "<br>".join(f"#{n}: {html.escape(str(why))}" for n, why in carried["incompatible"][:20])
        more = len(carried["incompatible"]) - 20
        tail = f"<br>… and {more} more" if more > 0 else ""
        rows.append(f"<tr><th>did not fit the new space</th><td>{listed}{tail}</td></tr>")
    return rows


def _spread_cell(spread: dict[str, Any]) -> str:
    return f"{_cell(spread['mean'])} ± {_cell(spread['std'])} [{_cell(spread['low'])}, {_cell(spread['high'])}]"


def _finish_section(finish: dict[str, Any]) -> list[str]:
    """The finish: each top candidate's single-run value against its seeds' mean ± sd [95% interval]
    of every validation metric, the rule that chose, and whether the single-run best kept its place."""
    metric = finish["metric"]
    names = [metric, *sorted(n for n in finish["candidates"][0]["validation"] if n != metric)]
    seeds = ", ".join(map(str, finish["seeds"]))
    parts = [
        f"<h2>Finish: the top {finish['top_k']} configurations re-trained with seeds {seeds}</h2>",
        f"<p>selected by {html.escape(finish['rule'])}; {finish['trial_seconds']:.0f} trial-seconds of re-training "
        "(not trials of the search, outside the budget)</p>",
        "<table><tr><th>trial</th><th>rank in search</th>"
        f"<th>{html.escape(metric)} (search)</th>"
        + "".join(f"<th>{html.escape(n)}</th>" for n in names)
        + "<th></th></tr>",
    ]
    for row in finish["candidates"]:
        chosen = "selected" if row["trial"] == finish["selected"] else ""
        parts.append(
            f"<tr><td>#{row['trial']}</td><td>{row['rank']}</td><td>{_cell(row['single_run_value'])}</td>"
            + "".join(f"<td>{_spread_cell(row['validation'][n])}</td>" for n in names if n in row["validation"])
            + f"<td>{chosen}</td></tr>"
        )
    parts.append("</table>")
    verdict = (
        f"The selected configuration (#{finish['selected']}) is not the single-run best (#{finish['single_run_best']})."
        if finish["differs"]
        else f"The single-run best (#{finish['single_run_best']}) is also the best by mean."
    )
    tests = ", ".join(f"{html.escape(n)} {_spread_cell(v)}" for n, v in finish["test"].items())
    kept = f" Test split of #{finish['selected']}'s seeds: {tests}." if tests else ""
    parts.append(f"<p>{verdict}{kept} Saved model: seed {finish['model_seed']}, the closest to the mean.</p>")
    return parts


def write_report(sweep: Sweep, study: optuna.Study, folder: Path) -> Path:
    """Write ``report.html`` and the PNGs into ``folder``; return the report's path."""
    folder.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        # "Some regimes ... have less than 2 trials": said once on the page instead of per parameter.
        warnings.filterwarnings("ignore", message="Some regimes for parameter", category=UserWarning)
        figures = _figures(sweep, study)
        pngs = _pngs(sweep, study, folder)
    summary = summarize(sweep, study)
    best = load_best(sweep, study)
    parts = [
        f"<h1>hpo report: {html.escape(sweep.name)}</h1>",
        f"<p>study <code>{html.escape(study.study_name)}</code>, objective "
        f"<code>{html.escape(sweep.config.objective.metric)}</code> ({sweep.config.objective.direction})</p>",
        "<h2>Summary</h2><table>",
        f"<tr><th>trials</th><td>{summary['trials']}</td></tr>",
        *(f"<tr><th>{html.escape(k)}</th><td>{v}</td></tr>" for k, v in sorted(summary["by_state"].items())),
        f"<tr><th>epochs trained</th><td>{summary['epochs_trained']}</td></tr>",
        f"<tr><th>epochs saved by pruning</th><td>{summary['epochs_saved_by_pruning']} "
        f"({100 * summary['epochs_saved_share']:.0f}% of what the sweep would have trained without pruning)</td></tr>",
        f"<tr><th>total trial time</th><td>{summary['trial_time_s']:.0f} s</td></tr>",
        *_stopped_early_row(study),
        *_carried_rows(study),
        "</table>",
    ]
    parts += _front_section(sweep, study)
    if best is not None and "finish" in best:
        parts += _finish_section(best["finish"])
    if best is not None:
        title = "Selected configuration" if "finish" in best else "Best trial"
        parts.append(
            f"<h2>{title}: #{best['trial']}, {html.escape(str(best['objective']['metric']))} = "
            f"{_cell(best['objective']['value'])}</h2>"
        )
        used = "the mean of its seeds, used for nothing above" if "finish" in best else "used once"
        parts.append(f"<h3>Test split (held out, {used})</h3><table>")
        parts += [
            f"<tr><th>{html.escape(k)}</th><td>{_cell(v)}</td></tr>" for k, v in best.get("test_metrics", {}).items()
        ]
        parts.append("</table><h3>Configuration</h3><table>")
        parts += [f"<tr><th>{html.escape(k)}</th><td>{_cell(v)}</td></tr>" for k, v in best["params"].items()]
        parts.append("</table>")
    parts.append("<h2>Plots</h2>" + "".join(f'<p><img src="{p}" alt="{p}" width="720"></p>' for p in pngs))
    first = True
    for title, figure in figures:
        parts.append(f"<h3>{html.escape(title)}</h3>")
        if figure is not None:
            parts.append(figure.to_html(full_html=False, include_plotlyjs=first))  # plotly.js inlined once: offline
            first = False
    page = (
        "<!doctype html><html><head><meta charset='utf-8'><title>hpo report</title>"
        "<style>body{font-family:sans-serif;max-width:1100px;margin:auto}th{text-align:left;padding-right:1em}</style>"
        "</head><body>" + "\n".join(parts) + "</body></html>"
    )
    path = folder / _constants.REPORT_HTML
    path.write_text(page, encoding="utf-8")
    return path
