"""`tfc.compress` refuses, up front and by name, inputs it cannot use."""

import os

import keras
import numpy as np
import pytest
import tensorflow as tf

import tf_compact as tfc
from tests.robustness import helpers
from tf_compact import methods
from tf_compact.pipeline import plan
from tf_compact.pipeline.compress import compress
from tf_compact.pipeline.stages import Stage

FAST = helpers.fast_compress()


def _arrays(n=32):
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(n, 8, 8, 1)).astype("float32")
    return x, rng.integers(0, 3, size=n).astype("int32")


def _model(outputs=1):
    inputs = keras.Input((8, 8, 1))
    x = keras.layers.Conv2D(4, 3, activation="relu")(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    heads = [keras.layers.Dense(3)(x) for _ in range(outputs)]
    return keras.Model(inputs, heads if outputs > 1 else heads[0])


def _generator():
    x, y = _arrays()
    for start in range(0, len(x), 8):
        yield x[start : start + 8], y[start : start + 8]


@pytest.mark.parametrize("argument", ["train_data", "val_data", "test_data"])
def test_compress_refuses_a_generator_up_front(argument, tmp_path):
    data = {
        "train_data": tf.data.Dataset.from_tensor_slices(_arrays()).batch(8)
    }
    data[argument] = _generator()
    with pytest.raises(ValueError, match=f"`{argument}`.*from_generator"):
        compress(_model(), output_dir=str(tmp_path), **data, **FAST)
    assert not os.path.exists(tmp_path / "stages.json")


def test_compress_refuses_a_two_output_teacher_by_its_argument(tmp_path):
    teacher = _model(outputs=2)
    with pytest.raises(ValueError, match="`teacher`.*2 outputs") as info:
        compress(teacher, _arrays(), output_dir=str(tmp_path), **FAST)
    assert "distilled_output" not in str(info.value)
    assert not os.path.exists(tmp_path / "stages.json")


@pytest.mark.parametrize("head", ["segmentation", "autoencoder"])
def test_compress_refuses_a_prediction_per_pixel_up_front(head, tmp_path):
    # A segmentation net failed in the teacher check with a numpy broadcast
    # error; an autoencoder ran every stage, then failed in the benchmark.
    inputs = keras.Input((8, 8, 1))
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu")(inputs)
    width, activation = (3, "softmax") if head == "segmentation" else (1, None)
    teacher = keras.Model(
        inputs, keras.layers.Conv2D(width, 1, activation=activation)(x)
    )
    x, _ = _arrays()
    y = np.zeros((32, 8, 8), "int32") if head == "segmentation" else x
    with pytest.raises(ValueError, match=r"shape \(None, 8, 8, \d\)"):
        compress(teacher, (x, y), output_dir=str(tmp_path), **FAST)
    assert not os.path.exists(tmp_path / "stages.json")


@pytest.mark.parametrize("method", ["OneShot", "Iterative"])
def test_an_unreachable_count_is_said_in_the_teachers_terms(method, tmp_path):
    # 2 MACs is a count, which the stage turns into a fraction of the
    # student's cost; the error speaks of the 2 and of the teacher.
    teacher = _model()
    macs = tfc.profile(teacher).macs
    options = dict(FAST, method=getattr(methods, method)(target_macs=2))
    expected = (
        rf"the student cannot be pruned to 2 of the teacher's {macs:,} MACs;"
        r".* smallest reachable is [\d,]+ \([\d.]+% of the teacher's\)\. "
        r"Received: target_macs=2$"
    )
    with pytest.raises(ValueError, match=expected):
        compress(teacher, _arrays(), output_dir=str(tmp_path), **options)


def test_training_arrays_are_reshuffled_and_fit_is_not_told_to_shuffle(
    recwarn,
):
    # Class-sorted arrays, as concatenating each class's examples gives.
    x, _ = _arrays(48)
    y = (np.arange(48) // 16).astype("int32")
    orders = {}

    def probe(ctx):
        for name in ("train_data", "test_data"):
            data = getattr(ctx, name)
            orders[name] = [
                np.concatenate([b[1] for b in data]) for _ in range(2)
            ]
        return {}

    method = methods.OneShot(target_macs=0.5)
    stages = [Stage("probe", probe), *plan.stages_for(method)]
    options = dict(FAST, training=methods.Training(finetune_epochs=1))
    compress(_model(), (x, y), test_data=(x, y), stages=stages, **options)
    first, second = orders["train_data"]
    assert not np.array_equal(first, y) and not np.array_equal(first, second)
    np.testing.assert_array_equal(np.sort(first), y)
    for order in orders["test_data"]:
        np.testing.assert_array_equal(order, y)
    # The pipeline's datasets order themselves: Keras has nothing to say.
    said = [str(w.message) for w in recwarn]
    assert not [m for m in said if "`shuffle=True` was passed" in m], said


def _refused(match, tmp_path, *data, **kwargs):
    with pytest.raises(ValueError, match=match):
        compress(_model(), *data, output_dir=str(tmp_path), **kwargs, **FAST)
    assert not os.path.exists(tmp_path / "stages.json")


def test_inputs_of_another_shape_than_the_teachers_are_refused_up_front(
    tmp_path,
):
    x, y = _arrays()
    rgb = np.repeat(x[:, :6, :6], 3, axis=-1)
    expected = r"`train_data`.*shape \(8, 8, 1\).*shape \(6, 6, 3\)\.$"
    _refused(expected, tmp_path, (rgb, y))
    val = tf.data.Dataset.from_tensor_slices((rgb, y)).batch(8)
    _refused(r"`val_data`.*\(8, 8, 1\).*\(6, 6, 3\)", tmp_path, (x, y), val)


def test_more_classes_than_the_teachers_output_are_refused_up_front(
    tmp_path,
):
    x, y = _arrays()
    ids = np.where(y == 2, 4, y)
    _refused(
        r"class ids below 3.*Received: class ids up to 4", tmp_path, (x, ids)
    )
    rows = keras.utils.to_categorical(ids, 5)
    _refused(
        r"\(None, 3\).*Received: labels of shape \(None, 5\)",
        tmp_path,
        (x, rows),
    )
    names = [str(i) for i in range(5)]
    bundle = tfc.data.DatasetBundle(x, ids, x, ids, names, "test", batch_size=8)
    _refused(r"Received: a DatasetBundle of 5 classes", tmp_path, bundle)


@pytest.mark.parametrize("argument", ["train_data", "test_data"])
def test_class_ids_in_a_later_batch_of_a_dataset_are_refused_up_front(
    argument, tmp_path
):
    x, y = _arrays()
    order = np.argsort(y, kind="stable")
    ids = np.where(y == 2, 4, y)[order]  # sorted: the 4s come last
    late = tf.data.Dataset.from_tensor_slices((x[order], ids)).batch(8)
    data = {"train_data": _arrays(), argument: late}
    with pytest.raises(ValueError, match=f"`{argument}`.*class ids up to 4"):
        compress(_model(), output_dir=str(tmp_path), **data, **FAST)
    assert not os.path.exists(tmp_path / "stages.json")


def _two_input_model():
    image = keras.Input((8, 8, 1), name="image")
    meta = keras.Input((3,), name="meta")
    x = keras.layers.Conv2D(8, 3, activation="relu")(image)
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Concatenate()([x, keras.layers.Dense(4)(meta)])
    return keras.Model([image, meta], keras.layers.Dense(3)(x))


@pytest.mark.parametrize("form", ["tuple", "list"])
def test_arrays_of_a_two_input_teacher_as_fit_takes_them(form, tmp_path):
    x, y = _arrays()
    meta = np.random.default_rng(1).uniform(size=(len(x), 3)).astype("f4")
    data = ((x, meta), y) if form == "tuple" else ([x, meta], y)
    result = compress(
        _two_input_model(),
        data,
        test_data=data,
        output_dir=str(tmp_path),
        **FAST,
    )
    assert result.slim_model.count_params() < _two_input_model().count_params()
    assert result.report["student"]["accuracy"] is not None


def test_arrays_with_sample_weights_train_with_them(tmp_path):
    x, y = _arrays()
    seen = []

    def probe(ctx):
        seen.append(ctx.train_data.element_spec)
        return {}

    weights = np.ones(len(x), "float32")
    stages = [Stage("probe", probe), *plan.stages_for(FAST["method"])]
    compress(_model(), (x, y, weights), stages=stages, **FAST)
    (spec,) = seen
    assert len(spec) == 3 and spec[2].shape.as_list() == [None]
