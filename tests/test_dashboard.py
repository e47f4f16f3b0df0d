"""`hpo dashboard` in a real headless Chromium: the study page loads and shows the sweep's trials,
also while trials are still being added; loopback by default, a warning when widened."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hpo.config import load_sweep
from hpo.study import open_study
from tests.conftest import MINIMAL_SWEEP, REPO, TREE_PATH, free_port

pytestmark = pytest.mark.slow

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


def _add_trials(sweep_path: Path, n: int) -> None:
    sweep = load_sweep(sweep_path)
    study = open_study(sweep)
    for i in range(n):
        trial = study.ask()
        sweep.space.sample(trial)
        for step in (1, 2):
            trial.report(0.1 * step + i / 100, step)
        study.tell(trial, 0.2 + i / 100)


@pytest.fixture
def dashboard(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(MINIMAL_SWEEP.replace("name: t", "name: browsertest") + f"results_dir: {tmp_path / 'results'}\n")
    _add_trials(path, 3)
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "hpo", "dashboard", str(path), "--port", str(port)], cwd=tmp_path,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": TREE_PATH})
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.3)
    yield path, port, server
    server.terminate()
    server.wait(timeout=30)


def _listening_addresses(port: int) -> set[str]:
    """Local addresses with a LISTEN socket on ``port``, from /proc/net/tcp."""
    found = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        address, hex_port = local.split(":")
        if int(hex_port, 16) == port and state == "0A":
            found.add(socket.inet_ntoa(bytes.fromhex(address)[::-1]))
    return found


def test_dashboard_shows_the_sweeps_trials_in_a_browser(dashboard) -> None:
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail("chromium is missing in CI; .ci/system-deps.sh installs it")
        pytest.skip("chromium not installed (run .ci/system-deps.sh)")
    from playwright.sync_api import sync_playwright

    path, port, _ = dashboard
    assert _listening_addresses(port) == {"127.0.0.1"}
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.goto(f"http://127.0.0.1:{port}/dashboard/")
        page.get_by_text("browsertest").first.wait_for(timeout=30_000)
        page.get_by_text("browsertest").first.click()
        page.wait_for_url("**/studies/**", timeout=30_000)
        # The study page plots every trial's learning curve, labelled "trial #N".
        page.get_by_text("trial #2").first.wait_for(timeout=30_000)
        assert page.get_by_text("History").count() >= 1
        page.screenshot(path=str(path.parent / "dashboard.png"))
        _add_trials(path, 2)  # the sweep goes on while the dashboard is open
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not page.get_by_text("trial #4").count():
            page.reload()
            page.get_by_text("trial #0").first.wait_for(timeout=30_000)
            time.sleep(1)
        assert page.get_by_text("trial #4").count() >= 1
        browser.close()


def test_widening_the_host_warns(tmp_path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(MINIMAL_SWEEP + f"results_dir: {tmp_path / 'results'}\n")
    _add_trials(path, 1)
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "hpo", "dashboard", str(path), "--host", "0.0.0.0", "--port", str(port)],
                              cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": TREE_PATH})
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not _listening_addresses(port):
            time.sleep(0.3)
        assert _listening_addresses(port) == {"0.0.0.0"}
    finally:
        server.terminate()
        _, err = server.communicate(timeout=30)
    assert "no authentication" in err
