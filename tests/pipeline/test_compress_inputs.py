"""`tfc.compress` refuses, up front and by name, inputs it cannot use."""

import os

import keras
import numpy as np
import pytest
import tensorflow as tf

import tf_compact as tfc
from tests.robustness import helpers
from tf_compact import methods
from tf_compact.pipeline.compress import compress

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
