"""GPU-delegate compatibility report."""

import keras
import pytest
import tensorflow as tf

import tf_compact as tfc
from tests.lite import helpers
from tf_compact.lite import gpu_delegate


@pytest.fixture(scope="module")
def compatible():
    return tfc.lite.convert(helpers.tiny_cnn(), verify=False)


@pytest.fixture(scope="module")
def with_argmax():
    inputs = keras.Input((16,))
    x = keras.layers.Dense(8, name="dense")(inputs)
    x = keras.layers.Lambda(
        lambda t: tf.cast(tf.argmax(t, axis=-1), tf.float32),
        name="pick",
    )(x)
    x = keras.layers.Reshape((1, 1, 1), name="grid")(x)
    x = keras.layers.Conv2D(2, 1, name="conv")(x)
    model = keras.Model(inputs, x)
    return tfc.lite.convert(model, verify=False), model


def test_cnn_is_fully_compatible(compatible):
    report = tfc.lite.gpu_report(compatible)
    assert report.compatible
    assert report.unsupported == [] and report.fallback == []
    assert {row["device"] for row in report.ops} == {"gpu"}
    assert len(report.partitions) == 1
    assert "CONV_2D" in [row["op"] for row in report.ops]
    assert report.analyzer in ("no warnings", "checked", "unavailable")


def test_unsupported_ops_are_named_with_their_layer(with_argmax):
    content, model = with_argmax
    layers = [layer.name for layer in model.layers]
    report = tfc.lite.gpu_report(content, layer_names=layers)
    assert not report.compatible
    ops = [row["op"] for row in report.ops]
    argmax = ops.index("ARG_MAX")
    cast = ops.index("CAST")
    unsupported = {(i, op, layer) for i, op, layer, _ in report.unsupported}
    assert (argmax, "ARG_MAX", "pick") in unsupported
    assert (cast, "CAST", "pick") in unsupported
    reasons = {op: reason for _, op, _, reason in report.unsupported}
    assert reasons["ARG_MAX"] == "ARG_MAX is not supported by the GPU delegate"
    assert reasons["CAST"] == "CAST from INT64 to FLOAT32 is not supported"
    # Only the largest run of supported ops goes to the GPU (the
    # delegate's default); the other run stays on the CPU although the
    # delegate supports its ops.
    conv = ops.index("CONV_2D")
    assert report.ops[conv]["supported"]
    assert len(report.partitions) == 2
    largest = max(report.partitions, key=len)
    on_gpu = [row["index"] for row in report.ops if row["device"] == "gpu"]
    assert on_gpu == largest
    assert conv in largest and 0 not in largest
    assert report.ops[0]["device"] == "cpu" and report.ops[0]["supported"]
    assert f"ARG_MAX#{argmax} (pick)" in report.fallback


def test_more_partitions_move_more_ops_to_the_gpu(with_argmax):
    content, _ = with_argmax
    runs = len(tfc.lite.gpu_report(content).partitions)
    assert runs >= 2
    report = tfc.lite.gpu_report(content, max_delegated_partitions=runs)
    on_cpu = [row["index"] for row in report.ops if row["device"] == "cpu"]
    assert on_cpu == [index for index, _, _, _ in report.unsupported]
    with pytest.raises(ValueError, match="`max_delegated_partitions`"):
        tfc.lite.gpu_report(content, max_delegated_partitions=0)


def test_analyzer_warnings_are_parsed():
    # The layout `Analyzer.analyze(..., gpu_compatibility=True)` prints
    # when the runtime carries the GPU checker.
    text = "\n".join(
        [
            "=== TFLite ModelAnalyzer ===",
            "",
            "Subgraph#0 main(T#0) -> [T#4]",
            "  Op#0 FULLY_CONNECTED(T#0, T#1, T#-1) -> [T#2]",
            "  Op#1 ARG_MAX(T#2, T#3[-1]) -> [T#4]",
            "GPU COMPATIBILITY WARNING: Not supported op ARG_MAX",
            "",
            "GPU COMPATIBILITY WARNING: Subgraph#0 has GPU delegate "
            "compatibility issues at nodes 1 with TFLite runtime version "
            "2.21.0",
            "",
            "Tensors of Subgraph#0",
            "Subgraph#1 cond(T#0) -> [T#1]",
            "  Op#0 LESS(T#0, T#2) -> [T#1]",
            "GPU COMPATIBILITY WARNING: not in the first subgraph",
        ]
    )
    assert gpu_delegate.parse_analyzer(text) == {1: "Not supported op ARG_MAX"}


def test_report_config_round_trips(with_argmax):
    report = tfc.lite.gpu_report(with_argmax[0])
    again = tfc.lite.GpuReport.from_config(report.get_config())
    assert again == report
    assert again.table() == report.table()
    assert "GPU delegate: not compatible" in report.table()


def test_shape_ops_of_a_dynamic_batch_say_how_to_fold_them():
    def flat_cnn(batch_size):
        inputs = keras.Input((8, 8, 1), batch_size=batch_size)
        x = keras.layers.Conv2D(4, 3, activation="relu")(inputs)
        x = keras.layers.Flatten()(x)
        return keras.Model(inputs, keras.layers.Dense(3)(x))

    report = tfc.lite.gpu_report(tfc.lite.convert(flat_cnn(None)))
    shape_rows = [
        r
        for r in report.ops
        if r["op"] in ("SHAPE", "PACK") and not r["supported"]
    ]
    assert shape_rows and not report.compatible
    assert all("batch_size=1" in r["reason"] for r in shape_rows)
    assert report.summary().endswith("the converter folds it.")
    fixed = tfc.lite.gpu_report(tfc.lite.convert(flat_cnn(1)))
    assert fixed.compatible and "Fix" not in fixed.summary()
    # Supported ops of a dynamic-batch model get no advice.
    plain = tfc.lite.gpu_report(tfc.lite.convert(helpers.tiny_cnn()))
    assert "Fix" not in plain.summary()
