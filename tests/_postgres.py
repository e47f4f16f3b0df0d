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


class PostgresServer:
    """A server on a free loopback port with a database ``hpo``; ``stop`` and ``start`` it at will
    (the data stays), as a database restart or failover would."""

    def __init__(self) -> None:
        bindirs = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
        if not bindirs:
            if os.environ.get("CI"):
                pytest.fail("PostgreSQL server binaries are missing in CI; .ci/system-deps.sh installs them")
            pytest.skip("PostgreSQL server binaries not installed (run .ci/system-deps.sh)")
        self._bin = bindirs[-1]
        self.folder = tempfile.mkdtemp(prefix="hpo-pg-")
        os.chmod(self.folder, 0o755)
        self._as_user: list[str] = []
        if os.geteuid() == 0:  # the server refuses to run as root
            shutil.chown(self.folder, "postgres", "postgres")
            self._as_user = ["runuser", "-u", "postgres", "--"]
        self._data = os.path.join(self.folder, "data")
        self.port = free_port()
        self.url = f"postgresql+psycopg2://postgres:{PASSWORD}@127.0.0.1:{self.port}/hpo"
        self._run(f"{self._bin}/initdb", "-D", self._data, "-U", "postgres", "--auth=trust", "-E", "UTF8")
        self.start()
        self._run(f"{self._bin}/createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "hpo")

    def _run(self, *cmd: str) -> None:
        subprocess.run([*self._as_user, *cmd], check=True, capture_output=True, text=True)

    def start(self) -> None:
        self._run(f"{self._bin}/pg_ctl", "-D", self._data, "-l", os.path.join(self.folder, "log"), "-w", "-o",
                  f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c max_connections=200", "start")

    def stop(self, mode: str = "fast") -> None:
        """``fast``: the server ends every session and shuts down, as a restart does."""
        self._run(f"{self._bin}/pg_ctl", "-D", self._data, "-m", mode, "-w", "stop")

    def close(self) -> None:
        subprocess.run([*self._as_user, f"{self._bin}/pg_ctl", "-D", self._data, "-m", "immediate", "stop"],
                       capture_output=True)
        shutil.rmtree(self.folder, ignore_errors=True)


@contextmanager
def postgres_server() -> Iterator[str]:
    """Start a server on a free loopback port; yield a URL (with a password, to test masking)."""
    server = PostgresServer()
    try:
        yield server.url
    finally:
        server.close()
