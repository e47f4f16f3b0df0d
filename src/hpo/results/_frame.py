"""The trials of a study as one pandas table (what `status`, `export` and the report show)."""

from __future__ import annotations

from typing import Any

import optuna
import pandas as pd
from optuna.trial import TrialState

from hpo import _constants
from hpo.config import ObjectiveConfig
from hpo.study import is_feasible, paused_at

_COLUMNS = [
    "number",
    "state",
    "value",
    "epochs",
    "duration_s",
    "fail_reason",
    "retry_of",
    "resumed_from_trial",
    "resumed_from_epoch",
    "carried_from",
    "host",
    "pid",
    "node",
    "gpus",
    "datetime_start",
]


def trials_frame(study: optuna.Study, objective: ObjectiveConfig | None = None) -> pd.DataFrame:
    """One row per trial: number, state, value, epochs reached, duration, fail reason, the trial
    it re-runs and the checkpoint it resumed from, the study it was carried from, where it ran
    (host, pid, Ray node, GPU ids), params (``params_*``) and last-epoch metrics (``metrics_*``).

    With several goals, ``value`` is the goal pruning watches (``objective.metric``; the first
    without ``objective``) and ``value_<goal>`` holds each; with constraints, ``feasible`` says
    whether a finished trial met them all."""
    rows: list[dict[str, Any]] = []
    names = study.metric_names or [str(i) for i in range(len(study.directions))]
    multi = len(study.directions) > 1
    watched = names.index(objective.metric) if multi and objective is not None and objective.metric in names else 0
    trials = study.get_trials(deepcopy=False)
    constrained = any(t.constraints for t in trials)
    for t in trials:
        duration = (
            (t.datetime_complete - t.datetime_start).total_seconds()
            if t.datetime_complete and t.datetime_start
            else None
        )
        epochs = t.user_attrs.get(_constants.ATTR_EPOCHS)
        if epochs is None and t.intermediate_values:
            epochs = max(t.intermediate_values)
        placement = t.user_attrs.get(_constants.ATTR_PLACEMENT) or {}
        resumed = t.user_attrs.get(_constants.ATTR_RESUMED_FROM) or [None, None]
        row: dict[str, Any] = {
            "number": t.number,
            "state": "PAUSED" if paused_at(t) is not None else t.state.name,  # RUNNING in Optuna, waiting for promotion
            "value": t.values[watched] if t.values else None,
            "epochs": epochs,
            "duration_s": duration,
            "fail_reason": t.user_attrs.get(_constants.ATTR_FAIL_REASON),
            "retry_of": t.user_attrs.get(_constants.ATTR_RETRY_OF),
            "resumed_from_trial": resumed[0],  # an interrupted trial's re-run: whose checkpoint, after which epoch
            "resumed_from_epoch": resumed[1],
            "carried_from": _origin(t.user_attrs.get(_constants.ATTR_CARRIED_FROM)),  # --carry-over: study#trial
            "host": placement.get("host"),
            "pid": placement.get("pid"),
            "node": placement.get("node"),
            "gpus": ",".join(placement.get("gpus") or []) or None,
            "datetime_start": t.datetime_start,
        }
        if multi:
            row.update({f"value_{name}": (t.values[i] if t.values else None) for i, name in enumerate(names)})
        if constrained:
            row["feasible"] = is_feasible(t) if t.state == TrialState.COMPLETE else None
        row.update({f"params_{k}": v for k, v in t.params.items()})
        row.update({f"metrics_{k}": v for k, v in (t.user_attrs.get(_constants.ATTR_METRICS) or {}).items()})
        rows.append(row)
    frame = pd.DataFrame(rows)
    if frame.empty:
        return pd.DataFrame(columns=_COLUMNS)
    return frame.sort_values("number").reset_index(drop=True)


def _origin(carried: dict[str, Any] | None) -> str | None:
    return None if not carried else f"{carried['study']}#{carried['trial']}"


def export_frame(frame: pd.DataFrame, path: str, fmt: str) -> None:
    """Write ``frame`` as csv, parquet or json (records) at ``path``."""
    if fmt == "csv":
        frame.to_csv(path, index=False)
    elif fmt == "parquet":
        frame.astype({c: "string" for c in frame.columns if frame[c].dtype == object}).to_parquet(path, index=False)
    elif fmt == "json":
        frame.to_json(path, orient="records", date_format="iso", indent=2)
    else:
        raise ValueError(f"format must be csv, parquet or json, but got {fmt!r}")
