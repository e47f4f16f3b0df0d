"""Real Keras training on tiny data: builders, reporting, stopping, failures, reproducibility."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from hpo import TrialContext, TrialFailed, TrialStopped
from hpo.config import SweepConfig
from hpo.data import load_dataset
from hpo.engine import TrainPlan, build_model, train_trial
from tests.conftest import REPO

pytestmark = pytest.mark.slow

TABLE = {"source": "synthetic", "options": {"samples": 240, "features": 6, "classes": 3}}
IMAGES = {"source": "synthetic", "options": {"samples": 240, "kind": "image", "image_size": 8, "classes": 3}}


def _config(data: dict, epochs: int = 2, **extra) -> SweepConfig:
    return SweepConfig.model_validate({"name": "t", "data": data, "train": {"epochs": epochs}, **extra})


def _trial(config: SweepConfig, params: dict, history: list | None = None) -> TrialContext:
    """A trial context on the sweep's data that records each report into ``history``."""
    sink = (lambda epoch, metrics: history.append((epoch, metrics))) if history is not None else (lambda e, m: None)
    return TrialContext(0, params, load_dataset(config.data), config.train.seed, config.train.epochs, _sink=sink)


MLP = {"family": "mlp", "depth": 2, "units_0": 16, "units_1": 8, "dropout_0": 0.1, "activation": "relu", "batch_size": 32, "optimizer": "adam", "learning_rate": 0.01}
CNN = {"family": "cnn", "conv_blocks": 2, "filters_0": 8, "filters_1": 8, "kernel_size": 3, "pooling": "max", "depth": 1, "units_0": 16, "batch_norm": True, "batch_size": 32, "optimizer": "sgd", "momentum": 0.9, "learning_rate": 0.05, "lr_schedule": "cosine", "warmup_epochs": 1}


@pytest.mark.parametrize(("data", "params"), [(TABLE, MLP), (IMAGES, CNN), (IMAGES, {**MLP, "augment": True, "augment_strength": 0.1})], ids=["mlp", "cnn", "mlp_on_images_augmented"])
def test_builder_trains_and_reports_each_epoch(data, params) -> None:
    history: list = []
    config = _config(data, epochs=2)
    result = train_trial(TrainPlan.of(config), _trial(config, params, history))
    assert [e for e, _ in history] == [1, 2]
    assert result.epochs == 2
    for key in ("loss", "val_loss", "val_accuracy", "val_precision", "val_recall", "val_f1", "val_auc"):
        assert np.isfinite(history[-1][1][key])


@pytest.mark.parametrize(
    ("base", "knob", "small", "large"),
    [(MLP, "depth", 1, 2), (MLP, "units_0", 8, 64), (CNN, "conv_blocks", 1, 2), (CNN, "filters_0", 4, 16)],
    ids=["mlp_depth", "mlp_width", "cnn_depth", "cnn_filters"],
)
def test_parameter_count_responds_to_depth_and_width(base, knob, small, large) -> None:
    import keras

    shape = (8, 8, 1) if base["family"] == "cnn" else (6,)
    # A deeper CNN pools more, so its dense head can shrink: compare the layers the knob controls.
    kind = keras.layers.Conv2D if base["family"] == "cnn" else keras.layers.Dense
    counts = [
        sum(layer.count_params() for layer in build_model("builtin", {**base, knob: v}, shape, 3, seed=0).layers if isinstance(layer, kind))
        for v in (small, large)
    ]
    assert counts[1] > counts[0]


RANDOM_CNN = {**CNN, "conv_dropout": 0.2, "dropout_0": 0.3, "augment": True, "augment_flip": True, "augment_strength": 0.1}


def test_the_builtin_models_randomness_follows_the_trial_seed_alone() -> None:
    """Initial weights, dropout masks and augmentation come from the trial's seed, never from
    Python's global random state, which any thread of the process may draw from between the
    trial's seeding and its build (an MLflow client's retries do, with jitter): the same seed
    builds and trains the same model whatever was drawn before, another seed another one."""
    import random

    x = np.random.default_rng(0).random((4, 8, 8, 1)).astype("float32")

    def built(seed: int, drawn_before: int) -> list[np.ndarray]:
        random.seed(drawn_before)
        model = build_model("builtin", RANDOM_CNN, (8, 8, 1), 3, seed=seed)
        return [np.asarray(w) for w in model.weights] + [np.asarray(model(x, training=True))]

    same, other_state, other_seed = built(7, 1), built(7, 2), built(8, 1)
    assert all(np.array_equal(a, b) for a, b in zip(same, other_state, strict=True))
    assert not np.allclose(same[-1], other_seed[-1])
    assert not all(np.array_equal(a, b) for a, b in zip(same[:-1], other_seed[:-1], strict=True))


def test_augmentation_is_off_at_inference() -> None:
    model = build_model("builtin", {**MLP, "augment": True, "augment_strength": 0.2, "augment_flip": True}, (8, 8, 1), 3, seed=0)
    x = np.random.default_rng(0).random((4, 8, 8, 1)).astype("float32")
    inference = [np.asarray(model(x, training=False)) for _ in range(2)]
    training = [np.asarray(model(x, training=True)) for _ in range(2)]
    assert np.allclose(inference[0], inference[1])
    assert not np.allclose(training[0], training[1])


def test_a_stop_from_the_sweep_ends_training_at_the_next_batch() -> None:
    config = _config(TABLE, epochs=6)
    history: list = []
    trial = _trial(config, MLP, history)
    sink = trial._sink

    def stop_after_two(epoch: int, metrics: dict) -> None:
        sink(epoch, metrics)
        if epoch == 2:
            trial._answers.stop()  # what TrialWorker.stop() does when the driver's pruner decides

    trial._sink = stop_after_two
    with pytest.raises(TrialStopped):
        train_trial(TrainPlan.of(config), trial)
    assert [e for e, _ in history] == [1, 2]


def test_nan_learning_rate_fails_the_trial_cleanly() -> None:
    # Linear units diverge at this rate whatever the initial weights (ReLU units may all die
    # instead and leave a finite, constant loss: that depended on the seed).
    params = {**MLP, "optimizer": "sgd", "learning_rate": 1e12, "normalization": "none", "activation": "linear"}
    with pytest.raises(TrialFailed, match=r"training loss became (nan|inf) at epoch 1; lower learning_rate"):
        config = _config({"source": "digits"}, epochs=2)
        train_trial(TrainPlan.of(config), _trial(config, params))


def test_cnn_on_tabular_data_fails_the_trial() -> None:
    with pytest.raises(TrialFailed, match="family 'cnn' needs image input"):
        train_trial(TrainPlan.of(_config(TABLE)), _trial(_config(TABLE), CNN))


def test_user_builder_and_loader_from_yaml(write_file) -> None:
    from hpo.config import load_sweep

    sweep = write_file("s.yaml", """
        name: user
        data: {source: "tests.user_code:load", options: {samples: 100, features: 4}}
        model: {builder: "tests.user_code:build"}
        objective: {metric: val_accuracy}
        train: {epochs: 1}
        space: {params: {width: {type: int, low: 4, high: 8}}}
    """)
    config = load_sweep(sweep).config
    assert load_dataset(config.data).input_shape == (4,)
    result = train_trial(TrainPlan.of(config), _trial(config, {"width": 5}), keep_model=True)
    assert result.model.name == "user_built"
    assert result.model.layers[2].units == 5


def test_trials_are_reproducible_and_state_is_cleaned_between_them() -> None:
    config = _config(IMAGES, epochs=2)
    runs = []
    for params in (CNN, {**MLP, "depth": 1}, CNN):  # a different model in between must not leak state
        history: list = []
        train_trial(TrainPlan.of(config), _trial(config, params, history))
        runs.append([m["val_loss"] for _, m in history])
    assert runs[0] == pytest.approx(runs[2], rel=1e-6)


_PLAIN_CNN = {**CNN, "batch_norm": False}  # nothing else that trains differently from how it predicts
_AUGMENTED_CNN = {**_PLAIN_CNN, "augment": True, "augment_strength": 0.2, "augment_flip": True}


@pytest.mark.parametrize("params", [_PLAIN_CNN, _AUGMENTED_CNN], ids=["cnn", "cnn_augmented"])
def test_jax_backend_trains_a_trial_compiled(params, tmp_path) -> None:
    """On JAX every built-in model trains compiled (jit): an augmented one too, whose random layers
    Keras marks jit-incompatible for TensorFlow's sake (op by op, an epoch took 15x longer); and
    inside the compiled call the augmentation still runs in training and stays off in inference.
    Each step compiles once per trial: the training set (144) is not a multiple of the batch (32)
    and the validation set (48) not of the predict chunk (20 here), yet no second shape reaches
    JAX, and the padded chunks predict what one call on the whole set predicts. A rebuilt model of
    the same configuration compiles to the same program: JAX's persistent cache (which the trial
    workers turn on) serves its training step."""
    pytest.importorskip("jax")
    code = (
        "import json, logging, jax, keras, numpy as np\n"
        "jax.config.update('jax_log_compiles', True)\n"
        "compiled = []\n"
        "class Compiles(logging.Handler):\n"
        "    def emit(self, record):\n"
        "        if record.getMessage().startswith('Finished XLA compilation of jit('):\n"
        "            compiled.append(record.getMessage().split('jit(')[1].split(')')[0])\n"
        "        if record.getMessage().startswith('Persistent compilation cache hit for '):\n"
        "            compiled.append('cache hit: ' + record.getMessage().split(\"'\")[1])\n"
        "logging.getLogger('jax').addHandler(Compiles())\n"
        "from hpo import TrialContext\nfrom hpo.config import SweepConfig\nfrom hpo.data import load_dataset\nfrom hpo.engine import TrainPlan, train_trial\n"
        "import hpo.engine._train as engine\nengine._PREDICT_BATCH = 20\n"
        f"c = SweepConfig.model_validate({{'name': 't', 'data': {IMAGES!r}, 'train': {{'epochs': 2}}}})\n"
        "h = []\nd = load_dataset(c.data)\n"
        f"r = train_trial(TrainPlan.of(c), TrialContext(0, {params!r}, d, 0, 2, _sink=lambda e, m: h.append(m)), keep_model=True)\n"
        "m = r.model\n"
        "steps = {name: compiled.count(name) for name in ('train_step', 'predict_step')}\n"
        "same = bool(np.allclose(engine._predict(m, d.x_val), np.asarray(m.predict_on_batch(d.x_val)), atol=1e-5))\n"
        "sizes = (len(d.y_train), len(d.y_val))\n"
        f"train_trial(TrainPlan.of(c), TrialContext(1, {params!r}, d, 0, 2, _sink=lambda e, m: None))\n"
        "again = compiled.count('cache hit: jit_train_step')\n"
        "x = np.random.default_rng(0).random((4, 8, 8, 1)).astype('float32')\n"
        "p = np.asarray(m.predict_on_batch(x))\n"
        "call = jax.jit(lambda t, n, x, training: m.stateless_call(t, n, x, training=training)[0], static_argnums=3)\n"
        "t, n = [v.value for v in m.trainable_variables], [v.value for v in m.non_trainable_variables]\n"
        "moved = [float(np.abs(np.asarray(call(t, n, x, training)) - p).max()) for training in (True, False)]\n"
        "print(json.dumps({'backend': keras.backend.backend(), 'acc': h[-1]['val_accuracy'], 'n': len(h), 'jit': m.jit_compile, 'moved': moved,\n"
        "                  'steps': steps, 'same': same, 'sizes': sizes, 'again': again}))\n"
    )
    cache = {"JAX_COMPILATION_CACHE_DIR": str(tmp_path / "jax-cache"), "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0"}
    env = {**os.environ, "KERAS_BACKEND": "jax", **cache}
    out = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, env=env, cwd=REPO, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["backend"] == "jax" and result["n"] == 2 and 0 <= result["acc"] <= 1
    assert result["jit"] is True
    assert result["sizes"] == [144, 48] and result["steps"] == {"train_step": 1, "predict_step": 1}
    assert result["same"] is True
    assert result["again"] == 1  # the same configuration, rebuilt: its training step comes from JAX's persistent cache
    in_training, in_inference = result["moved"]
    assert in_inference < 1e-5
    assert (in_training > 1e-3) == params.get("augment", False)  # only augmentation moves it


def test_batch_norm_inference_matches_training_on_small_data() -> None:
    """Keras' default BN momentum (0.99) leaves inference statistics near their initial values on a
    small set (17 steps per epoch here) and validation accuracy falls to chance."""
    params = {**CNN, "optimizer": "adam", "learning_rate": 0.003, "lr_schedule": "none", "normalization": "minmax", "batch_size": 64, "filters_0": 16, "filters_1": 16}
    history: list = []
    config = _config({"source": "digits"}, epochs=4)
    train_trial(TrainPlan.of(config), _trial(config, params, history))
    assert history[-1][1]["val_accuracy"] > 0.8


def test_a_users_own_compile_is_kept_behind_the_normalization_layer() -> None:
    """Normalization wraps a user-compiled model in a new one, compiled again with the user's
    optimizer, loss, steps per execution and XLA choice (jit_compile=True stays True on a CPU)."""
    import keras

    from hpo.engine._train import with_normalization

    config = _config(TABLE)
    data = load_dataset(config.data)
    model = build_model("tests.user_code:build_compiled", {"width": 8}, data.input_shape, data.n_classes, seed=0)
    wrapped = with_normalization(model, data, "standard")
    assert wrapped is not model and wrapped.optimizer is model.optimizer
    assert isinstance(wrapped.optimizer, keras.optimizers.SGD)
    assert (wrapped.steps_per_execution, wrapped.jit_compile) == (4, True)
    history: list = []
    train_trial(TrainPlan.of(_config(TABLE, model={"builder": "tests.user_code:build_compiled"})),
                _trial(config, {"width": 8, "normalization": "standard", "batch_size": 32}, history))
    assert [e for e, _ in history] == [1, 2]
