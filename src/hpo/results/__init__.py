"""Results of a sweep: trial tables and exports, the best model with test metrics, the report."""

from hpo.results._best import best_summary, describes, load_best, write_best
from hpo.results._finalize import Written, finalize, refresh, write_exports, write_resolved_sweep
from hpo.results._finish import FinishRun, summarize_finish, top_candidates
from hpo.results._frame import export_frame, trials_frame
from hpo.results._pareto import front_summary, load_pareto, write_pareto
from hpo.results._report import summarize, write_report
from hpo.results._snapshot import fresh_snapshot, remember_snapshot

__all__ = [
    "FinishRun",
    "Written",
    "best_summary",
    "describes",
    "export_frame",
    "finalize",
    "fresh_snapshot",
    "front_summary",
    "load_best",
    "load_pareto",
    "refresh",
    "remember_snapshot",
    "summarize",
    "summarize_finish",
    "top_candidates",
    "trials_frame",
    "write_best",
    "write_exports",
    "write_pareto",
    "write_report",
    "write_resolved_sweep",
]
