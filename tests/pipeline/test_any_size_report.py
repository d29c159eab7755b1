"""The MACs `compress` reports for a teacher whose input takes any size
(`keras.Input((None, None, 1))`): counted at the data's size, or shown as
unknown with the reason, never the few MACs of the Dense head."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tf_compact import methods
from tf_compact.pipeline import plan as plan_lib
from tf_compact.pipeline import report as report_lib
from tf_compact.pipeline.compress import compress
from tf_compact.pipeline.model_costs import model_costs
from tf_compact.profile import profile

SIZE = 12


def _teacher(input_shape=(None, None, 1)):
    inputs = keras.Input(input_shape, name="image")
    x = keras.layers.Conv2D(8, 3, padding="same", name="conv1")(inputs)
    x = keras.layers.ReLU(name="relu1")(x)
    x = keras.layers.Conv2D(8, 3, strides=2, name="conv2")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    outputs = keras.layers.Dense(3, name="logits")(x)
    return keras.Model(inputs, outputs, name="any_size")


def _dataset(fixed=True, n=32):
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(n, SIZE, SIZE, 1)).astype("float32")
    y = (np.arange(n) % 3).astype("int32")
    data = tf.data.Dataset.from_tensor_slices((x, y)).batch(16)
    if fixed:
        return data
    # Batches of one size whose element spec leaves the size unknown.
    free = [None, None, None, 1]
    return data.map(
        lambda a, b: (tf.raw_ops.PlaceholderWithDefault(input=a, shape=free), b)
    )


def _compress(teacher, data, output_dir=None):
    plan = [
        stage
        for stage in plan_lib.stages_for("oneshot")
        if stage.name in ("teacher", "lighten", "slim", "finetune")
    ]
    return compress(
        teacher,
        data,
        test_data=data,
        method=methods.OneShot(target_params=0.6),
        epochs=0,
        training=methods.Training(finetune_epochs=0),
        stages=plan,
        output_dir=output_dir,
        verbose=0,
    )


def test_report_counts_the_macs_at_the_size_of_the_data():
    teacher = _teacher()
    result = _compress(teacher, _dataset())
    report = result.report
    twin = _teacher((SIZE, SIZE, 1))
    assert report["teacher"]["macs"] == profile(twin).macs
    shape = (SIZE, SIZE, 1)
    student = profile(result.slim_model, input_shape=shape).macs
    assert report["student"]["macs"] == student < profile(twin).macs
    assert report["reduction"]["macs"] == pytest.approx(
        profile(twin).macs / student
    )
    assert report["teacher"]["macs_at"] == [[SIZE, SIZE, 1]]
    table = result.table()
    assert (
        "Note: MACs counted at input size 12×12×1, the size of the run's "
        "data: the model's input takes any size (input shape (None, None, "
        "None, 1)), and its MACs grow with it."
    ) in table


def test_report_shows_unknown_macs_when_the_data_fixes_no_size(tmp_path):
    result = _compress(_teacher(), _dataset(fixed=False), str(tmp_path))
    report = result.report
    assert report["teacher"]["macs"] is None
    assert report["student"]["macs"] is None
    assert "macs" not in report["reduction"]
    assert "params" in report["reduction"]
    table = result.table()
    rows = [line for line in table.splitlines() if "(Keras)" in line]
    assert len(rows) == 2 and all(" n/a " in row for row in rows), table
    assert "macs ÷" not in table and "macs n/a; params ÷" in table
    note = (
        "MACs n/a: the model's input takes any size (input shape (None, "
        "None, None, 1)) and the run's data does not fix one"
    )
    assert f"Note: {note}" in table
    with open(tmp_path / "report.md", encoding="utf-8") as f:
        markdown = f.read()
    assert "| teacher (Keras) | " in markdown
    assert "| n/a |" in markdown and f"**Note:** {note}" in markdown


class _Doubled(keras.layers.Layer):
    """A layer no cost function is registered for."""

    def call(self, inputs):
        return inputs * 2.0


def test_macs_name_the_layers_they_leave_out():
    inputs = keras.Input((SIZE, SIZE, 1))
    x = keras.layers.Conv2D(4, 3, name="conv")(inputs)
    x = _Doubled(name="doubled")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, keras.layers.Dense(3)(x))
    record = model_costs(model)
    assert record["macs_left_out"] == ["doubled"]
    built = report_lib.build_report(
        {"teacher": dict(record, name="t"), "slim": dict(record, name="s")},
        {},
    )
    assert built["macs_notes"] == [
        "MACs leave out 1 layer call(s) whose cost is unknown, counted as "
        "0: 'doubled'. `tfc.profile(model)` says why; "
        "`tf_compact.profile.register_macs(layer_cls, fn)` adds a cost "
        "function."
    ]
    assert "Note: MACs leave out 1 layer call(s)" in (
        report_lib.summary_table(built)
    )
