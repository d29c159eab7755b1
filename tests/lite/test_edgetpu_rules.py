"""Coral's per-op limits, checked on hand-made ops and converted models."""

import keras
import numpy as np
import pytest

import tf_compact as tfc
from tests.lite import helpers
from tf_compact.lite import edgetpu_rules
from tf_compact.lite.edgetpu_graph import OpView
from tf_compact.lite.edgetpu_graph import TensorView
from tf_compact.lite.edgetpu_limits import check_op
from tf_compact.lite.edgetpu_rules import check_version


def act(shape, dtype="int8", signature=None, name="t"):
    return TensorView(0, name, tuple(shape), signature, dtype, False)


def const(value, dtype="int32"):
    value = np.asarray(value)
    return TensorView(0, "c", value.shape, None, dtype, True, value)


def op(name, inputs, outputs, version=1, **options):
    return OpView(0, name, version, options, inputs, outputs, "layer")


def rules(view):
    return [(v.rule, v.severity) for v in check_op(view)]


IMAGE = (1, 8, 8, 16)


def test_a_plain_int8_conv_passes():
    conv = op(
        "CONV_2D",
        [act(IMAGE), const(np.zeros((4, 3, 3, 16)), "int8"), const([0] * 4)],
        [act((1, 6, 6, 4))],
        fused_activation_function="RELU6",
    )
    assert check_op(conv) == []


@pytest.mark.parametrize(
    "view, expected",
    [
        (
            op(
                "MAX_POOL_2D",
                [act(IMAGE)],
                [act(IMAGE)],
                fused_activation_function="RELU",
            ),
            [("fused_activation", "error")],
        ),
        (
            op(
                "ADD",
                [act(IMAGE), act(IMAGE)],
                [act(IMAGE)],
                fused_activation_function="TANH",
            ),
            [("fused_activation", "warning")],
        ),
        (
            op(
                "CONV_2D",
                [act(IMAGE), const(np.zeros((4, 3, 3, 16)), "int8")],
                [act(IMAGE)],
                dilation_h_factor=2,
                dilation_w_factor=1,
            ),
            [("dilation", "error")],
        ),
        (
            op("MEAN", [act(IMAGE), const([0, 1])], [act((1, 16))]),
            [("batch_axis", "error")],
        ),
        (
            op("MEAN", [act((1, 8, 8, 6)), const([3])], [act((1, 8, 8))]),
            [("mean_axes", "error")],
        ),
        (
            op("MEAN", [act(IMAGE), const([-1])], [act((1, 8, 8))]),
            [("mean_axes", "warning")],
        ),
        (
            op(
                "PAD",
                [act(IMAGE), const([[1, 0], [0, 0], [0, 0], [0, 0]])],
                [act((2, 8, 8, 16))],
            ),
            [("tensor_rank", "error"), ("batch_axis", "error")],
        ),
        (
            op(
                "PAD",
                [act(IMAGE), const([[0, 0], [1, 1], [1, 1], [0, 0]])],
                [act((1, 10, 10, 16))],
            ),
            [],
        ),
        (
            op(
                "PAD",
                [act(IMAGE), const([[0, 0], [0, 0], [0, 0], [0, 4]])],
                [act((1, 8, 8, 20))],
            ),
            [("pad_axes", "warning")],
        ),
        (
            op("SOFTMAX", [act((1, 4, 10))], [act((1, 4, 10))]),
            [("softmax_shape", "error")],
        ),
        (
            op("SOFTMAX", [act((1, 20000))], [act((1, 20000))]),
            [("softmax_shape", "error")],
        ),
        (
            op(
                "STRIDED_SLICE",
                [
                    act(IMAGE),
                    const([0] * 4),
                    const([1, 8, 8, 16]),
                    const([1, 2, 2, 1]),
                ],
                [act((1, 4, 4, 16))],
            ),
            [("strides", "error")],
        ),
        (
            op(
                "STRIDED_SLICE",
                [
                    act(IMAGE),
                    const([0] * 4),
                    const([1, 8, 8, 16]),
                    const([1] * 4),
                ],
                [act(IMAGE)],
                ellipsis_mask=1,
            ),
            [("strided_slice_mask", "error")],
        ),
        (
            op(
                "FULLY_CONNECTED",
                [act((1, 4, 16)), const(np.zeros((8, 16)), "int8")],
                [act((1, 4, 8))],
                keep_num_dims=True,
            ),
            [("fc_output", "error")],
        ),
        (
            op(
                "CONCATENATION",
                [act(IMAGE), const(np.ones(IMAGE), "int8")],
                [act((1, 8, 8, 32))],
            ),
            [("concat_constant", "error")],
        ),
        (
            op(
                "CONCATENATION",
                [act(IMAGE), const(np.zeros(IMAGE), "int8")],
                [act((1, 8, 8, 32))],
            ),
            [],
        ),
        (
            op(
                "PRELU",
                [act(IMAGE), const(np.ones((8, 8, 16)), "int8")],
                [act(IMAGE)],
            ),
            [("prelu_alpha", "error")],
        ),
        (
            op("PACK", [act((1, 16)), act((1, 16))], [act((2, 1, 16))], axis=0),
            [("batch_axis", "error")],
        ),
        (
            op("SPLIT", [const(0), act((2, 16))], [act((1, 16))] * 2),
            [("batch_axis", "error")],
        ),
        (
            op(
                "RESIZE_BILINEAR",
                [act(IMAGE), const([16, 16])],
                [act((1, 16, 16, 16))],
            ),
            [("resize_precision", "warning")],
        ),
        (
            op(
                "ADD",
                [act((1, 2, 8, 8, 3)), act((1, 2, 8, 8, 3))],
                [act((1, 2, 8, 8, 3))],
            ),
            [("tensor_rank", "error")],
        ),
        (
            op(
                "ADD",
                [act(IMAGE, "int16"), act(IMAGE, "int16")],
                [act(IMAGE, "int16")],
            ),
            [("full_int8", "error")],
        ),
        (
            op("ADD", [act(IMAGE, signature=(-1, 8, 8, 16))] * 2, [act(IMAGE)]),
            [("static_shape", "error")],
        ),
        (
            op("FULLY_CONNECTED", [act((1, 16)), act((8, 16))], [act((1, 8))]),
            [("constant_weights", "error")],
        ),
        (
            op("LEAKY_RELU", [act(IMAGE)], [act(IMAGE)]),
            [("op_support", "error")],
        ),
    ],
)
def test_op_limits(view, expected):
    assert rules(view) == expected


def test_every_violation_says_how_to_fix_it():
    view = op(
        "MAX_POOL_2D",
        [act((2, 8, 8, 16), "float32")],
        [act((2, 4, 4, 16), "float32")],
        fused_activation_function="RELU",
    )
    found = check_op(view)
    assert [v.rule for v in found] == [
        "full_int8",
        "tensor_rank",
        "fused_activation",
    ]
    assert "batch size 2" in found[1].message
    assert "batch size 1" in found[1].fix
    assert all(v.fix for v in found)
    # A 5-D tensor of batch 1: batch 1 is not the fix.
    five_d = act((1, 2, 8, 8, 3))
    (rank,) = check_op(op("ADD", [five_d, five_d], [five_d]))
    assert "batch size 1" not in rank.fix and "innermost three" in rank.fix
    # A type cast gets a fix that fits it, not the generic one.
    (cast,) = check_op(op("CAST", [act(IMAGE, "uint8")], [act(IMAGE)]))
    assert "LeakyReLU" not in cast.fix and "uint8" in cast.fix


def test_op_versions_the_compiler_knows():
    def conv(version):
        return op("CONV_2D", [act(IMAGE)], [act(IMAGE)], version)

    assert check_version(conv(3)) == []
    assert check_version(conv(5)) == []
    (newer,) = check_version(conv(6))
    assert newer.severity == "error" and "refuses" in newer.message
    (maybe,) = check_version(op("MUL", [], [], 5))
    assert maybe.severity == "warning"
    assert check_version(op("CUSTOM_THING", [], [], 9)) == []


def test_converted_model_limits_are_read_from_the_file():
    inputs = keras.Input((8, 8, 1), batch_size=1)
    x = keras.layers.Conv2D(4, 3, dilation_rate=(2, 1), name="dilated")(inputs)
    x = keras.layers.Conv2D(4, 1, name="pointwise")(x)
    model = keras.Model(inputs, x)
    tflite = helpers.int8_tflite(model, inference_io="int8")
    report = tfc.lite.edgetpu_report(
        tflite, [layer.name for layer in model.layers], compiler=None
    )
    (dilation,) = [f for f in report.errors if f.rule == "dilation"]
    assert dilation.layer == "dilated" and "2x1" in dilation.message
    (after,) = [f for f in report.errors if f.rule == "after_cut"]
    assert after.layer == "pointwise" and after.index > dilation.index
    versions = {row["op"]: row["version"] for row in report.ops}
    assert versions["CONV_2D"] >= 1


def test_an_op_version_the_compiler_lacks_puts_every_op_on_the_cpu(
    monkeypatch,
):
    # The compiler refuses a model holding an op version its registry
    # lacks, and then compiles nothing (fixture
    # edgetpu_compiler_op_version.txt); here the registry is made to stop
    # below the version this converter emits for TRANSPOSE_CONV.
    inputs = keras.Input((8, 8, 1), batch_size=1)
    x = keras.layers.Conv2D(4, 3, padding="same", name="conv")(inputs)
    x = keras.layers.Conv2DTranspose(3, 2, strides=2, name="up")(x)
    model = keras.Model(inputs, x)
    tflite = helpers.int8_tflite(model, target="edgetpu")
    emitted = [
        row["version"]
        for row in tfc.lite.edgetpu_report(tflite, compiler=None).ops
        if row["op"] == "TRANSPOSE_CONV"
    ][0]
    monkeypatch.setitem(
        edgetpu_rules.COMPILER_VERSIONS,
        "TRANSPOSE_CONV",
        (emitted - 1, emitted - 1),
    )
    report = tfc.lite.edgetpu_report(tflite, compiler=None)
    (newer,) = [f for f in report.errors if f.rule == "op_version"]
    assert newer.op == "TRANSPOSE_CONV" and "fused activations" in newer.fix
    assert {row["device"] for row in report.ops} == {"cpu"}
    conv = [row for row in report.ops if row["op"] == "CONV_2D"]
    assert "refuses the whole model" in conv[0]["reason"]


def test_nearest_upsampling_is_told_how_to_map():
    inputs = keras.Input((8, 8, 1), batch_size=1)
    x = keras.layers.Conv2D(4, 3, padding="same")(inputs)
    for interpolation in ("nearest", "bilinear"):
        up = keras.layers.UpSampling2D(interpolation=interpolation)(x)
        tflite = helpers.int8_tflite(keras.Model(inputs, up), target="edgetpu")
        report = tfc.lite.edgetpu_report(tflite, compiler=None)
        tiles = [f for f in report.errors if f.op == "TILE"]
        if interpolation == "nearest":
            assert tiles and "interpolation='bilinear'" in tiles[0].fix
        else:
            assert report.errors == []
