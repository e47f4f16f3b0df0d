"""The TensorFlow input pipeline of the built-in trainer: whole batches in a seeded order, a new
order per epoch, no tf.data autotuning (whose thread can hold up a stopped trial's worker)."""

from __future__ import annotations

import math

import keras
import numpy as np
import pytest

from hpo import TrialContext
from hpo.config import SweepConfig
from hpo.data import load_dataset
from hpo.engine import TrainPlan, train_trial
from hpo.engine._batches import epoch_order, tf_batches

pytestmark = pytest.mark.slow
tf = pytest.importorskip("tensorflow")


def _epoch(dataset) -> tuple[list[int], list[int]]:
    """One iterator's batch sizes and sample order; each sample's x is its own index, as y is."""
    sizes, order = [], []
    for x, y in dataset:
        assert x.numpy()[:, 0].tolist() == y.numpy().tolist()  # features and targets stay paired
        sizes.append(len(y))
        order += y.numpy().tolist()
    return sizes, order


def _arrays(n: int) -> tuple[np.ndarray, np.ndarray]:
    return np.arange(n, dtype=np.float32)[:, None], np.arange(n)


@pytest.mark.parametrize(("n", "batch"), [(10, 4), (12, 4), (5, 8)])
def test_every_epoch_reads_a_new_seeded_permutation_in_whole_batches(n, batch) -> None:
    keras.utils.set_random_seed(0)
    dataset = tf_batches(*_arrays(n), batch, seed=7)
    first, second = _epoch(dataset), _epoch(dataset)
    sizes = [batch] * (n // batch) + ([n % batch] if n % batch else [])
    assert first[0] == second[0] == sizes
    assert sorted(first[1]) == sorted(second[1]) == list(range(n))
    assert first[1] != second[1]  # fit opens an iterator per epoch: each epoch is shuffled anew
    assert int(dataset.cardinality()) == math.ceil(n / batch)
    assert dataset.options().autotune.enabled is False

    keras.utils.set_random_seed(0)
    again = tf_batches(*_arrays(n), batch, seed=7)
    assert (_epoch(again), _epoch(again)) == (first, second)  # the same seeds, the same epochs


@pytest.mark.parametrize("used", [12, 8])
def test_a_given_order_is_one_epoch_in_that_order(used) -> None:
    order = epoch_order(12, used, seed=3, epoch=2)
    sizes, seen = _epoch(tf_batches(*_arrays(12), 5, seed=3, order=order))
    assert seen == order.tolist()
    assert sizes == [5] * (used // 5) + [used % 5]


def test_epoch_order_is_drawn_from_seed_and_epoch() -> None:
    assert epoch_order(50, 50, 1, 4).tolist() == epoch_order(50, 50, 1, 4).tolist()
    assert epoch_order(50, 50, 1, 4).tolist() != epoch_order(50, 50, 1, 5).tolist()
    assert epoch_order(50, 32, 1, 4).tolist() == epoch_order(50, 50, 1, 4)[:32].tolist()


@pytest.mark.parametrize("resumable", [False, True], ids=["one_fit", "fit_per_epoch"])
def test_the_trainer_feeds_fit_through_the_pipeline(monkeypatch, resumable) -> None:
    config = SweepConfig.model_validate({
        "name": "t", "train": {"epochs": 2},
        "data": {"source": "synthetic", "options": {"samples": 120, "features": 4, "classes": 3}},
    })
    params = {"family": "mlp", "depth": 1, "units_0": 8, "batch_size": 32, "optimizer": "adam", "learning_rate": 0.01}
    fed = []
    fit = keras.Model.fit

    def recording_fit(self, x=None, *args, **kwargs):
        fed.append(x)
        return fit(self, x, *args, **kwargs)

    monkeypatch.setattr(keras.Model, "fit", recording_fit)
    context = TrialContext(0, params, load_dataset(config.data), 0, 2)
    result = train_trial(TrainPlan.of(config), context, resumable=resumable)
    assert len(result.history) == 2
    assert len(fed) == (2 if resumable else 1)
    assert all(isinstance(x, tf.data.Dataset) and x.options().autotune.enabled is False for x in fed)
