"""`Export(edgetpu=True)` and the strategy names of `compress`."""

import json
import os
import subprocess
import sys
import types

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.distribute import checks
from tests.pipeline.test_compress_options import _data
from tf_compact import data as tfc_data
from tf_compact import lite as tfc_lite
from tf_compact import methods
from tf_compact.cli import compress_settings
from tf_compact.lite.edgetpu import EdgeTpuReport
from tf_compact.lite.edgetpu import edgetpu_report
from tf_compact.pipeline import run_settings as run_settings_lib
from tf_compact.pipeline import stages as stages_lib
from tf_compact.pipeline.compress import compress


def _teacher():
    inputs = keras.Input((8, 8, 1))
    x = keras.layers.Conv2D(16, 3, padding="same", name="conv1")(inputs)
    x = keras.layers.ReLU()(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(3, name="logits")(x))


def test_export_edgetpu_setting_round_trips_and_is_checked():
    export = methods.Export(edgetpu=True)
    assert export.get_config()["edgetpu"] is True
    assert methods.Export.from_config(export.get_config()) == export
    assert methods.Export().edgetpu is False
    with pytest.raises((TypeError, ValueError), match="edgetpu"):
        methods.Export(edgetpu="yes")


def test_settings_record_edgetpu_only_when_asked():
    teacher, method = _teacher(), methods.OneShot(target_macs=0.5)
    training = methods.Training()
    plain = run_settings_lib.run_settings(
        teacher, method, 1, training, methods.Export()
    )
    coral = run_settings_lib.run_settings(
        teacher, method, 1, training, methods.Export(edgetpu=True)
    )
    assert "edgetpu" not in plain
    assert coral["edgetpu"] is True


def test_cli_export_reads_the_edgetpu_flag_value():
    export = compress_settings.build_export(["int8"], True)
    assert export == methods.Export(tflite_modes=("int8",), edgetpu=True)
    assert compress_settings.build_export(["int8"]).edgetpu is False


def test_edgetpu_export_writes_the_file_and_its_report(tmp_path):
    out = tmp_path / "run"
    result = compress(
        _teacher(),
        _data(),
        method=methods.OneShot(target_macs=0.5),
        epochs=1,
        training=methods.Training(finetune_epochs=1),
        export=methods.Export(
            tflite_modes=("float32",), edgetpu=True, benchmark_runs=2
        ),
        output_dir=str(out),
        verbose=0,
    )
    path = out / stages_lib.EDGETPU_FILE
    data = path.read_bytes()
    assert result.tflite["edgetpu"] == data
    interpreter = tf.lite.Interpreter(model_content=data)
    detail = interpreter.get_input_details()[0]
    assert detail["dtype"] == np.uint8
    assert list(detail["shape_signature"]) == [1, 8, 8, 1]

    report = json.loads((out / "report.json").read_text())
    entry = report["edgetpu"]
    again = edgetpu_report(data, compiler=None)
    assert entry["file"] == stages_lib.EDGETPU_FILE
    assert entry["compatible"] == again.compatible
    assert EdgeTpuReport.from_config(entry).ops == again.ops
    assert entry["summary"] == EdgeTpuReport.from_config(entry).summary()
    assert "edgetpu_report" not in report["tflite"]["edgetpu"]
    assert report["tflite"]["edgetpu"]["target"] == "edgetpu"
    # Timed only on the device it is meant for.
    assert "median_ms" not in report["tflite"]["edgetpu"]
    assert "median_ms" in report["tflite"]["float32"]
    text = (out / "report.md").read_text()
    line = f"**Edge TPU** (`{stages_lib.EDGETPU_FILE}`): {entry['summary']}"
    assert line in text
    for item in entry["unchecked"]:
        assert item in text


def test_compress_takes_a_strategy_name():
    seen = []

    def probe(ctx):
        seen.append(tf.distribute.get_strategy())
        return {}

    stage = stages_lib.Stage("probe", probe)
    compress(_teacher(), _data(), epochs=0, stages=[stage], strategy="none")
    compress(_teacher(), _data(), epochs=0, stages=[stage], strategy="mirrored")
    assert not isinstance(seen[0], tf.distribute.MirroredStrategy)
    assert isinstance(seen[1], tf.distribute.MirroredStrategy)
    with pytest.raises(ValueError, match="'ring'"):
        compress(_teacher(), _data(), stages=[stage], strategy="ring")
    with pytest.raises(TypeError, match="strategy"):
        compress(_teacher(), _data(), stages=[stage], strategy=3)


def test_writer_output_dir_outside_multi_worker_is_the_given_one():
    strategy = tf.distribute.OneDeviceStrategy("/cpu:0")
    assert run_settings_lib.writer_output_dir("run", strategy) == "run"
    assert run_settings_lib.writer_output_dir("run", None) == "run"
    assert run_settings_lib.writer_output_dir(None, strategy) is None


def test_a_worker_writes_where_a_rerun_finds_it_again(monkeypatch):
    # A non-chief worker of a multi-worker run: the same folder on every
    # run (inside output_dir), so a rerun resumes at the chief's stage.
    resolver = types.SimpleNamespace(task_type="worker", task_id=1)
    worker = types.SimpleNamespace(cluster_resolver=resolver)
    monkeypatch.setattr(
        run_settings_lib.distribute, "is_chief", lambda s: False
    )
    first = run_settings_lib.writer_output_dir("run", worker)
    assert first == os.path.join("run", "workertemp_worker_1")
    assert run_settings_lib.writer_output_dir("run", worker) == first


_WORKER = """
import json
import sys

from tf_compact.internal import distribute

strategy = distribute.resolve_strategy(sys.argv[2])
import keras
import numpy as np
import tensorflow as tf

from tf_compact import methods
from tf_compact.pipeline import plan
from tf_compact.pipeline import training
from tests.pipeline.test_compress_options import _data
from tf_compact.pipeline.compress import compress

keras.utils.set_random_seed(0)
x = np.random.default_rng(0).uniform(size=(64, 8, 8, 1)).astype("float32")
data = tf.data.Dataset.from_tensor_slices((x, np.arange(64) % 3)).batch(16)
with strategy.scope():
    inputs = keras.Input((8, 8, 1))
    h = keras.layers.Conv2D(16, 3, padding="same", name="conv1")(inputs)
    h = keras.layers.GlobalAveragePooling2D()(keras.layers.ReLU()(h))
    teacher = keras.Model(inputs, keras.layers.Dense(3)(h))
history = training.fit_classifier(teacher, data, epochs=2, verbose=0)
keep = ("teacher", "lighten", "slim", "finetune")
result = compress(
    teacher,
    data,
    method=methods.OneShot(target_macs=0.5),
    epochs=1,
    training=methods.Training(finetune_epochs=1),
    strategy=sys.argv[2],
    stages=[s for s in plan.stages_for("oneshot") if s.name in keep],
    output_dir=sys.argv[1],
    verbose=0,
)
print("RESULT " + json.dumps({
    "loss": history["loss"],
    "output_dir": result.output_dir,
    "conv1": result.slim_model.get_layer("conv1").filters,
    "slim_loss": result.report["history"]["slim"]["loss"],
}))
"""


@pytest.mark.slow
def test_compress_under_two_workers_as_on_one_device(tmp_path):
    root = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))
    out = str(tmp_path / "run")
    cluster = [f"localhost:{p}" for p in checks.free_ports(2)]
    procs = []
    # Two workers, then the same program on one device.
    runs = [(index, "multi_worker", out) for index in range(2)]
    runs.append((None, "none", str(tmp_path / "one")))
    for index, strategy, folder in runs:
        env = dict(os.environ, PYTHONPATH=root, TF_CPP_MIN_LOG_LEVEL="2")
        env.pop("TF_CONFIG", None)
        if index is not None:
            env["TF_CONFIG"] = json.dumps(
                {
                    "cluster": {"worker": cluster},
                    "task": {"type": "worker", "index": index},
                }
            )
        procs.append(
            subprocess.Popen(
                [sys.executable, "-c", _WORKER, folder, strategy],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
        )
    results = []
    for proc in procs:
        text, _ = proc.communicate(timeout=600)
        assert proc.returncode == 0, text[-4000:]
        line = [x for x in text.splitlines() if x.startswith("RESULT ")][-1]
        results.append(json.loads(line[len("RESULT ") :]))
    chief, other, one = results
    assert chief["output_dir"] == out
    assert other["output_dir"] != out
    assert os.path.isfile(os.path.join(out, "stages.json"))
    assert len(chief["loss"]) == 2
    np.testing.assert_allclose(chief["loss"], other["loss"], rtol=1e-6)
    np.testing.assert_allclose(
        chief["slim_loss"], other["slim_loss"], rtol=1e-6
    )
    assert chief["conv1"] == other["conv1"] == 8
    # As on one device: the same losses and widths.
    np.testing.assert_allclose(chief["loss"], one["loss"], rtol=1e-5)
    np.testing.assert_allclose(chief["slim_loss"], one["slim_loss"], rtol=1e-5)
    assert one["conv1"] == 8


def _bundle():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(48, 8, 8, 1)).astype("uint8")
    y = (np.arange(48) % 3).astype("int32")
    return tfc_data.from_arrays(
        x, y, class_names=["ant", "bee", "cat"], batch_size=16
    )


def _android_run(tmp_path, export):
    out = tmp_path / "run"
    compress(
        _teacher(),
        _bundle(),
        method=methods.OneShot(target_macs=0.5),
        epochs=1,
        training=methods.Training(finetune_epochs=0),
        export=export,
        output_dir=str(out),
        verbose=0,
    )
    return out


def test_student_files_carry_the_bundles_labels_and_normalization(tmp_path):
    out = _android_run(
        tmp_path,
        methods.Export(tflite_modes=("float32", "int8"), benchmark_runs=2),
    )
    for mode in ("float32", "int8"):
        meta = tfc_lite.read_metadata(str(out / f"model_{mode}.tflite"))
        assert meta.outputs[0].labels == ["ant", "bee", "cat"]
        assert (meta.inputs[0].mean, meta.inputs[0].std) == ([0.0], [255.0])
    report = json.loads((out / "report.json").read_text())
    assert report["tflite"]["float32"]["metadata"] == [
        "labels",
        "normalization",
    ]
    # The GPU delegate's report of the float file, beside the others.
    gpu = report["gpu"]["model_float32.tflite"]
    again = tfc_lite.gpu_report(str(out / "model_float32.tflite"))
    assert gpu["compatible"] == again.compatible
    assert gpu["fallback"] == again.fallback
    assert "model_int8.tflite" not in report["gpu"]
    text = (out / "report.md").read_text()
    assert (
        f"**GPU delegate** (`model_float32.tflite`): {gpu['summary']}" in text
    )
    # The teacher's reference file is left as it was converted.
    teacher = tfc_lite.read_metadata(str(out / "teacher_float32.tflite"))
    assert teacher is None or not teacher.outputs[0].labels


def test_labels_given_by_hand_or_none(tmp_path):
    export = methods.Export(
        tflite_modes=("float32",),
        benchmark_runs=2,
        labels=["x", "y", "z"],
        normalization=(127.5, 127.5),
    )
    assert methods.Export.from_config(export.get_config()) == export
    out = _android_run(tmp_path, export)
    meta = tfc_lite.read_metadata(str(out / "model_float32.tflite"))
    assert meta.outputs[0].labels == ["x", "y", "z"]
    assert (meta.inputs[0].mean, meta.inputs[0].std) == ([127.5], [127.5])
    none = methods.Export(
        tflite_modes=("float32",), labels=None, normalization=None
    )
    out = _android_run(tmp_path / "none", none)
    assert tfc_lite.read_metadata(str(out / "model_float32.tflite")) is None


def test_bad_labels_are_refused_before_training():
    with pytest.raises(ValueError, match="one label per unit"):
        compress(
            _teacher(),
            _bundle(),
            export=methods.Export(labels=["only", "two"]),
            epochs=0,
        )
    with pytest.raises(ValueError, match="labels"):
        methods.Export(labels="cats.txt")
    with pytest.raises(ValueError, match="normalization"):
        methods.Export(normalization=(0.0, 0.0))
    with pytest.raises(ValueError, match="normalization"):
        methods.Export(normalization=5.0)
    with pytest.raises(ValueError, match="labels"):
        methods.Export(labels=["two\nlines", "b", "c"])
    with pytest.raises(ValueError, match="one per input channel"):
        compress(
            _teacher(),
            _bundle(),
            export=methods.Export(normalization=([0.5] * 3, [0.2] * 3)),
            epochs=0,
        )


def test_export_takes_numpy_labels_and_normalization():
    export = methods.Export(
        labels=np.array(["ant", "bee", "cat"]),
        normalization=(np.float32(0.5), np.array([0.25])),
    )
    assert export.labels == ["ant", "bee", "cat"]
    assert export.normalization == [[0.5], [0.25]]
    assert methods.Export.from_config(export.get_config()) == export
