"""Resumable training: a trial paused after an epoch and continued from its checkpoint (as bytes,
after the process's Keras state was cleared) follows exactly the curve of training that never
paused, with random layers, batch statistics, momentum and a decaying learning rate in play."""

from __future__ import annotations

import pytest

from hpo._trial import TrialContext
from hpo.config import SweepConfig
from hpo.data import load_dataset

pytestmark = pytest.mark.slow

EPOCHS = 5


def _setting(family: str) -> tuple[SweepConfig, dict]:
    source = {"source": "digits"} if family == "cnn" else {"source": "synthetic", "options": {"samples": 400, "features": 10, "classes": 3}}
    config = SweepConfig.model_validate({"name": "resume", "data": source, "train": {"epochs": EPOCHS, "seed": 7}, "objective": {"metric": "val_accuracy"}})
    params = {
        "family": family, "depth": 2, "units_0": 24, "units_1": 12, "dropout_0": 0.3, "dropout_1": 0.2, "batch_norm": True,
        "conv_blocks": 1, "filters_0": 8, "conv_dropout": 0.2, "augment": family == "cnn",
        "optimizer": "sgd", "learning_rate": 0.05, "momentum": 0.9, "lr_schedule": "exponential", "decay_rate": 0.8,
        "batch_size": 32,
    }
    return config, params


def _train(config: SweepConfig, params: dict, data, **kwargs):
    from hpo.engine import TrainPlan, release_trial_state, train_trial

    reported: list[tuple[int, dict]] = []
    context = TrialContext(number=0, params=dict(params), data=data, seed=config.train.seed, epochs=config.train.epochs,
                           _sink=lambda epoch, metrics: reported.append((epoch, metrics)))
    result = train_trial(TrainPlan.of(config), context, resumable=True, **kwargs)
    release_trial_state()  # the continuation must not lean on anything left in this process
    return result, reported


def _curve(reported: list[tuple[int, dict]]) -> list[float]:
    return [value for epoch, m in reported for value in (epoch, m["loss"], m["val_loss"], m["val_accuracy"])]


@pytest.mark.parametrize("family", ["mlp", "cnn"])
@pytest.mark.parametrize("pauses", [(2,), (1, 3)])
def test_continuing_from_a_checkpoint_follows_the_curve_of_training_without_a_pause(family, pauses) -> None:
    from hpo.engine import Checkpoint

    config, params = _setting(family)
    data = load_dataset(config.data)
    whole, whole_reported = _train(config, params, data)
    assert whole.checkpoint is None and len(whole.history) == EPOCHS

    reported: list[tuple[int, dict]] = []
    start = None
    for stop in (*pauses, None):
        part, part_reported = _train(config, params, data, start=start, pause_after=stop)
        reported += part_reported
        if stop is not None:
            assert part.checkpoint is not None and part.checkpoint.epoch == stop
            start = Checkpoint.from_bytes(part.checkpoint.to_bytes())  # as it travels and is stored
        else:
            assert part.checkpoint is None
    assert [e for e, _ in reported] == list(range(1, EPOCHS + 1))  # no gap, no repeat
    assert _curve(reported) == pytest.approx(_curve(whole_reported), rel=1e-5, abs=1e-6)
    assert [h["val_accuracy"] for h in part.history] == pytest.approx([h["val_accuracy"] for h in whole.history], rel=1e-5)


def test_a_checkpoint_of_another_model_is_refused_with_the_reason() -> None:
    from hpo._errors import TrialFailed

    config, params = _setting("mlp")
    data = load_dataset(config.data)
    paused, _ = _train(config, params, data, pause_after=1)
    with pytest.raises(TrialFailed, match="the checkpoint holds .* model variables but this configuration builds"):
        _train(config, {**params, "depth": 1}, data, start=paused.checkpoint)


@pytest.mark.parametrize(("answer", "paused_after"), [(None, 2), (4, 4), (EPOCHS, None)], ids=["pauses", "next_rung", "to_the_end"])
def test_promoted_at_its_rung_the_trial_trains_on_in_the_same_fit(answer, paused_after) -> None:
    """The driver's answer to the rung's report moves the pause on (or away): the same model
    trains on, on the curve of training that never paused."""
    from hpo._trial import Answers
    from hpo.engine import TrainPlan, release_trial_state, train_trial

    config, params = _setting("mlp")
    data = load_dataset(config.data)
    _, whole_reported = _train(config, params, data)
    answers = Answers()
    answers.hear(2, answer)  # answered before the report: the rung's wait returns at once
    reported: list[tuple[int, dict]] = []
    context = TrialContext(number=0, params=dict(params), data=data, seed=config.train.seed, epochs=config.train.epochs,
                           pause_after=2, _sink=lambda epoch, metrics: reported.append((epoch, metrics)), _answers=answers, _awaits_answers=True)
    result = train_trial(TrainPlan.of(config), context, resumable=True)
    release_trial_state()
    assert (result.checkpoint.epoch if result.checkpoint is not None else None) == paused_after
    assert [e for e, _ in reported] == list(range(1, (paused_after or EPOCHS) + 1))
    assert _curve(reported) == pytest.approx(_curve(whole_reported[: len(reported)]), rel=1e-5, abs=1e-6)


def test_periodic_checkpoints_of_the_builtin_trainer_continue_on_the_same_curve() -> None:
    """With ``checkpoint.every_epochs: 2`` the trainer saves after epochs 2 and 4 (not after the
    last) and trains on; a run continued from the epoch-2 save reports epochs 3 to 5 exactly as the
    run that never stopped did."""
    from hpo.engine import Checkpoint, TrainPlan, release_trial_state, train_trial

    config, params = _setting("mlp")
    data = load_dataset(config.data)
    saved: list[tuple[int, bytes]] = []
    reported: list[tuple[int, dict]] = []
    context = TrialContext(0, dict(params), data, config.train.seed, EPOCHS, checkpoint_every=2,
                           _sink=lambda epoch, metrics: reported.append((epoch, metrics)),
                           _save_sink=lambda epoch, state: saved.append((epoch, state.to_bytes())))
    whole = train_trial(TrainPlan.of(config), context, resumable=True)
    release_trial_state()
    assert whole.checkpoint is None and [epoch for epoch, _ in saved] == [2, 4]
    start = Checkpoint.from_bytes(saved[0][1])
    assert start.epoch == 2
    continued: list[tuple[int, dict]] = []
    rerun = TrialContext(1, dict(params), data, config.train.seed, EPOCHS, checkpoint=start, _last_epoch=2,
                         _sink=lambda epoch, metrics: continued.append((epoch, metrics)))
    train_trial(TrainPlan.of(config), rerun, resumable=True, start=start)
    release_trial_state()
    assert [epoch for epoch, _ in continued] == [3, 4, 5]
    assert _curve(continued) == pytest.approx(_curve(reported[2:]), rel=1e-5, abs=1e-6)
