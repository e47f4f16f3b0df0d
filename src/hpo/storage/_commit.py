"""A driver's journal writes made durable together (a group commit).

Each record is written to the journal at once, so another process reads it and a killed driver
loses none of it (it is in the kernel's page cache). Making it durable, the ``fsync`` that survives
the machine itself going down, was half of a driver's time per trial when every record paid one.
A sweep's driver instead syncs once per turn of its loop, after the turn's launches and events and
before it answers the workers (a pruned trial's stop, an answer to a report, a kept checkpoint).
What a machine crash can lose is the records of the turn it happened in, none of which a worker
was answered on.
"""

from __future__ import annotations

from hpo.storage._snapshot import SnapshotJournalBackend


class GroupCommit:
    """The journal backends one driver opened, each writing without ``fsync`` until ``sync()``."""

    def __init__(self) -> None:
        self._backends: list[SnapshotJournalBackend] = []

    def add(self, backend: SnapshotJournalBackend) -> None:
        backend.defer_sync()
        self._backends.append(backend)

    def pending(self) -> int:
        """Records written and not yet made durable."""
        return sum(backend.pending for backend in self._backends)

    def sync(self) -> None:
        """Make every record written so far durable (nothing to do when none was written since)."""
        for backend in self._backends:
            backend.sync()
