"""Opening an Optuna storage from a URL or journal path, refusing what would corrupt a study."""

from __future__ import annotations

import time
from pathlib import Path

import optuna

from hpo._errors import HpoError
from hpo.storage._commit import GroupCommit
from hpo.storage._journal import JournalStorage
from hpo.storage._snapshot import SnapshotJournalBackend
from hpo.storage._url import mask_url, scrub, storage_kind


def check_journal_tail(path: Path) -> None:
    """Refuse to append to a journal whose last record is incomplete: Optuna would glue the next
    record onto it and the study could no longer be read."""
    if not path.exists() or path.stat().st_size == 0:
        return
    with path.open("rb") as file:
        file.seek(-1, 2)
        if file.read(1) == b"\n":
            return
        file.seek(0)
        keep = file.read().rfind(b"\n") + 1
    raise HpoError(
        f"the study journal {path} ends with an incomplete record (a write was cut off: disk full or a kill "
        f"during a write); hpo will not append to it. It was left untouched. To continue, keep a backup and drop "
        f"the incomplete tail: cp {path} {path}.bak && head -c {keep} {path}.bak > {path}"
    )


def _open_journal(path: Path, append: bool, commit: GroupCommit | None) -> optuna.storages.BaseStorage:
    if append:
        check_journal_tail(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        backend = SnapshotJournalBackend(str(path))
        if commit is not None:
            commit.add(backend)
        return JournalStorage(backend)
    except (PermissionError, NotADirectoryError, FileExistsError, IsADirectoryError) as exc:
        raise HpoError(
            f"cannot create or write the study journal {path}: {exc.strerror}; choose a writable --results-dir or "
            "--storage"
        ) from None
    except (
        ValueError,
        UnicodeDecodeError,
        KeyError,
        TypeError,
        IndexError,
        AttributeError,
    ) as exc:  # replaying bad records
        raise HpoError(
            f"the study journal {path} is corrupt or truncated ({type(exc).__name__}: {exc}); "
            "it was left untouched: restore it from a backup or point --storage elsewhere"
        ) from None


def _open_rdb(url: str) -> optuna.storages.BaseStorage:
    import sqlalchemy.exc

    try:
        try:
            return optuna.storages.RDBStorage(url, engine_kwargs={"pool_pre_ping": True})
        except (sqlalchemy.exc.IntegrityError, sqlalchemy.exc.ProgrammingError) as exc:
            # Two drivers creating Optuna's tables in a new database at once: one loses the race
            # (PostgreSQL: a duplicate pg_type entry, or `type "studydirection" already exists`);
            # the tables exist now.
            if isinstance(exc, sqlalchemy.exc.ProgrammingError) and "already exists" not in str(exc):
                raise
            time.sleep(1.0)
            return optuna.storages.RDBStorage(url, engine_kwargs={"pool_pre_ping": True})
    except ImportError as exc:  # the database driver is an optional dependency
        raise HpoError(
            f"cannot open storage {mask_url(url)}: its database driver is not installed ({exc}); "
            'install it, e.g. pip install "hpo[postgres]" for PostgreSQL (psycopg2) or pymysql for MySQL'
        ) from None
    except (ValueError, sqlalchemy.exc.SQLAlchemyError, optuna.exceptions.StorageInternalError) as exc:
        message = scrub(str(exc), url).splitlines()[0]
        raise HpoError(
            f"cannot open storage {mask_url(url)}: {type(exc).__name__}: {message}; "
            "check that the server is running and the URL (user, password, database) is right"
        ) from None


def open_storage(url: str, append: bool = False, commit: GroupCommit | None = None) -> optuna.storages.BaseStorage:
    """A journal file (path) or an RDB storage (URL). Raises HpoError naming the masked URL.

    ``append`` (the run path) also refuses a journal with a truncated last record; ``commit``: a
    journal's records are made durable at ``commit.sync()`` (a driver's), not one by one.
    """
    if storage_kind(url) == "journal":
        return _open_journal(Path(url), append, commit)
    return _open_rdb(url)
