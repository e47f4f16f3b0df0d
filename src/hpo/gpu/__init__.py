"""GPU memory shares for packed trials. Imports no backend until a share is set."""

from hpo.gpu._memory import GpuMemoryUnknown, total_memory_mb, visible_gpus
from hpo.gpu._oom import is_out_of_memory
from hpo.gpu._share import backend_name, limit_gpu_memory

__all__ = [
    "GpuMemoryUnknown",
    "backend_name",
    "is_out_of_memory",
    "limit_gpu_memory",
    "total_memory_mb",
    "visible_gpus",
]
