"""Data sources, splits and normalization (numpy only, no Keras)."""

from __future__ import annotations

import numpy as np
import pytest

from hpo.config import DataConfig
from hpo.data._dataset import DataError, normalize, split
from hpo.data._sources import load_dataset


def _data(**data) -> DataConfig:
    return DataConfig.model_validate(data)


@pytest.mark.parametrize(
    ("data", "shape", "classes"),
    [
        ({"source": "digits"}, (8, 8, 1), 10),
        ({"source": "breast_cancer"}, (30,), 2),
        ({"source": "synthetic", "options": {"samples": 300, "features": 7, "classes": 3}}, (7,), 3),
        ({"source": "synthetic", "options": {"samples": 300, "kind": "image", "image_size": 12, "classes": 4}}, (12, 12, 1), 4),
    ],
    ids=["digits", "breast_cancer", "synthetic_tabular", "synthetic_image"],
)
def test_builtin_sources(data, shape, classes) -> None:
    ds = load_dataset(_data(**data))
    assert ds.input_shape == shape
    assert ds.n_classes == classes


def test_split_is_stratified_seeded_and_disjoint() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(500, 3))
    y = np.r_[np.zeros(400), np.ones(100)].astype(int)
    a = split(x, y, 0.2, 0.2, seed=1, name="t")
    b = split(x, y, 0.2, 0.2, seed=1, name="t")
    c = split(x, y, 0.2, 0.2, seed=2, name="t")
    assert np.array_equal(a.x_test, b.x_test) and not np.array_equal(a.x_test, c.x_test)
    for part in (a.y_train, a.y_val, a.y_test):
        assert part.mean() == pytest.approx(0.2, abs=0.02)
    rows = [set(map(tuple, arr.round(8))) for arr in (a.x_train, a.x_val, a.x_test)]
    assert not rows[0] & rows[1] and not rows[0] & rows[2] and not rows[1] & rows[2]
    assert len(a.y_train) + len(a.y_val) + len(a.y_test) == 500


@pytest.mark.parametrize("method", ["standard", "minmax"])
def test_normalization_is_fitted_on_train_only(method: str) -> None:
    rng = np.random.default_rng(0)
    ds = split(rng.normal(5, 3, size=(400, 4)), rng.integers(0, 2, 400), 0.25, 0.25, seed=0, name="t")
    shifted = ds.__class__(ds.x_train, ds.y_train, ds.x_val + 100, ds.y_val, ds.x_test, ds.y_test, 2, "t")
    out = normalize(shifted, method)
    if method == "standard":
        assert np.allclose(out.x_train.mean(axis=0), 0, atol=1e-5)
        assert np.allclose(out.x_train.std(axis=0), 1, atol=1e-4)
        expected_val = (shifted.x_val - ds.x_train.mean(axis=0)) / ds.x_train.std(axis=0)
    else:
        assert np.allclose(out.x_train.min(axis=0), 0) and np.allclose(out.x_train.max(axis=0), 1)
        low, high = ds.x_train.min(axis=0), ds.x_train.max(axis=0)
        expected_val = (shifted.x_val - low) / (high - low)
    # Validation data is transformed with the training statistics, never its own.
    assert np.allclose(out.x_val, expected_val, atol=1e-4)


def test_npz_csv_and_image_folder(tmp_path) -> None:
    from PIL import Image

    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 4))
    y = np.repeat([0, 1, 2], 20)
    np.savez(tmp_path / "d.npz", x=x, y=y)
    assert load_dataset(_data(source="npz", path=str(tmp_path / "d.npz"))).n_classes == 3

    ready = {f"{a}_{p}": v for p in ("train", "val", "test") for a, v in (("x", x), ("y", y))}
    np.savez(tmp_path / "ready.npz", **ready)
    ds = load_dataset(_data(source="npz", path=str(tmp_path / "ready.npz")))
    assert len(ds.y_train) == len(ds.y_val) == len(ds.y_test) == 60

    import pandas as pd

    pd.DataFrame({"a": x[:, 0], "b": x[:, 1], "label": np.array(["cat", "dog", "eel"])[y]}).to_csv(tmp_path / "d.csv", index=False)
    ds = load_dataset(_data(source="csv", path=str(tmp_path / "d.csv"), target="label"))
    assert ds.input_shape == (2,) and ds.n_classes == 3

    for label in ("circle", "square"):
        (tmp_path / "imgs" / label).mkdir(parents=True)
        for i in range(6):
            Image.fromarray((rng.random((10, 10)) * 255).astype(np.uint8)).save(tmp_path / "imgs" / label / f"{i}.png")
    ds = load_dataset(_data(source="image_folder", path=str(tmp_path / "imgs"), options={"image_size": 8}))
    assert ds.input_shape == (8, 8, 1) and ds.n_classes == 2


def test_user_loader_reference() -> None:
    ds = load_dataset(_data(source="tests.user_code:load", options={"samples": 90, "features": 3}))
    assert ds.input_shape == (3,) and len(ds.y_train) + len(ds.y_val) + len(ds.y_test) == 90


BAD_DATA = [
    ("wrong_length", np.zeros((10, 3)), np.zeros(9), "same length, but got 10 and 9"),
    ("labels_2d", np.zeros((10, 3)), np.zeros((10, 2)), r"labels must be one label per sample, shape \(n,\), but got shape \(10, 2\)"),
    ("single_class", np.random.default_rng(0).normal(size=(10, 3)), np.ones(10), r"at least 2 classes, but every label is \[1"),
    ("nan_features", np.array([[np.nan, 1.0]] * 10), np.arange(10) % 2, "features must be finite, but 10 samples hold NaN"),
    ("bad_rank", np.zeros((10,)), np.zeros(10), r"features must be \(n, features\)"),
]


@pytest.mark.parametrize(("x", "y", "pattern"), [c[1:] for c in BAD_DATA], ids=[c[0] for c in BAD_DATA])
def test_bad_arrays(x, y, pattern) -> None:
    with pytest.raises(DataError, match=pattern):
        split(x, y, 0.2, 0.2, seed=0, name="bad")


def test_missing_file_and_target_column(tmp_path) -> None:
    with pytest.raises(DataError, match="data file not found"):
        load_dataset(_data(source="npz", path=str(tmp_path / "missing.npz")))
    (tmp_path / "d.csv").write_text("a,b\n1,2\n3,4\n")
    with pytest.raises(DataError, match=r"target column 'label' not found; columns are \['a', 'b'\]"):
        load_dataset(_data(source="csv", path=str(tmp_path / "d.csv"), target="label"))


def _splits(y_train, y_val, y_test) -> dict:
    rng = np.random.default_rng(0)
    arrays = {}
    for part, y in (("train", y_train), ("val", y_val), ("test", y_test)):
        arrays[f"x_{part}"] = rng.random((len(y), 4)).astype("float32")
        arrays[f"y_{part}"] = np.asarray(y)
    return arrays


def test_user_splits_encode_labels_once_from_the_training_split() -> None:
    from hpo.data._sources import _from_splits

    # The test split lacks class "b": "c" must still be index 2 there, as in training.
    data = _from_splits(_splits(["a", "b", "c", "a", "b", "c"], ["a", "b", "c"], ["a", "c", "c"]), "user")
    assert data.n_classes == 3
    assert data.y_train.tolist() == [0, 1, 2, 0, 1, 2]
    assert data.y_test.tolist() == [0, 2, 2]


def test_user_splits_refuse_labels_the_training_split_never_saw() -> None:
    from hpo.data._sources import _from_splits

    with pytest.raises(DataError, match=r"user \(val\): labels \[7\] never appear in the training split \(\[0, 1\]\)"):
        _from_splits(_splits([0, 1, 0, 1], [0, 7], [0, 1]), "user")


# (samples, class weights or None for a regression target, test fraction, seed): the shapes hpo's
# split meets, with ties in the class counts and remainders (where scikit-learn draws at random)
SPLITS = [
    (1797, [0.1] * 10, 0.2, 0),
    (569, [0.37, 0.63], 0.25, 3),
    (442, None, 0.2, 0),
    (300, [0.2, 0.2, 0.2, 0.2, 0.2], 0.3, 7),
    (101, [0.5, 0.3, 0.2], 0.15, 11),
    (64, [0.25] * 4, 0.1875, 42),
    (37, None, 0.33, 5),
    (1000, [0.9, 0.05, 0.05], 0.2, 123),
]


@pytest.mark.parametrize(("samples", "weights", "test_size", "seed"), SPLITS)
def test_the_split_takes_the_samples_scikit_learns_train_test_split_takes(samples, weights, test_size, seed) -> None:
    """hpo splits without importing scikit-learn (2 s of every driver's start), but a study resumed
    across that change must train on the same samples: the indices equal train_test_split's."""
    from sklearn.model_selection import train_test_split

    from hpo.data._shuffle import shuffle_split

    rng = np.random.default_rng(seed)
    y = None if weights is None else rng.choice(len(weights), size=samples, p=weights)
    expected_train, expected_test = train_test_split(np.arange(samples), test_size=test_size, random_state=seed, stratify=y)
    train, test = shuffle_split(samples, test_size, seed, stratify=y)
    np.testing.assert_array_equal(train, expected_train)
    np.testing.assert_array_equal(test, expected_test)


@pytest.mark.parametrize("name", ["digits", "breast_cancer", "diabetes"])
def test_a_bundled_data_set_is_read_value_for_value_as_scikit_learn_loads_it(name) -> None:
    """hpo reads scikit-learn's data files without importing it; the arrays, the three-way split
    and the dtypes are the ones scikit-learn's loaders and train_test_split gave."""
    from sklearn import datasets
    from sklearn.model_selection import train_test_split

    from hpo.data._sources import _builtin, _bundled

    assert _bundled(name) is not None  # this scikit-learn keeps its files where hpo looks
    x, y = _builtin(name, {}, 0)
    bunch = getattr(datasets, f"load_{name}")()
    expected_x = bunch.images[..., None].astype(np.float32) if name == "digits" else bunch.data
    expected_y = bunch.target.astype(np.float32) if name == "diabetes" else bunch.target
    for got, expected in ((x, expected_x), (y, expected_y)):
        assert got.dtype == expected.dtype and got.shape == expected.shape
        np.testing.assert_array_equal(got, expected)
    task = "regression" if name == "diabetes" else "classification"
    data = split(np.arange(len(y), dtype=np.float32)[:, None], y, 0.2, 0.2, 0, name, task)  # x: each sample's index
    stratify = None if name == "diabetes" else y
    rest, test = train_test_split(np.arange(len(y)), test_size=0.2, stratify=stratify, random_state=0)
    train, val = train_test_split(rest, test_size=0.25, stratify=None if stratify is None else y[rest], random_state=0)
    for got, expected in ((data.x_train, train), (data.x_val, val), (data.x_test, test)):
        np.testing.assert_array_equal(got[:, 0], expected)


def test_a_stratified_split_with_fewer_samples_than_classes_on_one_side_says_so() -> None:
    with pytest.raises(DataError, match="at least one per class on each side"):
        split(np.zeros((30, 2)), np.repeat(np.arange(10), 3), 0.1, 0.1, 0, "tiny")
