"""A lock shared by every driver of one storage: an operating-system lock on a file beside a journal
or SQLite file, or a database session lock (PostgreSQL advisory lock, MySQL named lock) for several
hosts. A held lock is held until its holder releases it or dies, however long that takes: nothing
breaks in after a grace period (a slow ask under the lock must not let a second driver past the
budget), and a dead holder's lock is free at once."""

from __future__ import annotations

import contextlib
import fcntl
import os
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from hpo.storage._url import storage_kind

_MYSQL_WAIT_S = 120


def _lock_file(url: str, name: str) -> Path:
    path = Path(url if storage_kind(url) == "journal" else url.split(":///", 1)[-1])
    return path.with_name(f"{path.name}.hpo-{name}.lock")


def _key(name: str) -> int:
    """A stable 31-bit advisory-lock key per lock name (the same in every driver)."""
    return zlib.crc32(f"hpo:{name}".encode()) & 0x7FFFFFFF


@contextlib.contextmanager
def _file_lock(url: str, name: str) -> Iterator[None]:
    """``flock`` on ``<file>.hpo-<name>.lock`` (kept on disk: deleting it would race). The kernel
    frees it when the holder dies; on NFS, Linux maps it to the server's byte-range locks."""
    fd = os.open(_lock_file(url, name), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


@contextlib.contextmanager
def _database_lock(engine: Any, kind: str, name: str) -> Iterator[None]:
    import sqlalchemy

    if kind == "postgresql":
        acquire, release = f"SELECT pg_advisory_lock({_key(name)})", f"SELECT pg_advisory_unlock({_key(name)})"
    else:
        acquire, release = f"SELECT GET_LOCK('hpo_{name}', {_MYSQL_WAIT_S})", f"SELECT RELEASE_LOCK('hpo_{name}')"
    with engine.connect() as conn:
        conn.execute(sqlalchemy.text(acquire))
        try:
            yield
        finally:
            conn.execute(sqlalchemy.text(release))


class StorageLock:
    """``with lock("budget"):`` holds the storage-wide lock of that name; reusable, one engine."""

    def __init__(self, url: str) -> None:
        self._url = url
        self._kind = storage_kind(url)
        self._engine: Any = None

    @contextlib.contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        if self._kind in ("journal", "sqlite"):
            with _file_lock(self._url, name):
                yield
            return
        if self._engine is None:
            import sqlalchemy

            self._engine = sqlalchemy.create_engine(self._url, pool_size=1, pool_pre_ping=True)
        with _database_lock(self._engine, self._kind, name):
            yield

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None
