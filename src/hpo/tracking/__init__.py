"""Trials also tracked in MLflow and TensorBoard, written by the driver from the sweep's events."""

from hpo.tracking._mlflow import tracking_uri
from hpo.tracking._trackers import Tracker, Trackers, open_trackers, run_summary

__all__ = ["Tracker", "Trackers", "open_trackers", "run_summary", "tracking_uri"]
