"""A journal file that keeps its replayed state beside it, so opening a big study replays only
the records written since.

Optuna's JournalStorage asks a backend that implements ``BaseJournalSnapshot`` for a snapshot
when it opens, and gives it one every 100 trials (hpo's storage, ``_journal.py``, gives it one less
often as the study grows). hpo keeps it in ``<journal>.snapshot``
together with where in the journal it ends and the bytes of the journal's first and last
replayed records: a snapshot that does not match the journal (another Optuna, a journal that was
replaced, cut or repaired) is ignored and the journal replayed from its start, as without one.
The journal stays the only record; deleting the snapshot loses nothing.

Two Optuna internals make this work (tests/test_optuna_contract.py pins both): the hook class
``BaseJournalSnapshot`` and the file backend's ``_log_number_offset`` (log number -> byte offset).
Should an Optuna release move either, the backend falls back to what it is without them: a plain
journal file, replayed from its start on every open (slower for a big study, the same trials).

The backend also appends whole records or nothing: a write cut off (a full disk) is cut back off
the journal, under the journal's lock, before the error goes on, so the journal stays readable and
the driver may append again once there is room (it retries through such an outage). That uses
Optuna's journal lock (``get_lock_file``, the backend's ``_lock`` and ``_file_path``, pinned by the
same contract test); without them the append is Optuna's own, which can leave part of a record.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Any

import optuna
from optuna.storages.journal import JournalFileBackend

try:  # Optuna's journal lock, as its own append takes it
    from optuna.storages.journal._file import get_lock_file as _journal_lock
except ImportError:  # moved: Optuna's own append (see the module's docstring)
    _journal_lock = None  # type: ignore[assignment]  # its absence is the fallback

try:  # Optuna's hook; not re-exported (its Redis backend uses it)
    from optuna.storages.journal._base import BaseJournalSnapshot as _SnapshotHook
except ImportError:  # moved: no snapshots, the journal alone (see the module's docstring)
    _SnapshotHook = object  # type: ignore[assignment,misc]  # the hook's absence is the fallback

SUFFIX = ".snapshot"
_log = logging.getLogger(__name__)


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def hooked() -> bool:
    """Whether this Optuna has the snapshot hook (without it, no snapshots: the module's docstring)."""
    return _SnapshotHook is not object


def _offsets(backend: JournalFileBackend) -> dict[int, int] | None:
    """The backend's log number -> byte offset of that record, as read so far; None when this
    Optuna keeps no such map (then no snapshot is written or used)."""
    offsets = getattr(backend, "_log_number_offset", None)
    return offsets if isinstance(offsets, dict) else None


class SnapshotJournalBackend(JournalFileBackend, _SnapshotHook):
    """Optuna's journal file backend plus ``<journal>.snapshot``."""

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self._journal = Path(path)
        self.snapshot_path = Path(path + SUFFIX)
        self._deferred = False  # fsync at sync(), not after each append (a driver's GroupCommit)
        self.pending = 0  # records appended since the last sync, while deferred

    def defer_sync(self) -> None:
        """From now on an append writes its records at once and ``sync()`` makes them durable."""
        self._deferred = True

    def sync(self) -> None:
        """fsync the journal when records were appended since the last sync (any descriptor of the
        file flushes its pages)."""
        pending = self.pending  # (another thread may append meanwhile: its record waits for the next sync)
        if not pending:
            return
        fd = os.open(self._journal, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        self.pending -= pending

    def append_logs(self, logs: list[dict[str, Any]]) -> None:
        """Append ``logs`` whole, or leave the journal as it was and raise (module docstring)."""
        lock, path = getattr(self, "_lock", None), getattr(self, "_file_path", None)
        if _journal_lock is None or lock is None or path is None:
            super().append_logs(logs)  # (Optuna's own fsyncs each append)
            return
        data = ("\n".join(json.dumps(log, separators=(",", ":")) for log in logs) + "\n").encode("utf-8")
        with _journal_lock(lock):
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                start = os.fstat(fd).st_size
                try:
                    view = memoryview(data)
                    while view:  # unbuffered: nothing of it is left to be written later
                        view = view[os.write(fd, view) :]
                    if self._deferred:
                        self.pending += len(logs)
                    else:
                        os.fsync(fd)
                except OSError:
                    os.ftruncate(fd, start)  # frees what it took, on a full disk too
                    raise
            finally:
                os.close(fd)

    def save_snapshot(self, snapshot: bytes) -> None:
        """Optuna's replay state, which it takes right after reading the journal to its end."""
        offsets = _offsets(self)
        records = max(offsets or (), default=0)
        if offsets is None or records == 0:
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
        try:
            temporary.write_bytes(json.dumps(header).encode() + b"\n" + snapshot)
            os.replace(temporary, self.snapshot_path)  # readers see the old snapshot or the new, whole
        except OSError as exc:  # a full disk: the snapshot is a cache, the journal is the record
            temporary.unlink(missing_ok=True)
            _log.warning(
                "could not write the journal's snapshot %s (%s); the study is unaffected", self.snapshot_path, exc
            )

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
        offsets = _offsets(self)
        if not matches or offsets is None:
            return None
        offsets[header["records"]] = header["end"]
        return snapshot
