"""A real small filesystem that can be filled up: a tmpfs mounted for one test (needs root, as CI
and the development machine run; elsewhere the test is skipped and says why)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


@contextmanager
def small_disk(folder: Path, size: str = "8m") -> Iterator[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs to fill up (needs root): {mounted.stderr.strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], capture_output=True)


def fill(disk: Path, leave: int = 0) -> Path:
    """Fill ``disk`` up, leaving about ``leave`` bytes free; the filler file, to delete to make room."""
    filler = disk / "filler"
    with open(filler, "wb", buffering=0) as file:
        while True:
            free = os.statvfs(disk).f_bavail * os.statvfs(disk).f_frsize - leave
            if free <= 0:
                break
            try:
                file.write(b"\0" * min(free, 1 << 20))
            except OSError:
                break
    return filler
