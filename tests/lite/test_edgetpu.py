"""Edge TPU report: full int8, static shapes, the single cut, findings."""

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
        "edgetpu": tfc.lite.convert(
            model, "int8", representative_data=x, target="edgetpu"
        ),
    }


def test_dynamic_batch_is_not_compatible(models):
    # Keras inputs have an unknown batch: shape_signature [-1, 8, 8, 1].
    report = tfc.lite.edgetpu_report(models["int8"], compiler=None)
    assert not report.compatible
    assert not report.static_shapes
    assert report.full_int8
    model_level = [f for f in report.errors if f.index is None]
    assert model_level[0].rule == "static_shape"
    assert "[-1, 8, 8, 1]" in model_level[0].message
    assert "target='edgetpu'" in model_level[0].fix
    conv = [f for f in report.findings if f.op == "CONV_2D"][0]
    assert (conv.rule, conv.layer) == ("static_shape", "conv")


def test_edgetpu_target_is_compatible(models):
    report = tfc.lite.edgetpu_report(models["edgetpu"], compiler=None)
    assert report.compatible and report.static_shapes and report.full_int8
    assert report.findings == []
    assert {row["device"] for row in report.ops} == {"edgetpu"}
    assert report.cpu_fallback == [] and report.io_conversions == []
    assert "CONV_2D" in [row["op"] for row in report.ops]
    assert report.unchecked[0].startswith("edgetpu_compiler not run")


def test_float_model_falls_back_to_cpu(models):
    report = tfc.lite.edgetpu_report(models["float"], compiler=None)
    assert not report.compatible
    assert not report.full_int8
    assert len(report.cpu_fallback) == len(report.ops)
    first = [f for f in report.findings if f.index == 0][0]
    assert first.rule == "full_int8"
    assert "float32" in first.message and "mode='int8'" in first.fix


def test_unsupported_op_cuts_the_graph():
    inputs = keras.Input((8, 8, 1), batch_size=1)
    x = keras.layers.Conv2D(4, 3, name="conv")(inputs)
    x = keras.layers.LeakyReLU(name="leaky")(x)
    x = keras.layers.Conv2D(4, 3, name="conv_after")(x)
    pooled = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    model = keras.Model(inputs, pooled)
    tflite = tfc.lite.convert(
        model, "int8", representative_data=helpers.images(16)
    )
    report = tfc.lite.edgetpu_report(
        tflite,
        layer_names=[layer.name for layer in model.layers],
        compiler=None,
    )
    rows = {row["op"]: row for row in report.ops}
    leaky = rows["LEAKY_RELU"]
    assert leaky["reason"] == "LEAKY_RELU is not an Edge TPU operation"
    assert leaky["layer"] == "leaky"
    support = [f for f in report.errors if f.rule == "op_support"]
    assert [(f.op, f.index, f.layer) for f in support] == [
        ("LEAKY_RELU", leaky["index"], "leaky")
    ]
    after = [f for f in report.errors if f.rule == "after_cut"]
    assert [f.layer for f in after] == ["conv_after", "gap"]
    assert all(f.index > leaky["index"] for f in after)
    assert f"#{leaky['index']} LEAKY_RELU" in after[0].message
    assert report.io_conversions == ["QUANTIZE", "DEQUANTIZE"]
    assert report.ops[1]["device"] == "edgetpu"
    assert not report.compatible
    assert report.cpu_fallback[0] == "LEAKY_RELU (leaky)"
    assert report.full_int8
    integer_io = [f for f in report.warnings if f.rule == "integer_io"]
    assert len(integer_io) == 1
    table = report.table()
    assert "| LEAKY_RELU | 1 | leaky |" in table
    assert "error: #2 LEAKY_RELU (layer 'leaky')" in table


def test_report_from_path_and_round_trip(models, tmp_path):
    path = tmp_path / "m.tflite"
    path.write_bytes(models["edgetpu"])
    report = tfc.lite.edgetpu_report(str(path), compiler=None)
    clone = tfc.lite.EdgeTpuReport.from_config(report.get_config())
    assert clone == report
    assert "compatible; 0 of" in clone.table()
    finding = tfc.lite.Finding("rule", "error", "m", "f", 3, "ADD", "add")
    assert tfc.lite.Finding.from_config(finding.get_config()) == finding
    assert finding.text() == "error: #3 ADD (layer 'add'): m. Fix: f."


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


def test_findings_name_the_layer_an_op_came_from():
    # The converter folds the Reshapes around the tanh into it, naming it
    # "act/Tanh;to_5d/Reshape", and the softmax of a Dense head is named
    # only by the signature's output: both were misattributed.
    layers = keras.layers
    inputs = keras.Input((16, 16, 3), batch_size=1)
    x = layers.Conv2D(8, 3, strides=2, padding="same", name="conv")(inputs)
    x = layers.Reshape((2, 4, 8, 8), name="to_5d")(x)
    x = layers.Activation("tanh", name="act")(x)
    x = layers.Reshape((8, 8, 8), name="to_4d")(x)
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    outputs = layers.Dense(5, activation="softmax", name="probs")(x)
    model = keras.Model(inputs, outputs)
    rep = np.random.default_rng(0).uniform(size=(8, 16, 16, 3))
    result = tfc.lite.convert(
        model,
        "int8",
        representative_data=rep.astype("float32"),
        target="edgetpu",
    )
    names = [layer.name for layer in model.layers]
    layer_of = {r.op_name: r.layer for r in tfc.lite.read_ops(result, names)}
    assert layer_of["TANH"] == "act" and layer_of["SOFTMAX"] == "probs"
    report = tfc.lite.edgetpu_report(result, layer_names=names, compiler=None)
    rows = {row["op"]: row["layer"] for row in report.ops}
    assert rows["TANH"] == "act" and rows["SOFTMAX"] == "probs"
