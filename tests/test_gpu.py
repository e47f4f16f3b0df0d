"""GPU memory shares. No GPU exists here, so the two parts that need one are stood in for: NVML by a
fake module with the real binding's function names, and TensorFlow's device list; every call into
``tf.config`` goes through autospecs of TensorFlow's real functions (no invented API)."""

from __future__ import annotations

import os
import sys
import types
from unittest import mock

import pytest

from hpo.gpu import (
    GpuMemoryUnknown,
    _share,
    is_out_of_memory,
    limit_gpu_memory,
    total_memory_mb,
)

GIB = 2**30
_NVML_FUNCTIONS = ("nvmlInit", "nvmlShutdown", "nvmlDeviceGetCount", "nvmlDeviceGetHandleByIndex",
                   "nvmlDeviceGetHandleByUUID", "nvmlDeviceGetMemoryInfo")


def _fake_nvml(totals: dict[str, int]) -> types.ModuleType:
    """``pynvml`` for GPUs whose index and UUID map to a total memory in bytes."""
    module = types.ModuleType("pynvml")
    uuids = {f"GPU-{i}": str(i) for i in range(len(totals))}
    module.nvmlInit = lambda: None
    module.nvmlShutdown = lambda: None
    module.nvmlDeviceGetCount = lambda: len(totals)
    module.nvmlDeviceGetHandleByIndex = lambda index: str(index)
    module.nvmlDeviceGetHandleByUUID = lambda uuid: uuids[uuid]
    module.nvmlDeviceGetMemoryInfo = lambda handle: types.SimpleNamespace(total=totals[handle], used=0, free=totals[handle])
    return module


def test_the_fake_nvml_matches_the_real_binding() -> None:
    real = pytest.importorskip("pynvml")
    assert all(callable(getattr(real, name, None)) for name in _NVML_FUNCTIONS)
    assert {n for n in vars(_fake_nvml({"0": 1})) if n.startswith("nvml")} == set(_NVML_FUNCTIONS)


@pytest.mark.parametrize(
    ("visible", "expected_mb"),
    [(None, [81920, 40960]), ("1", [40960]), ("1,0", [40960, 81920]), ("GPU-1", [40960]), ("", [])],
    ids=["all", "second", "reordered", "by_uuid", "none"],
)
def test_total_memory_follows_cuda_visible_devices(monkeypatch, visible, expected_mb) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", _fake_nvml({"0": 80 * GIB, "1": 40 * GIB}))
    if visible is None:
        monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    else:
        monkeypatch.setenv("CUDA_VISIBLE_DEVICES", visible)
    assert total_memory_mb() == expected_mb


def test_no_nvml_and_no_nvidia_smi_says_why(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", None)  # import fails
    monkeypatch.setenv("PATH", "")
    with pytest.raises(GpuMemoryUnknown, match=r"nvml: .*; nvidia_smi: .*not on PATH"):
        total_memory_mb()


@pytest.fixture
def tf_with_gpus(monkeypatch):
    """Real TensorFlow whose device list shows two GPUs; its configuration calls are recorded
    through autospecs of the real functions (a wrong argument fails like TensorFlow would)."""
    import tensorflow as tf

    devices = [tf.config.PhysicalDevice(f"/physical_device:GPU:{i}", "GPU") for i in range(2)]
    monkeypatch.setattr(tf.config, "list_physical_devices", mock.create_autospec(tf.config.list_physical_devices, side_effect=lambda kind=None: devices if kind == "GPU" else []))
    logical = mock.create_autospec(tf.config.set_logical_device_configuration)
    growth = mock.create_autospec(tf.config.experimental.set_memory_growth)
    monkeypatch.setattr(tf.config, "set_logical_device_configuration", logical)
    monkeypatch.setattr(tf.config.experimental, "set_memory_growth", growth)
    monkeypatch.setenv("KERAS_BACKEND", "tensorflow")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")
    monkeypatch.setattr(_share, "_gpu_device_files", lambda: True)  # a GPU driver's /dev files
    monkeypatch.setitem(sys.modules, "pynvml", _fake_nvml({"0": 80 * GIB, "1": 40 * GIB}))
    return types.SimpleNamespace(devices=devices, logical=logical, growth=growth, tf=tf)


@pytest.mark.parametrize(("fraction", "limits_mb"), [(0.25, [20480, 10240]), (0.5, [40960, 20480])])
def test_a_fraction_caps_tensorflow_at_its_share_of_each_gpu(tf_with_gpus, fraction, limits_mb) -> None:
    assert limit_gpu_memory(fraction) == {"GPU:0": limits_mb[0], "GPU:1": limits_mb[1]}
    calls = tf_with_gpus.logical.call_args_list
    assert [c.args[0] for c in calls] == tf_with_gpus.devices
    for call, limit in zip(calls, limits_mb):
        (config,) = call.args[1]
        assert isinstance(config, tf_with_gpus.tf.config.LogicalDeviceConfiguration) and config.memory_limit == limit
    tf_with_gpus.growth.assert_not_called()


def test_a_whole_gpu_grows_on_demand(tf_with_gpus) -> None:
    limit_gpu_memory(1.0)
    assert [c.args for c in tf_with_gpus.growth.call_args_list] == [(d, True) for d in tf_with_gpus.devices]
    tf_with_gpus.logical.assert_not_called()


def test_unknown_gpu_memory_falls_back_to_growth_with_a_warning(tf_with_gpus, monkeypatch, caplog) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", None)
    monkeypatch.setenv("PATH", "")
    assert limit_gpu_memory(0.5) == {}
    assert "GPU memory share not enforced" in caplog.text
    assert tf_with_gpus.growth.call_count == 2 and not tf_with_gpus.logical.called


def test_without_a_gpu_driver_tensorflow_is_not_even_imported(monkeypatch) -> None:
    monkeypatch.setenv("KERAS_BACKEND", "tensorflow")
    monkeypatch.setattr(_share, "_gpu_device_files", lambda: False)
    monkeypatch.setitem(sys.modules, "tensorflow", None)  # importing it would fail
    assert limit_gpu_memory(0.5) == {}


def test_jax_backend_gets_a_memory_fraction(monkeypatch) -> None:
    monkeypatch.setenv("KERAS_BACKEND", "jax")
    monkeypatch.delenv("XLA_PYTHON_CLIENT_MEM_FRACTION", raising=False)
    monkeypatch.delenv("XLA_PYTHON_CLIENT_PREALLOCATE", raising=False)  # restored after the test
    assert limit_gpu_memory(0.25) == {"fraction": 0.25}
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
