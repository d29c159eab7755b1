"""`tfc.compress` end to end on a tiny slice of the built-in dataset."""

import json
import os

import keras
import numpy as np
import pytest

import tf_compact as tfc


@pytest.fixture(scope="module")
def bundle():
    return tfc.data.load(
        "builtin", batch_size=64, limit=192, validation_split=0.25
    )


@pytest.fixture(scope="module")
def teacher(bundle):
    keras.utils.set_random_seed(0)
    model = tfc.models.small_cnn(width_multiplier=0.5)
    model.compile(
        "adam",
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    model.fit(bundle.train, epochs=1, verbose=0)
    return model


def test_width_method_writes_every_artifact(bundle, teacher, tmp_path):
    out = str(tmp_path)
    result = tfc.compress(
        teacher,
        bundle,
        method=tfc.methods.Width(0.5),
        epochs=1,
        training=tfc.methods.Training(finetune_epochs=1),
        export=tfc.methods.Export(benchmark_runs=3),
        output_dir=out,
        verbose=0,
    )
    report = result.report
    assert report["student"]["macs"] < report["teacher"]["macs"]
    assert report["student"]["params"] < report["teacher"]["params"]
    for label in ("float32", "int8", "teacher_float32"):
        entry = report["tflite"][label]
        assert entry["size_bytes"] > 0 and entry["median_ms"] > 0
        assert 0.0 <= entry["accuracy"] <= 1.0
    assert (
        report["tflite"]["int8"]["size_bytes"]
        < (report["tflite"]["float32"]["size_bytes"])
    )
    assert report["runtime"]
    for name in (
        "report.json",
        "report.md",
        "tradeoff.png",
        "widths.png",
        "slim_finetuned.keras",
        "model_float32.tflite",
        "model_int8.tflite",
    ):
        assert os.path.getsize(os.path.join(out, name)) > 0, name
    with open(os.path.join(out, "report.json")) as f:
        assert json.load(f)["student"] == report["student"]
    assert set(result.tflite) == {"float32", "int8"}
    x, _ = next(iter(bundle.test))
    keras_out = result.slim_model.predict(x[:4], verbose=0)
    lite_out = tfc.lite.predict(result.tflite["float32"], np.asarray(x[:4]))
    np.testing.assert_allclose(lite_out, keras_out, atol=1e-4)
    assert "student TFLite int8" in result.table()
