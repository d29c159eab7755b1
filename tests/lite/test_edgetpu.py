"""Edge TPU op check."""

import keras
import numpy as np
import pytest

import tf_compact as tfc
from tests.lite import helpers


@pytest.fixture(scope="module")
def models():
    model = helpers.tiny_cnn()
    x = helpers.images(32)
    return {
        "float": tfc.lite.convert(model, verify=False),
        "int8": tfc.lite.convert(
            model, "int8", representative_data=x, inference_io="uint8"
        ),
    }


def test_full_int8_model_is_compatible(models):
    report = tfc.lite.edgetpu_report(models["int8"])
    assert report.compatible
    assert report.full_int8
    assert report.cpu_fallback == []
    assert {row["device"] for row in report.ops} == {"edgetpu"}
    assert "CONV_2D" in [row["op"] for row in report.ops]


def test_float_model_falls_back_to_cpu(models):
    report = tfc.lite.edgetpu_report(models["float"])
    assert not report.compatible
    assert not report.full_int8
    assert len(report.cpu_fallback) == len(report.ops)
    first = report.ops[0]
    assert first["reason"] == "float tensors (not full int8)"


def test_unsupported_op_cuts_the_graph():
    inputs = keras.Input((8, 8, 1))
    x = keras.layers.Conv2D(4, 3, name="conv")(inputs)
    x = keras.layers.LeakyReLU(name="leaky")(x)
    x = keras.layers.Conv2D(4, 3, name="conv_after")(x)
    pooled = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    model = keras.Model(inputs, pooled)
    tflite = tfc.lite.convert(
        model, "int8", representative_data=helpers.images(16)
    )
    report = tfc.lite.edgetpu_report(
        tflite, layer_names=[layer.name for layer in model.layers]
    )
    rows = {row["op"]: row for row in report.ops}
    assert (
        rows["LEAKY_RELU"]["reason"] == "op not in the Edge TPU supported set"
    )
    assert rows["LEAKY_RELU"]["layer"] == "leaky"
    conv_after = [r for r in report.ops if r["layer"] == "conv_after"]
    assert conv_after and conv_after[0]["reason"] == (
        "after the first unmapped op"
    )
    assert report.io_conversions == ["QUANTIZE", "DEQUANTIZE"]
    assert report.ops[1]["device"] == "edgetpu"
    assert not report.compatible
    assert report.cpu_fallback[0] == "LEAKY_RELU (leaky)"
    assert report.full_int8
    assert "| LEAKY_RELU | leaky |" in report.table()


def test_report_from_path_and_round_trip(models, tmp_path):
    path = tmp_path / "m.tflite"
    path.write_bytes(models["int8"])
    report = tfc.lite.edgetpu_report(str(path))
    clone = tfc.lite.EdgeTpuReport.from_config(report.get_config())
    assert clone == report
    assert "compatible; 0 of" in clone.table()


def test_supported_set_has_the_core_ops():
    for op in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "ADD"):
        assert op in tfc.lite.EDGETPU_OPS
    assert "DEQUANTIZE" not in tfc.lite.EDGETPU_OPS
    assert np.all([op.isupper() for op in tfc.lite.EDGETPU_OPS])


def test_op_records_round_trip(models):
    records = tfc.lite.read_ops(models["int8"])
    assert [r.index for r in records] == list(range(len(records)))
    for record in records:
        clone = tfc.lite.OpRecord.from_config(record.get_config())
        assert clone == record
    conv = [r for r in records if r.op_name == "CONV_2D"][0]
    assert conv.is_integer and not conv.is_float
    assert conv.layer == "conv"
