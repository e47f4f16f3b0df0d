"""Where a sweep's trials are also tracked: MLflow, TensorBoard. Off unless asked for.

tracking:
  mlflow: {uri: http://127.0.0.1:5000, experiment: digits}   # or `mlflow: {}`: a local store
  tensorboard: true                                          # results/<sweep>/tensorboard/
"""

from __future__ import annotations

from pydantic import Field

from hpo.config._base import Strict


class MlflowConfig(Strict):
    """``uri``: the tracking server or store (default: MLFLOW_TRACKING_URI, else a SQLite store
    beside the sweep's results); ``experiment``: default the sweep's name. ``flush_timeout_s``:
    how long the end of a run waits for the last records to reach a slow or lost server."""

    uri: str | None = None
    experiment: str | None = None
    flush_timeout_s: float = Field(30.0, gt=0)


class TrackingConfig(Strict):
    mlflow: MlflowConfig | None = None
    tensorboard: bool = False
