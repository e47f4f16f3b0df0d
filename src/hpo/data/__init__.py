"""Data for trials as numpy arrays: sources, stratified splits, normalization. No Keras import."""

from hpo._errors import DataError
from hpo.data._dataset import TASKS, Dataset, check_arrays, infer_task, normalize, split
from hpo.data._sources import load_dataset, synthetic

__all__ = [
    "TASKS",
    "DataError",
    "Dataset",
    "check_arrays",
    "infer_task",
    "load_dataset",
    "normalize",
    "split",
    "synthetic",
]
