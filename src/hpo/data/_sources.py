"""Where data comes from: bundled scikit-learn sets, a seeded generator, files, or a user loader."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import numpy as np

from hpo import _constants
from hpo._references import resolve_reference
from hpo.config import DataConfig
from hpo.data import _shuffle
from hpo.data._dataset import (
    DataError,
    Dataset,
    check_arrays,
    check_features,
    check_target,
    encode_labels,
    infer_task,
    split,
)

_NPZ_SPLITS = ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test")
_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif")


def synthetic(
    samples: int = 2000,
    features: int = 20,
    classes: int = 3,
    kind: str = "tabular",
    image_size: int = 16,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Seeded generated data: a tabular classification problem or noisy class-prototype images."""
    if kind == "tabular":
        from sklearn.datasets import make_classification

        informative = max(2, min(features, classes * 2, features // 2 or 1))
        return make_classification(
            n_samples=samples,
            n_features=features,
            n_informative=informative,
            n_redundant=0,
            n_classes=classes,
            n_clusters_per_class=1,
            class_sep=1.5,
            random_state=seed,
        )
    if kind == "image":
        rng = np.random.default_rng(seed)
        prototypes = rng.random((classes, image_size, image_size, 1)).round()
        y = rng.integers(0, classes, samples)
        x = prototypes[y] + rng.normal(0.0, 0.6, (samples, image_size, image_size, 1))
        return x.astype(np.float32), y
    raise DataError(f"synthetic data kind must be 'tabular' or 'image', but got {kind!r}")


def _builtin(name: str, options: dict[str, Any], seed: int) -> tuple[np.ndarray, np.ndarray]:
    if name in _BUNDLED and (bundled := _bundled(name)) is not None:
        return bundled
    from sklearn import datasets  # its files moved: its own loaders (2 s more to import)

    if name == "digits":
        bunch = datasets.load_digits()
        return bunch.images[..., None].astype(np.float32), bunch.target
    if name == "breast_cancer":
        bunch = datasets.load_breast_cancer()
        return bunch.data, bunch.target
    if name == "diabetes":  # regression: disease progression after one year
        bunch = datasets.load_diabetes()
        return bunch.data, bunch.target.astype(np.float32)
    return synthetic(**{"seed": seed, **options})


# scikit-learn's files behind each bundled data set, read without importing scikit-learn
_BUNDLED = {
    "digits": ("digits.csv.gz",),
    "breast_cancer": ("breast_cancer.csv",),
    "diabetes": ("diabetes_data_raw.csv.gz", "diabetes_target.csv.gz"),
}


def _bundled(name: str) -> tuple[np.ndarray, np.ndarray] | None:
    """The data set exactly as scikit-learn's ``load_<name>`` returns it (tests/test_data.py), or
    None when scikit-learn's files are not where this version keeps them."""
    found = [_shuffle.bundled_file(file) for file in _BUNDLED[name]]
    files = [file for file in found if file is not None]
    if len(files) < len(found):
        return None
    if name == "digits":
        table = _shuffle.gzip_table(files[0], ",")  # 64 pixels, then the digit
        return table[:, :-1].reshape(-1, 8, 8, 1).astype(np.float32), table[:, -1].astype(int)
    if name == "breast_cancer":
        return _shuffle.header_csv(files[0])
    x = _shuffle.standardized(_shuffle.gzip_table(files[0]))  # diabetes: load_diabetes(scaled=True)
    x /= x.shape[0] ** 0.5
    return x, _shuffle.gzip_table(files[1]).astype(np.float32)


def _npz(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as archive:
        arrays = dict(archive)
    if all(k in arrays for k in _NPZ_SPLITS):
        return arrays
    if "x" in arrays and "y" in arrays:
        return {"x": arrays["x"], "y": arrays["y"]}
    raise DataError(f"{path}: an .npz needs arrays 'x' and 'y' (or {', '.join(_NPZ_SPLITS)}), but has {sorted(arrays)}")


def _csv(path: Path, target: str) -> tuple[np.ndarray, np.ndarray]:
    import pandas as pd

    frame = pd.read_csv(path)
    if target not in frame.columns:
        raise DataError(f"{path}: target column {target!r} not found; columns are {list(frame.columns)}")
    features = frame.drop(columns=[target])
    non_numeric = [c for c in features.columns if not pd.api.types.is_numeric_dtype(features[c])]
    if non_numeric:
        raise DataError(f"{path}: feature columns must be numeric, but {non_numeric} are not; encode them first")
    return features.to_numpy(dtype=np.float32), frame[target].to_numpy()


def _image_folder(path: Path, image_size: int | None) -> tuple[np.ndarray, np.ndarray]:
    from PIL import Image

    classes = sorted(p for p in path.iterdir() if p.is_dir())
    if not classes:
        raise DataError(f"{path}: an image folder holds one sub-folder per class, but none was found")
    images, labels = [], []
    for label, folder in enumerate(classes):
        for file in sorted(folder.iterdir()):
            if file.suffix.lower() not in _IMAGE_SUFFIXES:
                continue
            with Image.open(file) as opened:
                img = opened.convert("L")
                size = image_size or img.size[0]
                images.append(np.asarray(img.resize((size, size)), dtype=np.float32))
            labels.append(label)
    if not images:
        raise DataError(f"{path}: no images ({', '.join(_IMAGE_SUFFIXES)}) in the class folders")
    return np.stack(images)[..., None], np.asarray(labels)


def _from_splits(arrays: dict[str, np.ndarray], name: str, task: str = "auto") -> Dataset:
    """Splits the user made: labels are encoded once, from the training split's classes."""
    if infer_task(arrays["y_train"], task) == "regression":
        parts = {
            part: check_target(arrays[f"x_{part}"], arrays[f"y_{part}"], f"{name} ({part})")
            for part in ("train", "val", "test")
        }
        return Dataset(*parts["train"], *parts["val"], *parts["test"], n_classes=0, name=name)
    parts = {
        part: check_features(arrays[f"x_{part}"], arrays[f"y_{part}"], f"{name} ({part})")
        for part in ("train", "val", "test")
    }
    x_train, y_train = check_arrays(*parts["train"], f"{name} (train)")
    classes = np.unique(parts["train"][1])
    encoded = {
        part: (parts[part][0], encode_labels(parts[part][1], classes, f"{name} ({part})")) for part in ("val", "test")
    }
    return Dataset(x_train, y_train, *encoded["val"], *encoded["test"], n_classes=len(classes), name=name)


def load_dataset(data: DataConfig) -> Dataset:
    """The data a sweep's ``data`` section names, split; cached per process so a reused worker
    loads it once."""
    key = json.dumps(data.model_dump(), sort_keys=True, default=str)
    return _load_cached(key)


@functools.lru_cache(maxsize=4)
def _load_cached(key: str) -> Dataset:
    data = json.loads(key)
    source, options, seed, task = data["source"], data["options"], data["seed"], data["task"]
    fractions = (data["validation_fraction"], data["test_fraction"], seed)
    if source in _constants.BUILTIN_DATASETS:
        return split(*_builtin(source, options, seed), *fractions, name=source, task=task)
    if source in _constants.FILE_DATASETS:
        path = Path(data["path"])
        if not path.exists():
            raise DataError(f"data file not found: {path} (relative to {Path.cwd()}); check data.path")
        if source == "npz":
            arrays = _npz(path)
            if "x" not in arrays:
                return _from_splits(arrays, path.name, task)
            return split(arrays["x"], arrays["y"], *fractions, name=path.name, task=task)
        if source == "csv":
            return split(*_csv(path, data["target"]), *fractions, name=path.name, task=task)
        return split(*_image_folder(path, options.get("image_size")), *fractions, name=path.name, task=task)
    loader = resolve_reference(source, "data loader")
    try:
        loaded = loader(**options)
    except Exception as exc:  # the user's loader failed: say whose code and what, not a traceback
        raise DataError(
            f"data loader {source!r} raised {type(exc).__name__}: {exc} (run with --debug for the traceback)"
        ) from exc
    if isinstance(loaded, dict):
        if "x" in loaded:
            return split(loaded["x"], loaded["y"], *fractions, name=source, task=task)
        return _from_splits(loaded, source, task)
    if isinstance(loaded, tuple) and len(loaded) == 2:
        return split(*loaded, *fractions, name=source, task=task)
    raise DataError(
        f"data loader {source!r} must return (x, y) or a dict of arrays, but returned {type(loaded).__name__}"
    )
