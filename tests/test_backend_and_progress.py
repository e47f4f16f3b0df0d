"""GPU memory share per trial (TensorFlow faked: no GPU exists here) and the live progress table."""

from __future__ import annotations

import io
import sys
import types

import pytest

from hpo.cli._progress import Progress
from hpo.engine._backend import is_out_of_memory, limit_gpu_memory


class _FakeConfig:
    """Stands in for ``tf.config`` on a machine without a GPU: records what hpo asks of it."""

    def __init__(self, n_gpus: int, memory_bytes: int) -> None:
        self.devices = [f"GPU:{i}" for i in range(n_gpus)]
        self.memory = memory_bytes
        self.logical: dict[str, int] = {}
        self.growth: set[str] = set()
        self.experimental = types.SimpleNamespace(
            set_memory_growth=lambda d, on: self.growth.add(d),
            get_device_details=lambda d: {"device_memory_size": self.memory},
        )

    def list_physical_devices(self, kind: str) -> list[str]:
        return self.devices if kind == "GPU" else []

    def set_logical_device_configuration(self, device: str, configs: list) -> None:
        self.logical[device] = configs[0].memory_limit

    @staticmethod
    def LogicalDeviceConfiguration(memory_limit: int):  # noqa: N802 (TensorFlow's name)
        return types.SimpleNamespace(memory_limit=memory_limit)


@pytest.fixture
def fake_tf(monkeypatch):
    config = _FakeConfig(n_gpus=2, memory_bytes=80 * 2**30)
    monkeypatch.setitem(sys.modules, "tensorflow", types.SimpleNamespace(config=config))
    monkeypatch.setenv("KERAS_BACKEND", "tensorflow")
    return config


@pytest.mark.parametrize(("fraction", "limit_mb"), [(0.25, 20480), (0.5, 40960)])
def test_fractional_gpu_caps_tensorflow_memory(fake_tf, fraction: float, limit_mb: int) -> None:
    limit_gpu_memory(fraction)
    assert fake_tf.logical == {"GPU:0": limit_mb, "GPU:1": limit_mb} and not fake_tf.growth


def test_whole_gpu_grows_on_demand(fake_tf) -> None:
    limit_gpu_memory(1.0)
    assert fake_tf.growth == {"GPU:0", "GPU:1"} and not fake_tf.logical


def test_jax_backend_gets_a_memory_fraction(monkeypatch) -> None:
    monkeypatch.setenv("KERAS_BACKEND", "jax")
    monkeypatch.delenv("XLA_PYTHON_CLIENT_MEM_FRACTION", raising=False)
    monkeypatch.delenv("XLA_PYTHON_CLIENT_PREALLOCATE", raising=False)  # restored after the test
    limit_gpu_memory(0.25)
    import os

    assert os.environ["XLA_PYTHON_CLIENT_MEM_FRACTION"] == "0.250"
    assert os.environ["XLA_PYTHON_CLIENT_PREALLOCATE"] == "false"


@pytest.mark.parametrize("fraction", [0.0, -1.0, 1.5])
def test_bad_fraction(fraction: float) -> None:
    with pytest.raises(ValueError, match=r"GPU memory fraction must be in \(0, 1\]"):
        limit_gpu_memory(fraction)


@pytest.mark.parametrize(
    ("exc", "oom"),
    [(MemoryError(), True), (RuntimeError("RESOURCE_EXHAUSTED: OOM when allocating tensor"), True),
     (type("ResourceExhaustedError", (Exception,), {})("x"), True), (ValueError("shapes"), False)],
    ids=["memory_error", "xla_message", "tf_type", "other"],
)
def test_out_of_memory_detection(exc: BaseException, oom: bool) -> None:
    assert is_out_of_memory(exc) is oom


def test_live_progress_table() -> None:
    stream = io.StringIO()
    with Progress(4, "maximize", "val_accuracy", live=True, stream=stream) as progress:
        progress("started", 0, {})
        progress("started", 1, {})
        progress("complete", 0, {"value": 0.9, "epochs": 3})
        progress("pruned", 1, {"epochs": 1})
    text = stream.getvalue()
    assert "hpo sweep: val_accuracy (max)" in text
    assert "2/4" in text and "0.9000" in text


def test_plain_progress_lines() -> None:
    stream = io.StringIO()
    with Progress(2, "minimize", "val_loss", live=False, stream=stream) as progress:
        progress("started", 0, {})
        progress("complete", 0, {"value": 0.3, "epochs": 5})
        progress("failed", 1, {"reason": "boom"})
    lines = stream.getvalue().splitlines()
    assert "trial 0 complete val_loss=0.3000 after 5 epochs" in lines[1]
    assert "trial 1 failed: boom" in lines[2] and "best 0.3000" in lines[2]


def test_progress_counts_earlier_runs_of_a_resumed_study() -> None:
    stream = io.StringIO()
    with Progress(10, "maximize", "val_accuracy", live=False, stream=stream) as progress:
        progress("resumed", -1, {"finished": 6, "best": 0.8})
        progress("started", 6, {})
        progress("complete", 6, {"value": 0.7, "epochs": 2})
    lines = stream.getvalue().splitlines()
    assert "6 trials finished in earlier runs" in lines[0]
    assert "done 7/10" in lines[-1] and "best 0.8000" in lines[-1]
