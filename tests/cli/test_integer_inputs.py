"""A model with integer inputs (`keras.Input(dtype="uint8")`, then its own
`Rescaling`) is fed the stored pixel values by every command, not the
loaders' floats in [0, 1] that its input would cast to 0 or 1."""

import importlib

import keras
import numpy as np
import pytest
import tensorflow as tf
from absl.testing import flagsaver

from tf_compact import lite
from tf_compact.cli import benchmark_tflite
from tf_compact.cli import compress
from tf_compact.cli import export_tflite
from tf_compact.cli import model_data
from tf_compact.data import from_folder

compress_lib = importlib.import_module("tf_compact.pipeline.compress")


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """Three classes of 32x32 RGB PNGs, each of its own pixel range."""
    root = tmp_path_factory.mktemp("pixels")
    rng = np.random.default_rng(0)
    for c in range(3):
        (root / f"c{c}").mkdir()
        for i in range(8):
            image = rng.integers(c * 60, c * 60 + 100, (32, 32, 3), np.uint8)
            png = tf.io.encode_png(image).numpy()
            (root / f"c{c}" / f"{i}.png").write_bytes(png)
    return str(root)


@pytest.fixture(scope="module")
def uint8_model(tmp_path_factory):
    """A `.keras` file of a classifier that takes uint8 pixels."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input((32, 32, 3), dtype="uint8")
    x = keras.layers.Rescaling(1 / 255.0)(inputs)
    x = keras.layers.Conv2D(4, 3, activation="relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(3, activation="softmax")(x)
    path = str(tmp_path_factory.mktemp("uint8") / "uint8.keras")
    keras.Model(inputs, outputs).save(path)
    return path


def _pixels(folder):
    """The folder's stored pixel values, as uint8."""
    x_train, _, x_test, _ = from_folder(folder).arrays(normalized=False)
    return np.concatenate([x_train, x_test]).round().astype(np.uint8)


def _first_features(dataset):
    return next(iter(dataset))[0].numpy()


def _check_stored_values(x):
    assert x.max() > 1, "fed the loader's floats in [0, 1]"
    np.testing.assert_array_equal(x, np.round(x))


def test_int8_export_calibrates_on_the_stored_pixels(
    folder, uint8_model, tmp_path, monkeypatch
):
    convert, given = lite.convert, {}

    def spy(model, **kwargs):
        given.update(kwargs)
        return convert(model, **kwargs)

    monkeypatch.setattr(lite, "convert", spy)
    output = str(tmp_path / "u8.tflite")
    with flagsaver.flagsaver(
        model_path=uint8_model, mode="int8", dataset=folder, output=output
    ):
        export_tflite.main(["export-tflite"])
    _check_stored_values(_first_features(given["representative_data"]))
    # Calibrated on [0, 255], the file answers real pixels like Keras.
    pixels = _pixels(folder)
    expected = keras.saving.load_model(uint8_model).predict(pixels, verbose=0)
    with open(output, "rb") as f:
        got = np.asarray(lite.predict(f.read(), pixels))
    assert np.abs(got - expected).max() < 0.02


def test_benchmark_accuracy_feeds_a_raw_uint8_input_the_stored_pixels(
    folder, uint8_model, tmp_path, monkeypatch
):
    model = keras.saving.load_model(uint8_model)
    raw = str(tmp_path / "raw.tflite")
    lite.convert(model, mode="float32", output_path=raw)
    _check_stored_values(benchmarked_features(raw, folder, monkeypatch))


def benchmarked_features(path, folder, monkeypatch):
    """The first features `benchmark-tflite --accuracy` feeds `path`."""
    benchmark, datasets = lite.benchmark, []

    def spy(content, dataset=None, **kwargs):
        datasets.append(dataset)
        return benchmark(content, dataset=dataset, **kwargs)

    monkeypatch.setattr(lite, "benchmark", spy)
    with flagsaver.flagsaver(
        tflite=[path], accuracy=True, dataset=folder, runs=1, warmup=0
    ):
        benchmark_tflite.main(["benchmark-tflite"])
    return _first_features(datasets[0])


def test_a_quantized_input_keeps_the_loaders_floats(folder, tmp_path):
    inputs = keras.Input((32, 32, 3))
    x = keras.layers.GlobalAveragePooling2D()(inputs)
    model = keras.Model(inputs, keras.layers.Dense(3)(x))
    bundle = from_folder(folder)
    quantized = lite.convert(
        model,
        mode="int8",
        representative_data=bundle.train,
        inference_io="uint8",
    )
    # Its uint8 input has a scale: the interpreter quantizes floats.
    assert model_data.tflite_inputs(bytes(quantized)) == [((32, 32, 3), False)]
    assert model_data.for_model(bundle, [((32, 32, 3), False)]) is bundle


def compress_data(teacher_path, folder, tmp_path, monkeypatch):
    """The data `tf-compact compress` hands the pipeline's first step."""
    given = []

    class Stop(Exception):
        pass

    def record(export, data, teacher):
        given.append(data)
        raise Stop

    monkeypatch.setattr(compress_lib, "app_metadata", record)
    with (
        flagsaver.flagsaver(
            teacher_path=teacher_path,
            dataset=folder,
            output_dir=str(tmp_path / "run"),
            tflite_mode=["float32"],
        ),
        pytest.raises(Stop),
    ):
        compress.main(["compress"])
    (data,) = given
    return data


def test_compress_gives_a_uint8_teacher_the_stored_pixels(
    folder, uint8_model, tmp_path, monkeypatch
):
    data = compress_data(uint8_model, folder, tmp_path, monkeypatch)
    assert data.scale is None and data.class_names == ["c0", "c1", "c2"]
    for split in (data.train, data.test):
        _check_stored_values(_first_features(split))
