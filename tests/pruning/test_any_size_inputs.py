"""Latency and MACs targets for a model whose input takes any size
(`keras.Input((None, None, 1))`): refused up front, never met at a
placeholder size, in `prune`, in `compress` and on the command line."""

import os

import keras
import numpy as np
import pytest
from absl import app
from absl import flags
from absl.testing import flagsaver

import tf_compact as tfc
from tf_compact.cli import compress as compress_cli
from tf_compact.pruning import masks as masks_module
from tf_compact.pruning.latency import build_latency_table
from tf_compact.pruning.latency import measure_latency
from tf_compact.pruning.latency_probes import export_probes


def _any_size_cnn():
    inputs = keras.Input((None, None, 1), name="image")
    x = keras.layers.Conv2D(4, 3, padding="same", name="conv1")(inputs)
    x = keras.layers.BatchNormalization(name="bn1")(x)
    x = keras.layers.ReLU(name="relu1")(x)
    x = keras.layers.Conv2D(8, 3, strides=2, name="conv2")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    outputs = keras.layers.Dense(10, name="logits")(x)
    return keras.Model(inputs, outputs, name="any_size")


@pytest.fixture(scope="module")
def model():
    return _any_size_cnn()


def _data(n=32, size=12):
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(n, size, size, 1)).astype("float32")
    return x, (np.arange(n) % 10).astype("int32")


def _refuse_timing(*args, **kwargs):
    raise AssertionError("a model of any input size was timed")


def _check_latency_refusal(message, value):
    assert message.startswith(
        "Invalid value for argument `target_latency`: the input of model "
        "'any_size' takes any size"
    ), message
    assert "input shape (None, None, None, 1)" in message
    assert "`keras.Input((224, 224, 1))`" in message
    assert "target_params" in message
    assert message.endswith(f"Received: target_latency={value!r}")


@pytest.mark.parametrize("function", [tfc.prune, tfc.pruning.prune_masks])
def test_prune_refuses_a_latency_target_before_timing_anything(
    model, monkeypatch, function
):
    monkeypatch.setattr(masks_module, "build_latency_table", _refuse_timing)
    with pytest.raises(ValueError) as error:
        function(model, target_latency=0.02, verbose=0)
    _check_latency_refusal(str(error.value), 0.02)


def test_prune_refuses_a_latency_target_with_a_macs_or_params_one(model):
    with pytest.raises(ValueError, match="target_latency"):
        tfc.prune(model, target_latency=0.5, target_params=0.5, verbose=0)


@pytest.mark.parametrize(
    "measure",
    [
        lambda m, folder: measure_latency(m),
        lambda m, folder: build_latency_table(m, points=2, cache_dir=folder),
        lambda m, folder: export_probes(m, folder, points=2),
    ],
    ids=["measure_latency", "build_latency_table", "export_probes"],
)
def test_the_latency_of_a_model_of_any_size_is_not_timed(
    model, tmp_path, measure
):
    with pytest.raises(ValueError) as error:
        measure(model, str(tmp_path))
    message = str(error.value)
    assert message.startswith(
        "Invalid value for argument `model`. Expected a model with a fixed "
        "input size"
    ), message
    assert message.endswith(
        "Received: model 'any_size' with input shape (None, None, None, 1)"
    )
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize(
    "method, name, value",
    [
        (tfc.methods.OneShot(target_latency=0.02), "target_latency", 0.02),
        (tfc.methods.OneShot(target_macs=0.5), "target_macs", 0.5),
        (tfc.methods.Budget(target_macs=0.5), "target_macs", 0.5),
    ],
    ids=["oneshot_latency", "oneshot_macs", "budget_macs"],
)
def test_compress_refuses_the_target_before_any_stage(
    model, tmp_path, method, name, value
):
    out = str(tmp_path / "run")
    with pytest.raises(ValueError) as error:
        tfc.compress(
            model,
            _data(),
            batch_size=16,
            method=method,
            epochs=1,
            output_dir=out,
            verbose=0,
        )
    message = str(error.value)
    assert message.startswith(f"Invalid value for argument `{name}`: the ")
    assert "input shape (None, None, None, 1)" in message
    assert message.endswith(f"Received: {name}={value!r}")
    # Refused before the first stage: nothing was measured or written.
    assert not os.path.exists(out)


@pytest.fixture
def parsed_flags():
    if not flags.FLAGS.is_parsed():
        flags.FLAGS(["pytest"])
    return flags.FLAGS


def test_the_command_line_refuses_target_latency_in_one_line(
    model, tmp_path, parsed_flags
):
    teacher_path = str(tmp_path / "any_size.keras")
    model.save(teacher_path)
    out = str(tmp_path / "run")
    with (
        flagsaver.as_parsed(
            teacher_path=teacher_path,
            output_dir=out,
            method="oneshot",
            target_latency="0.02",
            limit="64",
            batch_size="64",
            epochs="0",
            finetune_epochs="0",
            tflite_mode=["float32"],
        ),
        pytest.raises(app.UsageError) as error,
    ):
        compress_cli.main(["compress"])
    message = str(error.value)
    assert message.startswith(
        "--target_latency=0.02: the input of model 'any_size' takes any size"
    ), message
    assert "\n" not in message and "Received:" not in message
    assert not os.path.exists(os.path.join(out, "stages.json"))


def _trainer(model, wrap):
    """A compiled copy of `model`, in a `tfc.Sparsifier` when `wrap`."""
    trainer = keras.models.clone_model(model)
    if wrap:
        trainer = tfc.Sparsifier(trainer, sparsity=tfc.GroupLasso(1e-3))
    trainer.compile(
        optimizer="adam",
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    return trainer


@pytest.mark.parametrize(
    "make_callback, wrap",
    [
        (lambda: tfc.callbacks.BudgetController(target_macs=0.5), True),
        (lambda: tfc.callbacks.GradualPruning(target_macs=0.5), False),
        (lambda: tfc.callbacks.IterativePruning(target_macs=0.5), False),
    ],
    ids=["budget_controller", "gradual_pruning", "iterative_pruning"],
)
def test_callbacks_used_alone_refuse_a_macs_target_before_training(
    model, make_callback, wrap
):
    trainer = _trainer(model, wrap)
    before = [w.copy() for w in trainer.get_weights()]
    x, y = _data()
    with pytest.raises(ValueError) as error:
        trainer.fit(x, y, epochs=1, callbacks=[make_callback()], verbose=0)
    message = str(error.value)
    assert message.startswith(
        "Invalid value for argument `target_macs`: the input of model "
    ), message
    assert "input shape (None, None, None, 1)" in message
    assert message.endswith("Received: target_macs=0.5")
    # Refused before any step: the weights are untouched.
    for a, b in zip(before, trainer.get_weights()):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    "make_callback, wrap",
    [
        (lambda: tfc.callbacks.BudgetController(target_params=0.5), True),
        (lambda: tfc.callbacks.GradualPruning(target_params=0.5), False),
    ],
    ids=["budget_controller", "gradual_pruning"],
)
def test_callbacks_accept_a_params_target_for_inputs_of_any_size(
    model, make_callback, wrap
):
    trainer = _trainer(model, wrap)
    x, y = _data()
    history = trainer.fit(
        x, y, epochs=1, callbacks=[make_callback()], verbose=0
    )
    assert np.isfinite(history.history["loss"][0])
