"""`tfc.compress` and its accuracy on users' models and data."""

import contextlib
import json
import os
import re
import types

import keras
import numpy as np
import pytest
import tensorflow as tf

import tf_compact as tfc
from tests.robustness import helpers
from tests.robustness.helpers import assert_unchanged
from tests.robustness.helpers import snapshot
from tf_compact import methods
from tf_compact.data.arrays import from_arrays
from tf_compact.pipeline import sparse_training
from tf_compact.pipeline import stages as stages_lib
from tf_compact.pipeline import training
from tf_compact.pipeline.compress import compress
from tf_compact.pipeline.context import CompressContext
from tf_compact.sparsity.group_lasso import GroupLasso

NUM_CLASSES = 4
FAST = helpers.fast_compress(verbose=1)
RUN_ORDER = ["teacher", "lighten", "slim", "finetune", "tflite", "benchmark"]


class TrainingOnlyNoise(keras.layers.Layer):
    """Wipes its input in training mode, which its call defaults to."""

    def call(self, inputs, training=True):
        return inputs * 0.0 if training else inputs


def _arrays(n=64, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.uniform(size=(n, 8, 8, 1)).astype("float32")
    quadrant = x.reshape(n, 2, 4, 2, 4).mean(axis=(2, 4)).reshape(n, 4)
    return x, quadrant.argmax(axis=-1).astype("int32")


def _dataset(n=64, seed=0, batch=16):
    return tf.data.Dataset.from_tensor_slices(_arrays(n, seed)).batch(batch)


def _model(extra=None, head=NUM_CLASSES, activation=None):
    inputs = keras.Input((8, 8, 1))
    x = extra(inputs) if extra is not None else inputs
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu")(x)
    x = keras.layers.AveragePooling2D(4)(x)
    x = keras.layers.Flatten()(x)
    outputs = keras.layers.Dense(head, activation=activation)(x)
    return keras.Model(inputs, outputs)


def _trained(extra=None, epochs=30):
    keras.utils.set_random_seed(0)
    model = _model(extra)
    model.compile(
        keras.optimizers.Adam(0.02),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    model.fit(_dataset(), epochs=epochs, verbose=0)
    return model


def _pipeline_stages(names):
    """The stages of the default plan among `names`, in their order."""
    return [name for name in names if name in RUN_ORDER]


def _evaluated(model, data):
    if isinstance(data, tuple):
        data = tf.data.Dataset.from_tensor_slices(data).batch(16)
    return model.evaluate(data, verbose=0, return_dict=True)["accuracy"]


@pytest.fixture(scope="module")
def teacher():
    return _trained()


# Item 1: accuracies are measured in inference mode.


@pytest.mark.parametrize(
    "extra",
    [
        lambda: TrainingOnlyNoise(),
        lambda: keras.layers.RandomFlip("horizontal_and_vertical", seed=3),
        lambda: keras.layers.RandomRotation(0.5, seed=3),
        lambda: keras.layers.Dropout(0.9),
    ],
    ids=["training_default_layer", "random_flip", "random_rotation", "drop"],
)
def test_reported_accuracy_is_the_inference_accuracy(extra):
    model = _trained(extra())
    before = snapshot(model)
    expected = _evaluated(model, _dataset())
    assert training.accuracy(model, _dataset()) == pytest.approx(
        expected, abs=1e-6
    )
    plan = [stages_lib.Stage("teacher", stages_lib.teacher_stage)]
    result = compress(model, _dataset(), _dataset(), stages=plan, verbose=0)
    assert result.report["teacher"]["accuracy"] == pytest.approx(
        expected, abs=1e-6
    )
    assert_unchanged(model, before)


def test_initial_strength_measures_the_loss_in_inference_mode():
    model = _trained(keras.layers.RandomFlip("horizontal_and_vertical", 3))
    before = snapshot(model)
    penalty = GroupLasso(strength=1e-4, proximal=True)
    penalty.bind(model)
    ctx = types.SimpleNamespace(train_data=_dataset())
    x, y = next(iter(_dataset()))
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)(
        y, model.predict(x, verbose=0)
    )
    penalty.strength.assign(1.0)
    total = float(penalty(model))
    penalty.strength.assign(1e-4)
    strength = sparse_training.initial_strength(ctx, model, penalty)
    assert strength == pytest.approx(0.1 * float(loss) / total, rel=1e-5)
    assert_unchanged(model, before)


# Item 13: labels as users have them.


def _binary_model(activation):
    keras.utils.set_random_seed(0)
    model = _model(head=1, activation=activation)
    model.compile(
        keras.optimizers.Adam(0.02),
        keras.losses.BinaryCrossentropy(from_logits=activation is None),
        metrics=[
            keras.metrics.BinaryAccuracy(
                threshold=0.0 if activation is None else 0.5
            )
        ],
    )
    return model


@pytest.mark.parametrize(
    "labels",
    ["integer", "integer_column", "one_hot", "binary_sigmoid", "binary_logit"],
)
def test_accuracy_reads_every_label_format(labels, teacher):
    x, y = _arrays()
    model = teacher
    expected = _evaluated(teacher, (x, y))
    if labels == "integer_column":
        y = y[:, None]
    elif labels == "one_hot":
        y = keras.utils.to_categorical(y, NUM_CLASSES)
    elif labels.startswith("binary"):
        y = (y >= 2).astype("float32")
        model = _binary_model("sigmoid" if "sigmoid" in labels else None)
        model.fit(x, y, epochs=10, verbose=0)
        scores = model.evaluate(x, y, verbose=0, return_dict=True)
        expected = scores["binary_accuracy"]
    for data in (
        (x, y),
        tf.data.Dataset.from_tensor_slices((x, y)).batch(16),
    ):
        assert training.accuracy(model, data) == pytest.approx(
            expected, abs=1e-6
        )


def test_weighted_accuracy_is_the_one_evaluate_and_tflite_give(teacher):
    x, y = _arrays()
    weights = (y % 2 == 0).astype("float32")
    hits = np.argmax(teacher.predict(x, verbose=0), axis=-1) == y
    # Keras's `weighted_metrics=["accuracy"]` rule.
    expected = float(np.sum(hits * weights) / np.sum(weights))
    assert expected != pytest.approx(float(np.mean(hits)))
    assert tfc.lite.accuracy_of(
        tfc.lite.convert(teacher, "float32"), (x, y, weights)
    ) == pytest.approx(expected, abs=1e-6)
    for data in (
        (x, y, weights),
        tf.data.Dataset.from_tensor_slices((x, y, weights)).batch(16),
    ):
        assert training.accuracy(teacher, data) == pytest.approx(
            expected, abs=1e-6
        )
    with pytest.raises(ValueError, match="every sample weight is zero"):
        training.accuracy(teacher, (x, y, 0 * weights))


def test_compress_takes_arrays_and_one_hot_labels(teacher, tmp_path):
    before = snapshot(teacher)
    x, y = _arrays()
    one_hot = keras.utils.to_categorical(y, NUM_CLASSES)
    result = compress(
        teacher,
        (x, one_hot),
        (x, y),
        test_data=(x, one_hot),
        batch_size=16,
        output_dir=str(tmp_path),
        **dict(FAST, verbose=0),
    )
    report = result.report
    assert report["teacher"]["accuracy"] == pytest.approx(
        _evaluated(teacher, _dataset()), abs=1e-6
    )
    assert _pipeline_stages(report["stages"]) == RUN_ORDER
    assert report["settings"]["batch_size"] == 16
    assert 0.0 <= report["tflite"]["float32"]["accuracy"] <= 1.0
    assert_unchanged(teacher, before)


def test_from_arrays_keeps_one_hot_labels_as_class_ids():
    x, y = _arrays()
    one_hot = keras.utils.to_categorical(y, NUM_CLASSES)
    bundle = from_arrays(x, one_hot, x, one_hot)
    _, y_train, _, y_test = bundle.arrays()
    np.testing.assert_array_equal(np.sort(y_train), np.sort(y))
    np.testing.assert_array_equal(y_test, y)


def test_a_bundle_without_a_test_split_reports_on_its_val_split(teacher):
    x, y = _arrays()
    bundle = from_arrays(
        x, y, batch_size=16, validation_split=0.25, test_split=0.0
    )
    assert bundle.num_examples("test") == 0
    plan = [stages_lib.Stage("teacher", stages_lib.teacher_stage)]
    report = compress(teacher, bundle, stages=plan, verbose=0).report
    assert report["teacher"]["accuracy"] == pytest.approx(
        _evaluated(teacher, bundle.val), abs=1e-6
    )


@pytest.mark.parametrize(
    "bad, match",
    [
        ({"batch_size": 16}, "`batch_size` only batches"),
        ({"val_data": (np.zeros((3, 8, 8, 1)), np.zeros(2))}, "`val_data`"),
    ],
)
def test_compress_refuses_mismatched_array_arguments(bad, match, teacher):
    args = {"train_data": _dataset(), "val_data": _dataset()}
    args.update(bad)
    with pytest.raises(ValueError, match=match):
        compress(teacher, **args, **FAST)


# Item 8: empty data is refused up front.


def _empty(kind):
    if kind == "take0":
        return _dataset().take(0)
    if kind == "filtered":
        return _dataset().unbatch().filter(lambda x, y: y > 9).batch(8)
    x, y = _arrays()
    return (x[:0], y[:0])


@pytest.mark.parametrize("kind", ["take0", "filtered", "arrays"])
@pytest.mark.parametrize("argument", ["train_data", "val_data", "test_data"])
def test_compress_refuses_empty_data(argument, kind, teacher, tmp_path):
    data = {"train_data": _dataset(), "val_data": _dataset()}
    data[argument] = _empty(kind)
    with pytest.raises(ValueError, match=f"`{argument}`.*empty dataset"):
        compress(teacher, output_dir=str(tmp_path), **data, **FAST)
    assert not os.path.exists(tmp_path / "stages.json")


def test_compress_refuses_unbatched_and_endless_data(teacher):
    unbatched = _dataset().unbatch()
    with pytest.raises(ValueError, match="`train_data`.*call `.batch"):
        compress(teacher, unbatched, _dataset(), **FAST)
    with pytest.raises(ValueError, match="`val_data`.*repeats forever"):
        compress(teacher, _dataset(), _dataset().repeat(), **FAST)


# Items 5 and 15: fresh starts, resumes, damaged checkpoints, the report.


class _Interrupt(keras.callbacks.Callback):
    def __init__(self, after):
        super().__init__()
        self.after = after

    def on_epoch_end(self, epoch, logs=None):
        if epoch + 1 == self.after:
            raise RuntimeError("interrupted")


def _interrupt_training(monkeypatch, after):
    """Makes every training stage stop after `after` epochs."""
    original = CompressContext.backup_callbacks

    def with_interrupt(self, stage):
        return original(self, stage) + [_Interrupt(after)]

    monkeypatch.setattr(CompressContext, "backup_callbacks", with_interrupt)
    return lambda: monkeypatch.setattr(
        CompressContext, "backup_callbacks", original
    )


def _run(teacher, out, train_data=None, **kwargs):
    args = dict(FAST, output_dir=str(out))
    args.update(kwargs)
    train_data = _dataset() if train_data is None else train_data
    return compress(teacher, train_data, _dataset(), **args)


def _interrupted_run(teacher, out, monkeypatch, epochs=3, after=2):
    restore = _interrupt_training(monkeypatch, after)
    with pytest.raises(RuntimeError, match="interrupted"):
        _run(teacher, out, epochs=epochs)
    restore()
    assert os.path.exists(out / "backup" / "oneshot" / "latest.weights.h5")


@pytest.mark.parametrize("resume", [True, False])
def test_history_covers_every_epoch_after_an_interruption(
    resume, teacher, tmp_path, monkeypatch, capsys
):
    before = snapshot(teacher)
    _interrupted_run(teacher, tmp_path, monkeypatch)
    capsys.readouterr()
    result = _run(teacher, tmp_path, epochs=3, resume=resume)
    log = capsys.readouterr().out
    history = result.report["history"]["slim"]
    assert [len(v) for v in history.values()] == [3] * len(history)
    assert "loss" in history
    with open(tmp_path / "report.json") as f:
        assert json.load(f)["history"]["slim"] == history
    if not resume:
        assert "Starting over" in log and "backup/" in log
    assert not os.path.exists(tmp_path / "backup" / "oneshot")
    assert not os.path.exists(tmp_path / "backup" / "oneshot.history.json")
    assert_unchanged(teacher, before)


def test_resume_false_forgets_the_earlier_run(teacher, tmp_path, capsys):
    _run(
        teacher,
        tmp_path,
        method=methods.Width(0.5),
    )
    assert os.path.exists(tmp_path / "model_float32.tflite")
    capsys.readouterr()
    export = methods.Export(tflite_modes=("int8",), benchmark_runs=2)
    result = _run(teacher, tmp_path, resume=False, export=export)
    log = capsys.readouterr().out
    assert "Starting over" in log and "not resuming, as asked" in log
    assert "skipped" not in log
    assert not os.path.exists(tmp_path / "model_float32.tflite")
    assert set(result.tflite) == {"int8"}


def _warns_damaged(expected, filename):
    if not expected:
        return contextlib.nullcontext()
    both = rf"(?=.*damaged).*{re.escape(filename)}"
    return pytest.warns(UserWarning, match=both)


def _truncate(path):
    size = os.path.getsize(path)
    with open(path, "r+b") as f:
        f.truncate(size // 2)


@pytest.mark.parametrize(
    "filename, rerun, resume",
    [
        ("slim.keras", "slim", True),
        ("student_init.keras", "lighten", True),
        ("model_float32.tflite", "tflite", True),
        ("stages.json", "teacher", True),
        ("slim.keras", "teacher", False),
        ("stages.json", "teacher", False),
    ],
)
def test_a_damaged_checkpoint_is_named_and_redone(
    filename, rerun, resume, teacher, tmp_path, capsys
):
    _run(teacher, tmp_path)
    _truncate(tmp_path / filename)
    capsys.readouterr()
    with _warns_damaged(resume, filename):
        result = _run(teacher, tmp_path, resume=resume)
    log = capsys.readouterr().out
    first = RUN_ORDER.index(rerun) if resume else 0
    for index, stage in enumerate(RUN_ORDER):
        line = next(s for s in log.splitlines() if f" {stage}: " in s)
        assert ("skipped" in line) == (index < first), line
    if resume:
        assert filename in log and "damaged" in log
    assert _pipeline_stages(result.report["stages"]) == RUN_ORDER
    assert result.report["student"]["macs"] > 0


@pytest.mark.parametrize("resume", [True, False])
def test_a_damaged_training_backup_is_named_and_dropped(
    resume, teacher, tmp_path, monkeypatch, capsys
):
    _interrupted_run(teacher, tmp_path, monkeypatch)
    _truncate(tmp_path / "backup" / "oneshot" / "latest.weights.h5")
    capsys.readouterr()
    with _warns_damaged(resume, "latest.weights.h5"):
        result = _run(teacher, tmp_path, epochs=3, resume=resume)
    log = capsys.readouterr().out
    if resume:
        assert "latest.weights.h5" in log and "damaged" in log
    history = result.report["history"]["slim"]
    assert len(history["loss"]) == 3


@pytest.mark.parametrize(
    "change, named",
    [
        (lambda: {"epochs": 2}, "'epochs'"),
        (lambda: {"train_data": _arrays(48)}, "'data'"),
        (lambda: {"train_data": _arrays(seed=1)}, "'data'"),
        (lambda: {"batch_size": 8}, "'batch_size'"),
        (lambda: {"method": methods.OneShot(target_macs=0.4)}, "'target_macs'"),
        (
            lambda: {"method": methods.Iterative(target_macs=0.5)},
            "'method'",
        ),
        (
            lambda: {"training": methods.Training(temperature=2.0)},
            "'temperature'",
        ),
    ],
    ids=[
        "epochs",
        "fewer_examples",
        "other_examples",
        "batch_size",
        "method_setting",
        "method",
        "training",
    ],
)
def test_resume_refuses_a_run_with_other_settings(
    change, named, teacher, tmp_path
):
    _run(teacher, tmp_path, train_data=_arrays(), batch_size=16)
    args = dict(FAST, output_dir=str(tmp_path))
    args.update({"train_data": _arrays(), "batch_size": 16}, **change())
    with pytest.raises(ValueError, match=f"different settings.*{named}"):
        compress(teacher, val_data=_dataset(), **args)


def test_report_shows_the_rounded_change_and_the_run_order(teacher, tmp_path):
    report = _run(teacher, tmp_path, verbose=0).report
    change = report["reduction"]["accuracy_change_pp"]
    student, teacher = report["student"], report["teacher"]
    exact = 100 * (student["accuracy"] - teacher["accuracy"])
    assert change == round(exact, 2)
    assert "accuracy_drop_pp" not in report["reduction"]
    assert _pipeline_stages(report["stages"]) == RUN_ORDER
    with open(tmp_path / "report.md") as f:
        text = f.read()
    assert f"accuracy {change:+.2f} pp" in text
    line = next(s for s in text.splitlines() if s.startswith("Stages, in"))
    listed = line.split(": ", 1)[1].split(", ")
    assert _pipeline_stages(listed) == RUN_ORDER


def test_compress_takes_numpy_scalars_wherever_a_number_goes():
    model = _model()
    before = snapshot(model)
    plan = [stages_lib.Stage("teacher", stages_lib.teacher_stage)]
    result = compress(
        model,
        _dataset(),
        _dataset(),
        method=methods.OneShot(
            target_macs=np.float32(0.5),
            target_params=np.int64(100),
            round_to=np.int64(8),
        ),
        epochs=np.int64(2),
        training=methods.Training(
            finetune_epochs=np.int32(0),
            learning_rate=np.float64(1e-3),
            temperature=np.float32(2.0),
            student_loss_weight=np.float32(0.5),
        ),
        export=methods.Export(
            num_threads=np.int64(1), benchmark_runs=np.int64(2)
        ),
        stages=plan,
        verbose=0,
    )
    settings = result.report["settings"]
    assert settings["epochs"] == 2 and type(settings["epochs"]) is int
    assert type(settings["learning_rate"]) is float
    assert settings["round_to"] == 8 and type(settings["round_to"]) is int
    json.dumps(settings)
    assert_unchanged(model, before)
    assert methods.Budget(0.5, strength=np.float32(0.0)).strength == 0.0


@pytest.mark.parametrize(
    "name, build, words",
    [
        ("epochs", lambda: True, "epochs"),
        ("epochs", lambda: 1.5, "epochs"),
        (
            "training",
            lambda: methods.Training(learning_rate=float("nan")),
            "learning_rate",
        ),
        (
            "training",
            lambda: methods.Training(temperature=float("inf")),
            "temperature",
        ),
        ("method", lambda: methods.Budget(0.5, strength=-1.0), "strength"),
        (
            "method",
            lambda: methods.OneShot(0.5, round_to=np.float32(8.0)),
            "round_to",
        ),
    ],
)
def test_compress_refuses_bad_numbers_by_name(name, build, words):
    with pytest.raises(ValueError, match=words):
        compress(_model(), _dataset(), **{**FAST, name: build()})
