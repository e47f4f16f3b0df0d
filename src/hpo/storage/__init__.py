"""Where studies live: storage URLs and their credentials, opening, locking and driver heartbeats.

Every other part of hpo asks this package about storage; nothing else opens one.
"""

from __future__ import annotations

from pathlib import Path

import optuna

from hpo.storage._commit import GroupCommit
from hpo.storage._heartbeat import Heartbeat, driver_alive, driver_records
from hpo.storage._journal import JournalStorage
from hpo.storage._lock import StorageLock
from hpo.storage._open import check_journal_tail, open_storage
from hpo.storage._outage import OutagePolicy, OutageTolerantStorage, StorageOutage, is_outage
from hpo.storage._url import mask_url, scrub, storage_kind


class Store:
    """One study storage, named by a journal path or a database URL. With ``outage_s`` (a sweep's
    driver) its storage and its lock ride out an outage of that many seconds (``OutagePolicy``),
    and a journal's records are made durable together at ``sync()`` (``GroupCommit``)."""

    def __init__(self, url: str, outage_s: float | None = None) -> None:
        self.url = url
        self.kind = storage_kind(url)
        self.policy = None if outage_s is None else OutagePolicy(mask_url(url), outage_s)
        self.lock = StorageLock(url, self.policy)
        self._commit = None if outage_s is None else GroupCommit()

    @property
    def masked(self) -> str:
        return mask_url(self.url)

    def exists(self) -> bool:
        """False only for a journal file that was never written (a database is asked when opened)."""
        return self.kind != "journal" or Path(self.url).exists()

    def open(self, append: bool = False) -> optuna.storages.BaseStorage:
        """The Optuna storage; ``append`` refuses a journal whose last write was cut off."""
        storage = open_storage(self.url, append=append, commit=self._commit)
        if self.policy is None:
            return storage
        # Optuna caches an RDB storage's trials in a wrapper of its own (get_storage): keep it inside.
        inner = optuna.storages.get_storage(storage)
        return OutageTolerantStorage(inner, self.policy)  # type: ignore[abstract]  # calls set by _outage._retrying

    def pending(self) -> int:
        """Journal records this driver wrote and has not yet made durable (``sync``)."""
        return 0 if self._commit is None else self._commit.pending()

    def sync(self) -> None:
        """Make the journal records this driver wrote durable (a database commits each write)."""
        if self._commit is not None:
            self._commit.sync()

    def close(self) -> None:
        try:
            self.sync()
        finally:
            self.lock.close()


__all__ = [
    "GroupCommit",
    "Heartbeat",
    "JournalStorage",
    "OutagePolicy",
    "OutageTolerantStorage",
    "StorageLock",
    "StorageOutage",
    "Store",
    "check_journal_tail",
    "driver_alive",
    "driver_records",
    "is_outage",
    "mask_url",
    "open_storage",
    "scrub",
    "storage_kind",
]
