"""Storage URLs: which backend a URL names, and how to print it without any credential."""

from __future__ import annotations

import re

_RDB_SCHEMES = ("sqlite", "postgresql", "mysql")
_SCHEME_ALIASES = {"postgres": "postgresql", "mariadb": "mysql"}
# userinfo ends at the LAST '@' before the host: an unencoded '@' inside a password stays masked.
_USERINFO = re.compile(r"^(?P<scheme>[A-Za-z0-9+.\-]+://)(?P<user>[^:/@?#]*):(?P<password>.*)@(?P<host>[^@]*)$")
# Query-string credentials that SQLAlchemy drivers accept (psycopg2, pymysql, mysqlclient, ...).
_QUERY_SECRET = re.compile(r"(?i)(?P<key>[?&](?:password|passwd|pwd|sslpassword|token|secret)=)(?P<value>[^&#]*)")


def mask_url(url: str) -> str:
    """The URL with every credential replaced by ``***``.

    ``postgresql://user:secret@host/db`` -> ``postgresql://user:***@host/db``; also
    ``?password=...`` in the query string and passwords holding an unencoded ``@``.
    """
    masked = url
    match = _USERINFO.match(masked)
    if match:
        masked = f"{match['scheme']}{match['user']}:***@{match['host']}"
    return _QUERY_SECRET.sub(lambda m: f"{m['key']}***", masked)


def storage_kind(url: str) -> str:
    """``journal`` for a file path, else the URL's database family (``sqlite``, ``postgresql``, ``mysql``).

    Raises ValueError for a URL scheme Optuna cannot store a study in.
    """
    if "://" not in url:
        return "journal"
    scheme = url.split("://", 1)[0].split("+", 1)[0].lower()
    scheme = _SCHEME_ALIASES.get(scheme, scheme)
    if scheme not in _RDB_SCHEMES:
        raise ValueError(
            f"the storage URL's scheme must be one of sqlite, postgresql, mysql (or a journal file path), "
            f"but got {mask_url(url)!r}"
        )
    return scheme


def secrets_in(url: str) -> list[str]:
    """The credential strings a URL holds (to scrub them from driver error messages)."""
    found = []
    match = _USERINFO.match(url)
    if match and match["password"]:
        found.append(match["password"])
    found += [m["value"] for m in _QUERY_SECRET.finditer(url) if m["value"]]
    return found


def scrub(text: str, url: str) -> str:
    """``text`` with the URL and each of its credentials replaced by their masked forms."""
    text = text.replace(url, mask_url(url))
    for secret in secrets_in(url):
        text = text.replace(secret, "***")
    return text
