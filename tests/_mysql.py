"""A throwaway MariaDB server (MySQL's protocol and named locks) for the tests: Debian's binaries,
which CI installs (.ci/system-deps.sh); a free loopback port, a database ``hpo``."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from tests.conftest import free_port

_SERVER, _INSTALL = "/usr/sbin/mariadbd", "/usr/bin/mariadb-install-db"


@contextmanager
def mysql_server() -> Iterator[str]:
    """Start a server in a temporary folder; yield its SQLAlchemy URL (PyMySQL driver)."""
    if not (os.path.exists(_SERVER) and os.path.exists(_INSTALL)):
        if os.environ.get("CI"):
            pytest.fail("MariaDB server binaries are missing in CI; .ci/system-deps.sh installs them")
        pytest.skip("MariaDB server binaries not installed (run .ci/system-deps.sh)")
    import pymysql

    folder = tempfile.mkdtemp(prefix="hpo-mysql-")
    data, socket = os.path.join(folder, "data"), os.path.join(folder, "sock")
    port = free_port()
    subprocess.run([_INSTALL, "--no-defaults", f"--datadir={data}", "--user=root", "--auth-root-authentication-method=normal",
                    "--skip-test-db"], check=True, capture_output=True, text=True)
    server = subprocess.Popen([_SERVER, "--no-defaults", f"--datadir={data}", f"--socket={socket}", f"--port={port}",
                               "--bind-address=127.0.0.1", "--user=root", "--skip-log-bin", f"--pid-file={folder}/pid"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                connection = pymysql.connect(host="127.0.0.1", port=port, user="root")
                break
            except pymysql.err.OperationalError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError("the MariaDB test server did not start") from None
                time.sleep(0.2)
        with connection.cursor() as cursor:
            cursor.execute("CREATE DATABASE hpo")
        connection.close()
        yield f"mysql+pymysql://root@127.0.0.1:{port}/hpo"
    finally:
        server.terminate()
        server.wait(timeout=60)
        shutil.rmtree(folder, ignore_errors=True)
