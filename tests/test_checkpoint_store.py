"""Where checkpoints are kept (no Ray): a local folder, any fsspec filesystem, a real S3-compatible
server. The same operations hold on each: whole writes, hand-over, deletion, listing."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import optuna
import pytest
from optuna.trial import TrialState

from hpo.executor import Lifecycle, Rules
from hpo.executor._checkpoints import CheckpointStore
from tests._s3 import BUCKET, s3_server


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    with s3_server() as endpoint:
        yield endpoint


@pytest.fixture(params=["folder", "memory", "s3"])
def location(request, tmp_path) -> tuple[str, dict]:
    if request.param == "folder":
        return str(tmp_path / "checkpoints"), {}
    if request.param == "memory":
        return f"memory://hpo-{uuid.uuid4().hex}/checkpoints", {}
    endpoint = request.getfixturevalue("s3_endpoint")
    return f"s3://{BUCKET}/{uuid.uuid4().hex}/study", {"endpoint_url": endpoint}


def test_save_load_move_drop_and_list(location) -> None:
    url, options = location
    store = CheckpointStore(url, options=options)
    assert store.load(0) is None and store.numbers() == [] and store.move(0, 1) is None
    store.save(0, b"epoch 2")
    store.save(0, b"epoch 4")  # over the last one
    store.save(3, b"other")
    assert store.load(0) == b"epoch 4" and store.numbers() == [0, 3] and store.has(0) and not store.has(1)
    assert store.move(0, 5) == b"epoch 4"  # the re-run takes it over
    assert store.load(0) is None and store.load(5) == b"epoch 4" and store.numbers() == [3, 5]
    assert not store.has(0) and store.has(5)
    store.drop(5)
    store.drop(5)  # dropping what is gone is no error
    assert store.numbers() == [3]
    kept = CheckpointStore(url, keep=True, options=options)
    kept.drop(3)
    assert kept.load(3) == b"other"  # keep: an ended trial's file stays


def test_a_second_driver_sees_what_the_first_wrote(location) -> None:
    """Two drivers of one study, each with its own store and filesystem (as in two processes)."""
    url, options = location
    own = {**options, "skip_instance_cache": True}
    first, second = CheckpointStore(url, options=own), CheckpointStore(url, options=own)
    first.save(1, b"old")
    assert second.numbers() == [1]  # listed (and, by S3's filesystem, cached) before the next write
    first.save(7, b"state")
    assert second.numbers() == [1, 7] and second.has(7) and second.move(7, 8) == b"state"
    assert first.load(8) == b"state" and first.numbers() == [1, 8]


def test_the_end_of_a_sweep_drops_only_checkpoints_nothing_will_take_over(tmp_path) -> None:
    """Kept: a running trial's, and an interrupted trial's whose re-run is queued or running (on any
    driver). Dropped: a trial's that ended (its driver was killed before deleting it)."""
    storage = optuna.storages.InMemoryStorage()
    study = optuna.create_study(storage=storage)
    store = CheckpointStore(tmp_path / "checkpoints")
    lifecycle = Lifecycle(study, storage, Rules(metric="m", direction="minimize", max_epochs=3), None, store)
    ended, running, queued_for, running_for = (study.ask() for _ in range(4))
    study.tell(ended, 1.0)
    study.tell(queued_for, state=TrialState.FAIL)
    study.tell(running_for, state=TrialState.FAIL)
    study.enqueue_trial({}, user_attrs={"hpo:retry_of": queued_for.number})
    rerun = study.ask()  # takes the queued trial: running, a re-run of ``running_for`` below
    rerun.set_user_attr("hpo:retry_of", running_for.number)
    study.enqueue_trial({}, user_attrs={"hpo:retry_of": queued_for.number})
    for trial in (ended, running, queued_for, running_for):
        store.save(trial.number, b"x")
    assert lifecycle.drop_orphaned_checkpoints() == [ended.number]
    assert store.numbers() == [running.number, queued_for.number, running_for.number]
