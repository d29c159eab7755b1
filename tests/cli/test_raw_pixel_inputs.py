"""A float model that starts with `Rescaling(1 / 255)` takes raw pixels:
every command feeds it the stored pixel values (calibration, accuracy,
training) and tells an app to pass pixels as they are."""

import importlib

import keras
import numpy as np
import pytest
from absl import flags
from absl.testing import flagsaver

from tests.cli.test_integer_inputs import _check_stored_values
from tests.cli.test_integer_inputs import _first_features
from tests.cli.test_integer_inputs import _pixels
from tests.cli.test_integer_inputs import benchmarked_features
from tests.cli.test_integer_inputs import compress_data
from tests.cli.test_integer_inputs import folder  # noqa: F401 - fixture
from tf_compact import lite
from tf_compact.cli import export_tflite
from tf_compact.cli import model_data
from tf_compact.data import from_folder
from tf_compact.data.stored_values import StoredValuesBundle

compress_lib = importlib.import_module("tf_compact.pipeline.compress")


@pytest.fixture(scope="module")
def rescaling_model(tmp_path_factory):
    """A `.keras` file of a float classifier that divides pixels itself,
    inside a preprocessing block with augmentation."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input((32, 32, 3))
    prep = keras.Sequential(
        [keras.layers.RandomFlip(), keras.layers.Rescaling(1 / 255.0)]
    )
    x = keras.layers.Conv2D(4, 3, activation="relu")(prep(inputs))
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(3, activation="softmax")(x)
    path = str(tmp_path_factory.mktemp("rescaling") / "rescaling.keras")
    keras.Model(inputs, outputs).save(path)
    return path


def _export(model_path, images, tmp_path, monkeypatch, mode):
    """`tf-compact export-tflite --mode=<mode> --dataset=<images>`."""
    # As on a command line: --dataset named, so `auto` metadata read it.
    monkeypatch.setattr(flags.FLAGS["dataset"], "present", 1)
    output = str(tmp_path / f"{mode}.tflite")
    with flagsaver.flagsaver(
        model_path=model_path, output=output, mode=mode, dataset=images
    ):
        export_tflite.main(["export-tflite"])
    with open(output, "rb") as f:
        return f.read()


def test_int8_export_calibrates_on_raw_pixels_and_says_so(
    folder,  # noqa: F811 - the fixture
    rescaling_model,
    tmp_path,
    monkeypatch,
):
    content = _export(rescaling_model, folder, tmp_path, monkeypatch, "int8")
    pixels = _pixels(folder).astype("float32")
    expected = keras.saving.load_model(rescaling_model).predict(pixels)
    got = np.asarray(lite.predict(content, pixels))
    assert np.abs(got - expected).max() < 0.02
    # Quantized for raw pixels: read back as a raw input.
    assert model_data.tflite_inputs(content) == [((32, 32, 3), True)]
    (meta,) = lite.read_metadata(content).inputs
    assert (meta.mean, meta.std) == ([0.0], [1.0])


def test_float_export_tells_the_app_to_pass_pixels_as_they_are(
    folder,  # noqa: F811 - the fixture
    rescaling_model,
    tmp_path,
    monkeypatch,
):
    content = _export(rescaling_model, folder, tmp_path, monkeypatch, "float32")
    (meta,) = lite.read_metadata(content).inputs
    assert (meta.mean, meta.std) == ([0.0], [1.0])
    bundle = from_folder(folder)
    fed = model_data.for_tflite(bundle, content)
    _check_stored_values(_first_features(fed.test))


def test_benchmark_accuracy_matches_keras_on_raw_pixels(
    folder,  # noqa: F811 - the fixture
    rescaling_model,
    tmp_path,
    monkeypatch,
):
    path = str(tmp_path / "plain.tflite")
    model = keras.saving.load_model(rescaling_model)
    # No metadata: the int8 file's own quantization says raw pixels.
    calibration = _pixels(folder).astype("float32")
    lite.convert(
        model, "int8", representative_data=calibration, output_path=path
    )
    _check_stored_values(benchmarked_features(path, folder, monkeypatch))


def test_compress_trains_on_raw_pixels(
    folder,  # noqa: F811 - the fixture
    rescaling_model,
    tmp_path,
    monkeypatch,
):
    data = compress_data(rescaling_model, folder, tmp_path, monkeypatch)
    _check_stored_values(_first_features(data.train))


def test_normalization_metadata_is_applied_to_the_stored_values(
    folder,  # noqa: F811 - the fixture
):
    bundle = from_folder(folder)
    fed = StoredValuesBundle(bundle, mean=[127.5], std=[127.5])
    x = _first_features(fed.test)
    stored = _first_features(StoredValuesBundle(bundle).test)
    np.testing.assert_allclose(x, (stored - 127.5) / 127.5, atol=1e-6)
    assert x.min() >= -1.0 and x.max() <= 1.0


def test_the_span_of_a_quantized_input_follows_its_type():
    from tf_compact.lite.input_range import quantized_span

    assert quantized_span("uint8", [1.0]) == 255.0
    assert quantized_span("INT16", [2 / 255]) > 500
    assert quantized_span("float32", [1.0]) is None
    assert quantized_span("int8", None) is None
