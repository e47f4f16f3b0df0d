"""Data for trials as numpy arrays: sources, stratified splits, normalization. No Keras import."""

from hpo._errors import DataError
from hpo.data._dataset import Dataset, check_arrays, normalize, split
from hpo.data._sources import load_dataset, synthetic

__all__ = ["DataError", "Dataset", "check_arrays", "load_dataset", "normalize", "split", "synthetic"]
