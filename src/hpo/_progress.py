"""Sweep progress: a live table on a terminal, one plain line per event otherwise."""

from __future__ import annotations

import sys
import time
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.table import Table

from hpo._direction import better


def _in_notebook() -> bool:
    """Whether this runs in a Jupyter kernel (rich then renders the live table in the cell)."""
    return Console().is_jupyter


class Progress:
    """Listener for the executor's events (started, epoch, complete, pruned, failed, aborted)."""

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

    def __call__(self, event: str, number: int, detail: dict[str, Any]) -> None:
        if event == "unread":  # a warning, on a terminal as well
            print(
                f"warning: no finished trial's code read the space parameters {', '.join(detail['names'])} "
                f"({detail.get('trials', 1)} trials had them; a typo in the sweep file?)",
                file=sys.stderr,
                flush=True,
            )
            return
        if event == "opened":  # the study's name: trackers use it, the table does not
            return
        if event == "epoch":
            if self._live is not None:
                self._live.update(self._table())
            return
        if event == "resumed":  # the study already holds finished trials from earlier runs
            self.earlier = int(detail["finished"])
            self.best = detail.get("best")
        elif event in ("started", "continued"):
            self.counts["running"] += 1
        elif event == "paused":  # promotion: waits, RUNNING in the study, until promoted or the end
            self.counts["running"] -= 1
        elif event in ("complete", "pruned", "failed", "interrupted"):
            if not detail.get("was_paused"):  # a paused trial ending at the sweep's end was not running
                self.counts["running"] -= 1
            self.counts[event] += 1
            value = detail.get("value")
            feasible = detail.get("feasible", True)  # an infeasible trial is never the best
            if event == "complete" and value is not None and feasible and better(value, self.best, self.direction):
                self.best = value
        if self._live is not None:
            self._live.update(self._table())
        else:
            self._line(event, number, detail)

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

    def _line(self, event: str, number: int, detail: dict[str, Any]) -> None:
        what = {
            "started": "started",
            "continued": f"promoted: continues after epoch {detail.get('epoch')}",
            "paused": f"paused after epoch {detail.get('epoch')}",
            "promoted": (
                f"promoted at its rung: goes on after epoch {detail.get('epoch')} "
                f"to epoch {detail.get('to_epoch')} without pausing"
            ),
            "complete": (
                f"complete {self.metric}={detail.get('value', float('nan')):.4f} after {detail.get('epochs')} epochs"
            ),
            "pruned": f"pruned at epoch {detail.get('epochs')}",
            "failed": f"failed: {detail.get('reason')}",
            "interrupted": f"interrupted ({detail.get('reason')}); its configuration runs again",
            "aborted": f"sweep aborted: {detail.get('reason')}",
            "resumed": f"continuing the study: {detail.get('finished')} trials finished in earlier runs",
            "recovered": (
                f"the trials a dead driver left RUNNING were interrupted, not failed: {detail.get('trials')} "
                "(marked FAIL and interrupted in the study, their configurations queued to run again)"
            ),
        }[event]
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
