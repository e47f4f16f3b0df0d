"""Sweep progress: a live table on a terminal, one plain line per event otherwise."""

from __future__ import annotations

import sys
import time
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.table import Table

from hpo._direction import better
from hpo.executor._notices import (
    CarriedOver,
    EarlierRuns,
    EpochReported,
    NoiseMeasured,
    Notice,
    ParamsUnread,
    Recovered,
    StoppedEarly,
    StudyOpened,
    SweepAborting,
    TrialComplete,
    TrialContinued,
    TrialFailedEnd,
    TrialInterrupted,
    TrialPaused,
    TrialPromoted,
    TrialPruned,
    TrialResumed,
    TrialStarted,
)

# each end, by the count it adds to
_COUNTED: dict[type, str] = {
    TrialComplete: "complete",
    TrialPruned: "pruned",
    TrialFailedEnd: "failed",
    TrialInterrupted: "interrupted",
}


def _in_notebook() -> bool:
    """Whether this runs in a Jupyter kernel (rich then renders the live table in the cell)."""
    return Console().is_jupyter


class Progress:
    """Listener for the sweep's notices (``hpo.executor``'s ``Notice`` types)."""

    def __init__(
        self, total: int | None, direction: str, metric: str, live: bool | None = None, stream: Any = None
    ) -> None:
        self.total = total
        self.direction = direction
        self.metric = metric
        self.counts = {"running": 0, "complete": 0, "pruned": 0, "failed": 0, "interrupted": 0}
        self.best: float | None = None
        self.earlier = 0  # finished trials of earlier runs of the same study
        self.started = time.monotonic()
        self._stream = stream or sys.stdout
        self._live_mode = (self._stream.isatty() or _in_notebook()) if live is None else live
        self._live: Live | None = None

    def __enter__(self) -> Progress:
        if self._live_mode:
            self._live = Live(self._table(), console=Console(file=self._stream), refresh_per_second=4, transient=False)
            self._live.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        """Stop the live table (it stays on screen); later events print nothing. Idempotent."""
        if self._live is not None:
            self._live.update(self._table())
            self._live.__exit__(None, None, None)
            self._live = None

    def __call__(self, notice: Notice) -> None:
        match notice:
            case ParamsUnread(names=names, trials=trials):  # a warning, on a terminal as well
                print(
                    f"warning: no finished trial's code read the space parameters {', '.join(names)} "
                    f"({trials} trials had them; a typo in the sweep file?)",
                    file=sys.stderr,
                    flush=True,
                )
                return
            case StudyOpened():  # the study's name: trackers use it, the table does not
                return
            case EpochReported():
                if self._live is not None:
                    self._live.update(self._table())
                return
            case EarlierRuns(finished=finished, best=best):  # the study holds trials from earlier runs
                self.earlier, self.best = finished, best
            case TrialStarted() | TrialContinued():
                self.counts["running"] += 1
            case TrialPaused():  # promotion: waits, RUNNING in the study, until promoted or the end
                self.counts["running"] -= 1
            case TrialComplete() | TrialPruned() | TrialFailedEnd() | TrialInterrupted():
                if not (isinstance(notice, TrialPruned) and notice.was_paused):  # a paused trial was not running
                    self.counts["running"] -= 1
                self.counts[_COUNTED[type(notice)]] += 1
                if (
                    isinstance(notice, TrialComplete)
                    and notice.feasible
                    and better(notice.value, self.best, self.direction)
                ):
                    self.best = notice.value  # (an infeasible trial is never the best)
        if self._live is not None:
            self._live.update(self._table())
        else:
            self._line(notice)

    def _this_run(self) -> int:
        return self.counts["complete"] + self.counts["pruned"] + self.counts["failed"]

    def _done(self) -> int:
        return self.earlier + self._this_run()

    def _eta(self) -> str:
        this_run = self._this_run()
        if not self.total or not this_run:
            return "-"
        remaining = max(self.total - self._done(), 0) * (time.monotonic() - self.started) / this_run
        return f"{remaining:.0f}s"

    def _line(self, notice: Notice) -> None:
        number = getattr(notice, "number", -1)
        match notice:
            case TrialStarted():
                what = "started"
            case TrialContinued(epoch=epoch):
                what = f"promoted: continues after epoch {epoch}"
            case TrialPaused(epoch=epoch, cut_short=reason) if reason:
                what = f"{reason}: back to paused after epoch {epoch}, continues from its checkpoint there"
            case TrialPaused(epoch=epoch):
                what = f"paused after epoch {epoch}"
            case TrialResumed(resumes=resumes, epoch=epoch):
                what = f"continues interrupted trial {resumes} from its checkpoint after epoch {epoch}"
            case TrialPromoted(epoch=epoch, to_epoch=to_epoch):
                what = f"promoted at its rung: goes on after epoch {epoch} to epoch {to_epoch} without pausing"
            case TrialComplete(value=value, epochs=epochs):
                what = f"complete {self.metric}={value:.4f} after {epochs} epochs"
            case TrialPruned(epochs=epochs):
                what = f"pruned at epoch {epochs}"
            case TrialFailedEnd(reason=reason):
                what = f"failed: {reason}"
            case TrialInterrupted(reason=reason):
                what = f"interrupted ({reason}); its configuration runs again"
            case SweepAborting(reason=reason):
                what = f"sweep aborted: {reason}"
            case NoiseMeasured(seed=seed, value=value, threshold=threshold):
                got = "failed" if value is None else f"{self.metric}={value:.4f}"
                what = (
                    f"re-trained with seed {seed} for the seed noise (not a trial): {got}; improvements count "
                    f"above {threshold:.4g}"
                )
            case StoppedEarly(reason=reason, saved_trials=saved):
                spared = "" if saved is None else f", {saved} trials of the budget spared"
                what = f"stopping: {reason}; running trials finish{spared}"
            case EarlierRuns(finished=finished):
                what = f"continuing the study: {finished} trials finished in earlier runs"
            case CarriedOver(source=source, carried=carried, incompatible=incompatible):
                left = "".join(f"\n    trial {n}: {why}" for n, why in incompatible[:10])
                more = f"\n    ... and {len(incompatible) - 10} more" if len(incompatible) > 10 else ""
                what = (
                    f"carries {carried} finished trials of study {source!r} (the sampler learns from them; they do "
                    f"not count in the budget); {len(incompatible)} did not fit the new space{left}{more}"
                )
            case Recovered(trials=trials, repaused=repaused):
                parts = []
                if trials:
                    parts.append(
                        f"the trials a dead driver left RUNNING were interrupted, not failed: {list(trials)} "
                        "(marked FAIL and interrupted in the study, their configurations queued to run again)"
                    )
                if repaused:
                    parts.append(
                        f"the promoted trials a dead driver was continuing went back to paused at their rungs: "
                        f"{list(repaused)} (they continue from those checkpoints when promoted again)"
                    )
                what = "; ".join(parts)
            case _:
                return
        best = "-" if self.best is None else f"{self.best:.4f}"
        prefix = "" if number < 0 else f"trial {number} "
        total = self.total or "?"
        print(
            f"[{time.monotonic() - self.started:6.1f}s] {prefix}{what} | done {self._done()}/{total} "
            f"(pruned {self.counts['pruned']}, failed {self.counts['failed']}), running {self.counts['running']}, "
            f"best {best}, eta {self._eta()}",
            file=self._stream,
            flush=True,
        )

    def _table(self) -> Table:
        table = Table(title=f"hpo sweep: {self.metric} ({self.direction})", show_header=True)
        for column in ("done", "running", "complete", "pruned", "failed", "best", "elapsed", "eta"):
            table.add_column(column, justify="right")
        best = "-" if self.best is None else f"{self.best:.4f}"
        table.add_row(
            f"{self._done()}/{self.total or '?'}",
            str(self.counts["running"]),
            str(self.counts["complete"]),
            str(self.counts["pruned"]),
            str(self.counts["failed"]),
            best,
            f"{time.monotonic() - self.started:.0f}s",
            self._eta(),
        )
        return table
