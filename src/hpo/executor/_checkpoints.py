"""Trials' checkpoints, kept by the driver: a paused trial's (promotion) and a running trial's last
periodic one (the sweep's ``checkpoint`` section).

Workers send a checkpoint's bytes with the pause or after an epoch and get them back with the
promotion or the re-run, so no worker node needs the driver's storage. A checkpoint is deleted
when its trial ends (unless kept), survives a driver crash (``hpo resume`` continues from it), and
passes to the re-run of an interrupted trial.

Where: ``results/<sweep>/checkpoints/`` by default; ``checkpoint.path`` puts them in a folder or
an object store that every driver of a study can reach (drivers on several hosts sharing one
PostgreSQL study), as a path or any URL fsspec knows (``s3://bucket/prefix``, ``gs://…``).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

import fsspec
from fsspec.implementations.local import LocalFileSystem


class CheckpointStore:
    """``trial_<number>.ckpt`` files under ``location`` (a path or an fsspec URL; ``options`` are
    the filesystem's, e.g. an S3 ``endpoint_url``). Writes are whole: a local file is renamed into
    place, an object is put in one request, so a crash never leaves half a checkpoint."""

    def __init__(self, location: str | Path, keep: bool = False, options: dict[str, Any] | None = None) -> None:
        self.location = str(location)
        self.keep = keep
        self._fs, root = fsspec.core.url_to_fs(self.location, **(options or {}))
        self._root = root.rstrip("/")
        self._local = isinstance(self._fs, LocalFileSystem)

    def path(self, number: int) -> str:
        return f"{self._root}/trial_{number}.ckpt"

    def save(self, number: int, data: bytes) -> str:
        path = self.path(number)
        if not self._local:
            self._fs.pipe_file(path, data)
            return path
        Path(self._root).mkdir(parents=True, exist_ok=True)
        temporary = f"{path}.{os.getpid()}.tmp"
        Path(temporary).write_bytes(data)
        os.replace(temporary, path)
        return path

    def load(self, number: int) -> bytes | None:
        try:
            return bytes(self._fs.cat_file(self.path(number)))
        except FileNotFoundError:
            return None

    def has(self, number: int) -> bool:
        """Whether trial ``number`` has a checkpoint here (without reading it)."""
        return bool(self._fs.exists(self.path(number)))

    def move(self, number: int, to: int) -> bytes | None:
        """Trial ``number``'s checkpoint becomes trial ``to``'s; its bytes (None: it has none).
        A local file is renamed; an object is written under the new name before the old goes."""
        if self._local:
            try:
                os.replace(self.path(number), self.path(to))
            except FileNotFoundError:
                return None
            return self.load(to)
        data = self.load(number)
        if data is not None:
            self.save(to, data)
            self._remove(number)
        return data

    def drop(self, number: int) -> None:
        """The trial ended: its checkpoint goes, unless kept."""
        if not self.keep:
            self._remove(number)

    def numbers(self) -> list[int]:
        """The trials that have a checkpoint here."""
        self._fs.invalidate_cache(self._root)  # another driver may have written or deleted since
        try:
            names = self._fs.ls(self._root, detail=False)
        except FileNotFoundError:
            return []
        stems = (str(name).rsplit("/", 1)[-1] for name in names)
        return sorted(int(stem[6:-5]) for stem in stems if stem.startswith("trial_") and stem.endswith(".ckpt"))

    def _remove(self, number: int) -> None:
        with contextlib.suppress(FileNotFoundError):  # gone already: what dropping wants
            self._fs.rm_file(self.path(number))
