"""TensorBoard event files written without TensorFlow (TensorBoard's own writer imports it)."""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

from tensorboard.compat.proto import event_pb2, summary_pb2
from tensorboard.summary.writer.record_writer import RecordWriter


class EventFile:
    """One ``events.out.tfevents.*`` file in ``folder``; every event is flushed as written, so a
    running TensorBoard shows it at once and a crash loses nothing already said."""

    def __init__(self, folder: Path, name: str | None = None) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        name = name or f"events.out.tfevents.{time.time():.6f}.{socket.gethostname()}.{os.getpid()}.hpo"
        self.path = folder / name
        self._file = open(self.path, "wb")  # noqa: SIM115 - closed by close()
        self._records = RecordWriter(self._file)
        self._write(event_pb2.Event(wall_time=time.time(), file_version="brain.Event:2"))

    def summary(self, summary: summary_pb2.Summary, step: int = 0, at: float | None = None) -> None:
        self._write(event_pb2.Event(wall_time=at or time.time(), step=step, summary=summary))

    def scalars(self, values: dict[str, float], step: int, at: float | None = None) -> None:
        summary = summary_pb2.Summary(
            value=[summary_pb2.Summary.Value(tag=k, simple_value=v) for k, v in values.items()]
        )
        self.summary(summary, step, at)

    def close(self) -> None:
        self._file.close()

    def _write(self, event: event_pb2.Event) -> None:
        self._records.write(event.SerializeToString())
        self._file.flush()
