"""Storage URLs: which backend a URL names, and how to print it without its password."""

from __future__ import annotations

import re

_RDB_SCHEMES = ("sqlite", "postgresql", "postgres", "mysql")
_PASSWORD = re.compile(r"^(?P<head>[A-Za-z0-9+.\-]+://[^:/@]*:)(?P<password>[^@]*)(?P<tail>@.*)$")


def mask_url(url: str) -> str:
    """``postgresql://user:secret@host/db`` -> ``postgresql://user:***@host/db``."""
    match = _PASSWORD.match(url)
    if not match:
        return url
    return f"{match['head']}***{match['tail']}"


def storage_kind(url: str) -> str:
    """``journal`` for a file path, else the URL's database family (``sqlite``, ``postgresql``, ``mysql``).

    Raises ValueError for a URL scheme Optuna cannot store a study in.
    """
    if "://" not in url:
        return "journal"
    scheme = url.split("://", 1)[0].split("+", 1)[0].lower()
    if scheme == "postgres":
        scheme = "postgresql"
    if scheme not in _RDB_SCHEMES:
        raise ValueError(
            f"storage URL scheme must be one of sqlite, postgresql, mysql (or a journal file path), "
            f"but got {mask_url(url)!r}"
        )
    return scheme
