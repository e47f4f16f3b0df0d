"""How much memory each GPU visible to this process has, read from NVML (``nvidia-ml-py``), or
from ``nvidia-smi`` where the binding is missing. TensorFlow does not report a device's total
memory (``get_device_details`` gives only its name and compute capability), so hpo asks the driver."""

from __future__ import annotations

import os
import shutil
import subprocess


class GpuMemoryUnknown(RuntimeError):
    """Neither NVML nor nvidia-smi could tell a GPU's total memory."""


def visible_gpus() -> list[str] | None:
    """The ids in ``CUDA_VISIBLE_DEVICES`` (indices or UUIDs), in the order frameworks number them;
    None when the variable is unset (every GPU is visible)."""
    value = os.environ.get("CUDA_VISIBLE_DEVICES")
    if value is None:
        return None
    return [part.strip() for part in value.split(",") if part.strip() and part.strip() != "-1"]


def _from_nvml(ids: list[str] | None) -> list[int]:
    import pynvml

    pynvml.nvmlInit()
    try:
        if ids is None:
            ids = [str(i) for i in range(pynvml.nvmlDeviceGetCount())]
        totals = []
        for gpu in ids:
            handle = (
                pynvml.nvmlDeviceGetHandleByIndex(int(gpu)) if gpu.isdigit() else pynvml.nvmlDeviceGetHandleByUUID(gpu)
            )
            totals.append(int(pynvml.nvmlDeviceGetMemoryInfo(handle).total) // 2**20)
        return totals
    finally:
        pynvml.nvmlShutdown()


def _from_nvidia_smi(ids: list[str] | None) -> list[int]:
    binary = shutil.which("nvidia-smi")
    if binary is None:
        raise GpuMemoryUnknown("nvidia-smi is not on PATH")
    query = [binary, "--query-gpu=index,uuid,memory.total", "--format=csv,noheader,nounits"]
    rows = [
        line.split(", ")
        for line in subprocess.run(query, capture_output=True, text=True, check=True, timeout=30).stdout.splitlines()
        if line.strip()
    ]
    by_id = {key: int(float(row[2])) for row in rows for key in (row[0], row[1])}
    return [by_id[gpu] for gpu in (ids if ids is not None else [row[0] for row in rows])]


def total_memory_mb(ids: list[str] | None = None) -> list[int]:
    """Total memory in MiB of each GPU in ``ids`` (default: those visible to this process)."""
    ids = visible_gpus() if ids is None else ids
    errors = []
    for read in (_from_nvml, _from_nvidia_smi):
        try:
            return read(ids)
        except Exception as exc:  # noqa: BLE001 - any failure of one source means: try the next
            errors.append(f"{read.__name__[6:]}: {type(exc).__name__}: {exc}")
    raise GpuMemoryUnknown("cannot read GPU memory (" + "; ".join(errors) + ")")
