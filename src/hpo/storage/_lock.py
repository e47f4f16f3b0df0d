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

from hpo.storage._outage import OutagePolicy, is_outage
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
def _database_lock(engine: Any, kind: str, name: str, policy: OutagePolicy | None) -> Iterator[None]:
    import sqlalchemy

    if kind == "postgresql":
        acquire, release = f"SELECT pg_advisory_lock({_key(name)})", f"SELECT pg_advisory_unlock({_key(name)})"
    else:
        acquire, release = f"SELECT GET_LOCK('hpo_{name}', {_MYSQL_WAIT_S})", f"SELECT RELEASE_LOCK('hpo_{name}')"

    def connect_and_acquire() -> Any:
        conn = engine.connect()
        try:
            # PostgreSQL's waits as long as it takes; MySQL's GET_LOCK gives up after its wait with
            # 0 (NULL on an error), so it is asked again until it returns 1: held, never assumed.
            while (got := conn.execute(sqlalchemy.text(acquire)).scalar()) != 1 and kind != "postgresql":
                if got is None:
                    raise RuntimeError(f"MySQL's GET_LOCK('hpo_{name}') failed (returned NULL)")
        except BaseException:
            conn.close()
            raise
        return conn

    conn = connect_and_acquire() if policy is None else policy.call(connect_and_acquire)
    try:
        yield
    finally:
        try:
            conn.execute(sqlalchemy.text(release))
        except Exception as exc:
            if policy is None or not is_outage(exc):
                raise
            # The server went away while this driver held the lock: it went with the session.
        finally:
            conn.close()


class StorageLock:
    """``with lock("budget"):`` holds the storage-wide lock of that name; reusable, one engine."""

    def __init__(self, url: str, policy: OutagePolicy | None = None) -> None:
        self._url = url
        self._kind = storage_kind(url)
        self._policy = policy
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
        with _database_lock(self._engine, self._kind, name, self._policy):
            yield

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None
