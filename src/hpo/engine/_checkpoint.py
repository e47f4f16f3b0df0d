"""A trial's training state after an epoch, to continue it later (in another process, on another
node) exactly as if it had never stopped.

The state is every variable of the model (weights, normalization statistics, and the seed
states of its random layers: dropout, augmentation), every variable of the optimizer (moments,
the step count that drives the learning-rate schedule), the epoch and the metrics so far. The
order of the training data is not state: resumable training draws each epoch's order from
(seed, epoch), so an epoch is the same whether or not training paused before it.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field

import keras
import numpy as np

_META = "meta"


@dataclass
class Checkpoint:
    epoch: int
    model: list[np.ndarray]
    optimizer: list[np.ndarray]
    history: list[dict[str, float]] = field(default_factory=list)

    def to_bytes(self) -> bytes:
        """An ``.npz`` archive (no pickle: safe to load from a shared folder)."""
        arrays = {f"m{i}": a for i, a in enumerate(self.model)} | {f"o{i}": a for i, a in enumerate(self.optimizer)}
        meta = {
            "epoch": self.epoch,
            "model": len(self.model),
            "optimizer": len(self.optimizer),
            "history": self.history,
        }
        buffer = io.BytesIO()
        arrays[_META] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
        np.savez(buffer, allow_pickle=False, **arrays)
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> Checkpoint:
        with np.load(io.BytesIO(data), allow_pickle=False) as archive:
            meta = json.loads(archive[_META].tobytes())
            return cls(
                epoch=int(meta["epoch"]),
                model=[archive[f"m{i}"] for i in range(meta["model"])],
                optimizer=[archive[f"o{i}"] for i in range(meta["optimizer"])],
                history=list(meta["history"]),
            )


def capture(model: keras.Model, epoch: int, history: list[dict[str, float]]) -> Checkpoint:
    """The state of ``model`` (compiled, trained through ``epoch``) and its optimizer."""
    return Checkpoint(
        epoch=epoch,
        model=[keras.ops.convert_to_numpy(v.value) for v in model.variables],
        optimizer=[keras.ops.convert_to_numpy(v.value) for v in model.optimizer.variables],
        history=[dict(h) for h in history],
    )


def restore(model: keras.Model, checkpoint: Checkpoint) -> None:
    """Put ``checkpoint`` back into ``model``, built and compiled from the same parameters."""
    if not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)
    for kind, variables, values in (
        ("model", model.variables, checkpoint.model),
        ("optimizer", model.optimizer.variables, checkpoint.optimizer),
    ):
        if len(variables) != len(values):
            raise ValueError(
                f"the checkpoint holds {len(values)} {kind} variables but this configuration builds {len(variables)}; "
                "it was saved for another model (a changed space or builder)"
            )
        for variable, value in zip(variables, values, strict=True):
            variable.assign(value)
