"""Trials' checkpoints, kept by the driver in ``results/<sweep>/checkpoints/``: a paused trial's
(promotion) and a running trial's last periodic one (the sweep's ``checkpoint`` section).

Workers send a checkpoint's bytes with the pause or after an epoch and get them back with the
promotion or the re-run, so no worker node needs the driver's folder. A checkpoint is deleted when
its trial ends (unless kept), survives a driver crash (``hpo resume`` continues from it), and
passes to the re-run of an interrupted trial.
"""

from __future__ import annotations

import os
from pathlib import Path


class CheckpointStore:
    def __init__(self, folder: Path, keep: bool = False) -> None:
        self.folder = folder
        self.keep = keep

    def path(self, number: int) -> Path:
        return self.folder / f"trial_{number}.ckpt"

    def save(self, number: int, data: bytes) -> Path:
        """Write atomically: a crash mid-write leaves the previous checkpoint, never half a file."""
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.path(number)
        temporary = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        temporary.write_bytes(data)
        os.replace(temporary, path)
        return path

    def load(self, number: int) -> bytes | None:
        path = self.path(number)
        return path.read_bytes() if path.exists() else None

    def move(self, number: int, to: int) -> bytes | None:
        """Trial ``number``'s checkpoint becomes trial ``to``'s (an atomic rename); its bytes."""
        path = self.path(number)
        if not path.exists():
            return None
        os.replace(path, self.path(to))
        return self.path(to).read_bytes()

    def drop(self, number: int) -> None:
        """The trial ended: its checkpoint goes, unless kept."""
        if not self.keep:
            self.path(number).unlink(missing_ok=True)
