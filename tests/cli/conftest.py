"""Parses the absl flags once so the command modules can be driven by
`flagsaver` in tests."""

import keras
import pytest
from absl import flags

from tf_compact import lite
from tf_compact.cli import benchmark_tflite  # noqa: F401
from tf_compact.cli import compress  # noqa: F401
from tf_compact.cli import export_tflite  # noqa: F401
from tf_compact.cli import train_teacher  # noqa: F401


@pytest.fixture(autouse=True, scope="session")
def parsed_flags():
    if not flags.FLAGS.is_parsed():
        flags.FLAGS(["pytest"])
    yield flags.FLAGS


def gap_classifier_files(root, input_shape, name):
    """`.keras` and float32 `.tflite` files of a GAP + Dense classifier of
    `input_shape`, in `root`; returns their paths."""
    inputs = keras.Input(input_shape)
    pooled = keras.layers.GlobalAveragePooling2D()(inputs)
    model = keras.Model(inputs, keras.layers.Dense(10)(pooled))
    path = str(root / f"{name}.keras")
    model.save(path)
    tflite = str(root / f"{name}.tflite")
    lite.convert(model, mode="float32", output_path=tflite)
    return path, tflite
