"""`compress`'s callbacks, strategy and latency budget."""


import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.distribute import checks
from tf_compact import methods
from tf_compact.pipeline import plan as plan_lib
from tf_compact.pipeline import stages as stages_lib
from tf_compact.pipeline.compress import compress
from tf_compact.pruning.latency import measure_latency


def _teacher(size=8, width=16):
    inputs = keras.Input((size, size, 1))
    x = keras.layers.Conv2D(width, 3, padding="same", name="conv1")(inputs)
    x = keras.layers.ReLU()(x)
    x = keras.layers.Conv2D(2 * width, 3, padding="same", name="conv2")(x)
    x = keras.layers.ReLU()(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(3, name="logits")(x))


def _data(n=32, size=8):
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(n, size, size, 1)).astype("float32")
    y = (np.arange(n) % 3).astype("int32")
    return tf.data.Dataset.from_tensor_slices((x, y)).batch(16)


def _slim_plan():
    return [
        s
        for s in plan_lib.stages_for("oneshot")
        if s.name in ("teacher", "lighten", "slim")
    ]


class _EpochCounter(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.epochs = 0

    def on_epoch_end(self, epoch, logs=None):
        self.epochs += 1


def test_callbacks_join_every_training_stage():
    counter = _EpochCounter()
    compress(
        _teacher(),
        _data(),
        method=methods.OneShot(target_macs=0.5),
        epochs=2,
        callbacks=[counter],
        stages=_slim_plan()
        + [stages_lib.Stage("finetune", stages_lib.finetune_stage)],
        training=methods.Training(finetune_epochs=1),
        verbose=0,
    )
    assert counter.epochs == 3


def test_stages_run_under_the_strategy_scope():
    strategy = tf.distribute.OneDeviceStrategy("/cpu:0")
    seen = []

    def probe(ctx):
        seen.append(tf.distribute.get_strategy())
        return {}

    plan = _slim_plan() + [stages_lib.Stage("probe", probe)]
    result = compress(
        _teacher(),
        _data(),
        method=methods.OneShot(target_macs=0.5),
        epochs=1,
        strategy=strategy,
        stages=plan,
        verbose=0,
    )
    assert seen == [strategy]
    assert tf.distribute.get_strategy() is not strategy
    assert result.report["student"]["macs"] < result.report["teacher"]["macs"]
    assert len(result.report["history"]["slim"]["loss"]) == 1


@pytest.mark.slow
def test_a_latency_budget_is_met_and_reported(tmp_path, monkeypatch):
    monkeypatch.setenv("TF_COMPACT_CACHE", str(tmp_path / "cache"))

    # Large enough that cutting channels saves most of its time (a tiny
    # model's time is mostly fixed costs, whatever its widths).
    teacher = _teacher(size=32, width=32)
    target = 0.6 * measure_latency(teacher)
    result = compress(
        teacher,
        _data(size=32),
        method=methods.OneShot(target_latency=target),
        epochs=0,
        stages=_slim_plan(),
        output_dir=str(tmp_path / "run"),
        verbose=0,
    )
    report = result.report
    budget = report["latency_budget"]
    assert budget["target_ms"] == target
    assert budget["num_threads"] == 1
    assert budget["measured_ms"] > 0
    assert report["settings"]["target_latency"] == target
    assert report["student"]["macs"] < report["teacher"]["macs"]
    text = (tmp_path / "run" / "report.md").read_text()
    assert f"latency budget {target:.4g} ms" in text


_MIRRORED = """
import numpy as np
import tensorflow as tf

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(
    cpu, [tf.config.LogicalDeviceConfiguration()] * 2
)
import keras

from tf_compact import methods
from tf_compact.pipeline import plan
from tf_compact.pipeline.compress import compress

inputs = keras.Input((8, 8, 1))
x = keras.layers.Conv2D(16, 3, padding="same", name="conv1")(inputs)
x = keras.layers.GlobalAveragePooling2D()(keras.layers.ReLU()(x))
teacher = keras.Model(inputs, keras.layers.Dense(3)(x))
x = np.random.default_rng(0).uniform(size=(32, 8, 8, 1)).astype("float32")
data = tf.data.Dataset.from_tensor_slices((x, np.arange(32) % 3)).batch(16)
keep = ("teacher", "lighten", "slim", "finetune")
result = compress(
    teacher,
    data,
    method=methods.OneShot(target_macs=0.5),
    epochs=1,
    training=methods.Training(finetune_epochs=1),
    strategy=tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]),
    stages=[s for s in plan.stages_for("oneshot") if s.name in keep],
    verbose=0,
)
report = result.report
print("widths", result.slim_model.get_layer("conv1").filters)
print("epochs", len(report["history"]["slim"]["loss"]))
"""


@pytest.mark.slow
def test_compress_trains_under_a_mirrored_strategy_on_two_cpus():
    out = checks.run_snippet(_MIRRORED)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "widths 8\n" in out.stdout
    assert "epochs 1\n" in out.stdout
