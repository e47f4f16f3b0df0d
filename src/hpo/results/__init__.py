"""Results of a sweep: trial tables and exports, the best model with test metrics, the report."""

from hpo.results._best import best_summary, evaluate_best, full_params
from hpo.results._finalize import finalize, load_best, write_resolved_sweep
from hpo.results._frame import export_frame, trials_frame
from hpo.results._report import summarize, write_report

__all__ = [
    "best_summary",
    "evaluate_best",
    "export_frame",
    "finalize",
    "full_params",
    "load_best",
    "summarize",
    "trials_frame",
    "write_report",
    "write_resolved_sweep",
]
