"""A journal file that keeps its replayed state beside it, so opening a big study replays only
the records written since.

Optuna's JournalStorage asks a backend that implements ``BaseJournalSnapshot`` for a snapshot
when it opens, and gives it one every 100 trials. hpo keeps it in ``<journal>.snapshot``
together with where in the journal it ends and the bytes of the journal's first and last
replayed records: a snapshot that does not match the journal (another Optuna, a journal that was
replaced, cut or repaired) is ignored and the journal replayed from its start, as without one.
The journal stays the only record; deleting the snapshot loses nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import optuna
from optuna.storages.journal import JournalFileBackend
from optuna.storages.journal._base import (
    BaseJournalSnapshot,  # Optuna's hook; not re-exported (its Redis backend uses it)
)

SUFFIX = ".snapshot"


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class SnapshotJournalBackend(JournalFileBackend, BaseJournalSnapshot):
    """Optuna's journal file backend plus ``<journal>.snapshot``."""

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self._journal = Path(path)
        self.snapshot_path = Path(path + SUFFIX)

    def save_snapshot(self, snapshot: bytes) -> None:
        """Optuna's replay state, which it takes right after reading the journal to its end."""
        offsets = self._log_number_offset  # log number -> byte offset of its record, as read so far
        records = max(offsets)
        if records == 0:
            return
        end, last_start = offsets[records], offsets[records - 1]
        with open(self._journal, "rb") as journal:
            first = journal.readline()
            journal.seek(last_start)
            last = journal.read(end - last_start)
        header = {
            "optuna": optuna.__version__,
            "records": records,
            "end": end,
            "first": _digest(first),
            "last": _digest(last),
            "last_start": last_start,
        }
        temporary = self.snapshot_path.with_name(f"{self.snapshot_path.name}.{os.getpid()}.tmp")
        temporary.write_bytes(json.dumps(header).encode() + b"\n" + snapshot)
        os.replace(temporary, self.snapshot_path)  # readers see the old snapshot or the new, whole

    def load_snapshot(self) -> bytes | None:
        """The snapshot when it matches this journal and this Optuna; then replay starts after it."""
        try:
            with open(self.snapshot_path, "rb") as file:
                header = json.loads(file.readline())
                snapshot = file.read()
            with open(self._journal, "rb") as journal:
                first = journal.readline()
                journal.seek(header["last_start"])
                last = journal.read(header["end"] - header["last_start"])
        except (OSError, ValueError, KeyError, TypeError):
            return None
        matches = (
            header["optuna"] == optuna.__version__
            and self._journal.stat().st_size >= header["end"]
            and _digest(first) == header["first"]
            and _digest(last) == header["last"]
            and last.endswith(b"\n")
        )
        if not matches:
            return None
        self._log_number_offset[header["records"]] = header["end"]
        return snapshot
