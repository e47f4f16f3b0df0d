"""GPU sampling through NVML for the GPU benchmarks (``gpu_packing.py``, ``gpu_sweep.py``)."""

from __future__ import annotations

import threading
from typing import Self


class NvmlSampler:
    """Samples the utilization of the GPUs ``indices`` (default: every GPU) and each process's
    memory on them every ``every_s`` seconds; samples nothing where NVML or an NVIDIA driver is
    missing (``total_mb`` is then empty)."""

    def __init__(self, every_s: float = 0.2, indices: list[int] | None = None) -> None:
        self.every_s = every_s
        self.utilization: list[float] = []  # percent, one value per GPU per sample
        self.process_peak_mb: dict[int, float] = {}
        self.busy_processes: list[int] = []  # processes on the GPUs at each sample
        self.total_mb: list[float] = []  # per sampled GPU
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        try:
            import pynvml

            pynvml.nvmlInit()
            self._nvml = pynvml
            chosen = range(pynvml.nvmlDeviceGetCount()) if indices is None else indices
            self._handles = [pynvml.nvmlDeviceGetHandleByIndex(i) for i in chosen]
            self.total_mb = [pynvml.nvmlDeviceGetMemoryInfo(h).total / 2**20 for h in self._handles]
        except Exception:  # noqa: BLE001 - no NVIDIA GPU or driver: nothing to sample, the tables say "-"
            self._nvml, self._handles = None, []

    def _run(self) -> None:
        while not self._stop.wait(self.every_s):
            seen = 0
            for handle in self._handles:
                self.utilization.append(float(self._nvml.nvmlDeviceGetUtilizationRates(handle).gpu))
                for process in self._nvml.nvmlDeviceGetComputeRunningProcesses(handle):
                    used = (process.usedGpuMemory or 0) / 2**20
                    self.process_peak_mb[process.pid] = max(self.process_peak_mb.get(process.pid, 0.0), used)
                    seen += 1
            self.busy_processes.append(seen)

    def __enter__(self) -> Self:
        if self._nvml is not None:
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._nvml is not None:
            self._thread.join()
