"""A throwaway PostgreSQL server for the tests (Debian's binaries; CI installs them)."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from tests.conftest import free_port

PASSWORD = "s3cret-pw"


@contextmanager
def postgres_server() -> Iterator[str]:
    """Start a server on a free loopback port; yield a URL (with a password, to test masking)."""
    bindirs = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
    if not bindirs:
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL server binaries are missing in CI; .ci/system-deps.sh installs them")
        pytest.skip("PostgreSQL server binaries not installed (run .ci/system-deps.sh)")
    bindir = bindirs[-1]
    folder = tempfile.mkdtemp(prefix="hpo-pg-")
    os.chmod(folder, 0o755)
    as_user: list[str] = []
    if os.geteuid() == 0:  # the server refuses to run as root
        shutil.chown(folder, "postgres", "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    data = os.path.join(folder, "data")
    port = free_port()
    run = lambda *cmd: subprocess.run([*as_user, *cmd], check=True, capture_output=True, text=True)  # noqa: E731
    run(f"{bindir}/initdb", "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8")
    run(f"{bindir}/pg_ctl", "-D", data, "-l", os.path.join(folder, "log"), "-w", "-o",
        f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c max_connections=200", "start")
    try:
        run(f"{bindir}/createdb", "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "hpo")
        yield f"postgresql+psycopg2://postgres:{PASSWORD}@127.0.0.1:{port}/hpo"
    finally:
        subprocess.run([*as_user, f"{bindir}/pg_ctl", "-D", data, "-m", "immediate", "stop"], capture_output=True)
        shutil.rmtree(folder, ignore_errors=True)
