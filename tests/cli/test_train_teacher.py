"""`tf-compact train-teacher` driven through its absl flags."""

import json
import os

import keras
import pytest
from absl import app
from absl.testing import flagsaver

from tests.python_child import last_json
from tests.python_child import run_python
from tf_compact.cli import teacher
from tf_compact.cli import train_teacher


def test_trains_saves_and_prints_the_profile(tmp_path, capsys):
    out = str(tmp_path / "teacher")
    with flagsaver.flagsaver(
        epochs=1, limit=256, batch_size=64, output_dir=out
    ):
        train_teacher.main(["train_teacher"])
    printed = capsys.readouterr().out
    assert "Total MACs" in printed and "test accuracy" in printed
    model = keras.saving.load_model(os.path.join(out, teacher.TEACHER_FILE))
    assert model.output_shape == (None, 10)
    with open(os.path.join(out, teacher.METRICS_FILE)) as f:
        metrics = json.load(f)
    assert 0.0 <= metrics["test_accuracy"] <= 1.0
    assert metrics["epochs"] == 1
    assert "built-in" in metrics["dataset_source"]
    # What compress compares before it reuses the teacher.
    assert metrics["settings"] == {
        "model": "small_cnn",
        "epochs": 1,
        "learning_rate": 1e-3,
        "dataset": "builtin",
        "data_dir": None,
        "limit": 256,
        "seed": 0,
        "batch_size": 64,
        "validation_split": 0.0,
    }


_LOAD_WITHOUT_TF_COMPACT = """
import json, sys
import keras
model = keras.saving.load_model(sys.argv[1])
x = keras.random.uniform((4, *model.input_shape[1:]))
loss, accuracy = model.evaluate(x, keras.ops.arange(4) % 2, verbose=0)
print(json.dumps({
    "loss": type(model.loss).__name__,
    "metrics": model.metrics_names,
    "tf_compact": [m for m in sys.modules if m.startswith("tf_compact")],
}))
"""


def test_the_saved_teacher_loads_in_a_script_without_tf_compact(tmp_path):
    out = str(tmp_path / "teacher")
    with flagsaver.flagsaver(epochs=1, limit=64, batch_size=64, output_dir=out):
        train_teacher.main(["train_teacher"])
    path = os.path.join(out, teacher.TEACHER_FILE)
    child = run_python(["-c", _LOAD_WITHOUT_TF_COMPACT, path])
    loaded = last_json(child)
    assert loaded["tf_compact"] == []
    assert loaded["loss"] == "SparseCategoricalCrossentropy"
    assert loaded["metrics"] == ["loss", "compile_metrics"]
    # The trained teacher is still the one tf_compact reuses.
    again = keras.saving.load_model(path, compile=False)
    assert again.output_shape == (None, 10)


def test_reuses_a_saved_teacher(tmp_path):
    bundle_dir = str(tmp_path)
    from tf_compact.cli import resources

    bundle = resources.load_dataset("builtin", batch_size=64, limit=128)
    trained, _ = teacher.train_teacher(
        bundle, "small_cnn", epochs=0, output_dir=bundle_dir, verbose=0
    )
    again = teacher.load_or_train_teacher(bundle, "small_cnn", 0, bundle_dir)
    assert [w.shape for w in again.weights] == [
        w.shape for w in trained.weights
    ]
    for a, b in zip(again.get_weights(), trained.get_weights()):
        assert (a == b).all()


def test_rejects_positional_arguments():
    with pytest.raises(app.UsageError, match="extra"):
        train_teacher.main(["train_teacher", "extra"])


@pytest.mark.parametrize(
    "name",
    [
        "small_cnn",
        "vgg",
        pytest.param("resnet20", marks=pytest.mark.slow),
        pytest.param("mobilenet_v2", marks=pytest.mark.slow),
    ],
)
def test_every_model_flag_builds(name):
    from tf_compact.cli import resources

    model = resources.build_model(name, (28, 28, 1), 10)
    assert model.output_shape == (None, 10)


def test_unknown_names_are_refused():
    from tf_compact.cli import resources

    with pytest.raises(ValueError, match="name='alexnet'"):
        resources.build_model("alexnet", (28, 28, 1), 10)
    with pytest.raises(ValueError, match="name='imagenet'"):
        resources.load_dataset("imagenet")
