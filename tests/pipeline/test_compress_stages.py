"""`compress` argument checks and its resumable stage runner."""

import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

import tf_compact as tfc
from tf_compact import methods
from tf_compact.pipeline import stages as stages_lib
from tf_compact.pipeline.compress import compress


def _teacher():
    inputs = keras.Input((6, 6, 1))
    x = keras.layers.Conv2D(4, 3, activation="relu", name="conv")(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(3, name="logits")(x))


def _data():
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(16, 6, 6, 1)).astype("float32")
    y = (np.arange(16) % 3).astype("int32")
    return tf.data.Dataset.from_tensor_slices((x, y)).batch(8)


class _Recorder:
    """A stage that counts its runs and can fail on demand."""

    def __init__(self, fail=False):
        self.calls = 0
        self.fail = fail

    def __call__(self, ctx):
        self.calls += 1
        if self.fail:
            raise RuntimeError("interrupted")
        ctx.store.put_model("slim_finetuned", ctx.store.model("student_init"))
        return {"accuracy": ctx.accuracy(ctx.store.model("student_init"))}


def _plan(recorder):
    return [
        stages_lib.Stage("teacher", stages_lib.teacher_stage),
        stages_lib.Stage("lighten", stages_lib.lighten_stage),
        stages_lib.Stage("finetune", recorder),
    ]


def test_an_interrupted_run_resumes_at_the_failed_stage(tmp_path):
    out = str(tmp_path / "run")
    teacher = _teacher()
    failing = _Recorder(fail=True)
    with pytest.raises(RuntimeError, match="interrupted"):
        compress(
            teacher,
            _data(),
            _data(),
            stages=_plan(failing),
            output_dir=out,
            verbose=0,
        )
    assert os.path.exists(os.path.join(out, "student_init.keras"))
    working = _Recorder()
    result = compress(
        teacher,
        _data(),
        _data(),
        stages=_plan(working),
        output_dir=out,
        verbose=0,
    )
    assert working.calls == 1
    again = _Recorder()
    compress(
        teacher,
        _data(),
        _data(),
        stages=_plan(again),
        output_dir=out,
        verbose=0,
    )
    assert again.calls == 0
    assert result.report["teacher"]["params"] == teacher.count_params()
    assert os.path.exists(os.path.join(out, "report.json"))
    loaded = tfc.CompressResult.load(out)
    assert loaded.report["student"] == result.report["student"]
    assert loaded.slim_model is not None


def test_lighten_stage_applies_named_and_callable_transforms():
    def halve(model):
        return tfc.lighten.separable(model, min_input_channels=1)

    recorder = _Recorder()
    result = compress(
        _teacher(),
        _data(),
        _data(),
        stages=_plan(recorder),
        training=methods.Training(lighten=[halve]),
        verbose=0,
    )
    assert result.report["settings"]["lighten"] == ["halve"]
    classes = {type(layer).__name__ for layer in result.slim_model.layers}
    assert "SeparableConv2D" in classes


def test_teacher_is_not_modified():
    teacher = _teacher()
    before = [w.copy() for w in teacher.get_weights()]
    compress(teacher, _data(), stages=_plan(_Recorder()), verbose=0)
    for a, b in zip(before, teacher.get_weights()):
        np.testing.assert_array_equal(a, b)


OneShot = methods.OneShot
Training = methods.Training
Export = methods.Export


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"method": "magic"}, ValueError, "method='magic'"),
        ({"method": "budget"}, ValueError, "needs a budget"),
        ({"method": lambda: OneShot(-0.5)}, ValueError, "target_macs=-0.5"),
        ({"method": lambda: OneShot("half")}, TypeError, "target_macs='half'"),
        ({"method": "width"}, ValueError, "width_multiplier=None"),
        ({"method": methods.Training()}, TypeError, "method=Training"),
        ({"epochs": -1}, ValueError, "epochs=-1"),
        (
            {"training": lambda: Training(learning_rate=0)},
            ValueError,
            "learning_rate=0",
        ),
        (
            {"export": lambda: Export(tflite_modes=["int4"])},
            ValueError,
            "tflite_modes='int4'",
        ),
        (
            {"training": lambda: Training(lighten=["shrink"])},
            ValueError,
            "lighten='shrink'",
        ),
        (
            {"training": lambda: Training(lr_schedule="step")},
            ValueError,
            "lr_schedule='step'",
        ),
        (
            {"method": lambda: OneShot(0.5, round_to=0)},
            ValueError,
            "round_to=0",
        ),
        (
            {"training": lambda: Training(feature_kd="yes")},
            TypeError,
            "feature_kd='yes'",
        ),
        (
            {"training": lambda: Training(standardize_logits=1)},
            TypeError,
            "standardize_logits=1",
        ),
        (
            {"training": lambda: Training(student_loss_weight=1.5)},
            ValueError,
            "student_loss_weight=1.5",
        ),
        (
            {"training": lambda: Training(student_loss_weight="0.5")},
            ValueError,
            "student_loss_weight",
        ),
        (
            {"method": lambda: OneShot(0.5, importance="random")},
            ValueError,
            "importance='random'",
        ),
        (
            {"method": lambda: OneShot(0.5, allocation="greedy")},
            ValueError,
            "allocation='greedy'",
        ),
        (
            {"method": lambda: OneShot(widths={"conv": 0})},
            ValueError,
            "widths=",
        ),
        (
            {"method": lambda: OneShot(widths={"conv": 2.5})},
            ValueError,
            "widths=",
        ),
        ({"method": lambda: OneShot(widths={})}, ValueError, "widths="),
        ({"method": lambda: OneShot(widths={"nope": 2})}, ValueError, "'nope'"),
        (
            {"method": lambda: OneShot(widths={"conv": 9})},
            ValueError,
            "int in \\[1, 4\\]",
        ),
        (
            {"method": lambda: OneShot(widths={"conv": 3}, target_params=0.5)},
            ValueError,
            "over `target_params`",
        ),
        ({"training": "fast"}, TypeError, "training='fast'"),
        ({"export": methods.Training()}, TypeError, "export=Training()"),
        ({"callbacks": [3]}, TypeError, "callbacks=\\[3\\]"),
        ({"strategy": 3}, TypeError, "strategy=3 of type int"),
        ({"strategy": "ring"}, ValueError, "strategy='ring'"),
    ],
)
def test_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        built = {
            key: value() if callable(value) else value
            for key, value in kwargs.items()
        }
        compress(_teacher(), _data(), verbose=0, **built)


def test_a_changed_method_setting_is_refused_on_resume(tmp_path):
    out = str(tmp_path)
    teacher = _teacher()
    plan = _plan(_Recorder())
    compress(
        teacher,
        _data(),
        method=OneShot(0.5, round_to=2),
        stages=plan,
        output_dir=out,
        verbose=0,
    )
    with open(os.path.join(out, "stages.json")) as f:
        recorded = json.load(f)["settings"]
    assert recorded["method"] == "oneshot" and recorded["round_to"] == 2
    with pytest.raises(ValueError, match="'round_to': \\(2, 4\\)"):
        compress(
            teacher,
            _data(),
            method=OneShot(0.5, round_to=4),
            stages=plan,
            output_dir=out,
            verbose=0,
        )


def test_bad_teacher_and_data():
    with pytest.raises(TypeError, match="teacher="):
        compress("teacher", _data())
    with pytest.raises(ValueError, match="train_data"):
        compress(_teacher(), None)


def test_other_settings_in_the_same_directory_are_refused(tmp_path):
    out = str(tmp_path)
    teacher = _teacher()
    compress(
        teacher,
        _data(),
        stages=_plan(_Recorder()),
        epochs=1,
        output_dir=out,
        verbose=0,
    )
    with pytest.raises(ValueError, match="resume=False"):
        compress(
            teacher,
            _data(),
            stages=_plan(_Recorder()),
            epochs=2,
            output_dir=out,
            verbose=0,
        )


def test_a_dataset_of_other_content_is_refused_and_a_reshuffle_resumes(
    tmp_path,
):
    out, teacher = str(tmp_path), _teacher()
    x, y = (t.numpy() for t in next(iter(_data().unbatch().batch(16))))

    def run(test_x, order=slice(None), recorder=None):
        test = tf.data.Dataset.from_tensor_slices((test_x[order], y[order]))
        compress(
            teacher,
            _data(),
            test_data=test.batch(8),
            stages=_plan(recorder or _Recorder()),
            output_dir=out,
            verbose=0,
        )

    run(x)
    # The same examples in another order: the finished run is resumed.
    again = _Recorder()
    run(x, order=np.arange(16)[::-1], recorder=again)
    assert again.calls == 0
    # Other images of the same shapes: refused, naming the data.
    with pytest.raises(ValueError, match="resume=False.*test_data"):
        run(x + 0.5)


def test_a_bundle_shuffled_with_another_seed_is_another_run(tmp_path):
    out, teacher = str(tmp_path), _teacher()
    x, y = (t.numpy() for t in next(iter(_data().unbatch().batch(16))))

    def run(seed):
        bundle = tfc.data.DatasetBundle(
            x, y, x, y, ["a", "b", "c"], "test", batch_size=8, seed=seed
        )
        compress(
            teacher,
            bundle,
            stages=_plan(_Recorder()),
            output_dir=out,
            verbose=0,
        )

    run(0)
    run(0)
    with pytest.raises(ValueError, match="train_data_seed"):
        run(1)


def test_changed_export_settings_after_a_failed_conversion_resume(
    tmp_path, monkeypatch, capsys
):
    out, teacher = str(tmp_path), _teacher()
    options = {
        "method": OneShot(0.5),
        "epochs": 1,
        "training": methods.Training(finetune_epochs=0),
        "output_dir": out,
    }
    convert = stages_lib.convert

    def no_int8(model, mode, **kwargs):
        if mode == "int8":
            raise RuntimeError("int8 conversion failed")
        return convert(model, mode, **kwargs)

    monkeypatch.setattr(stages_lib, "convert", no_int8)
    with pytest.raises(RuntimeError, match="int8 conversion failed"):
        compress(teacher, _data(), verbose=0, **options)
    capsys.readouterr()
    export = methods.Export(tflite_modes=("float32",), benchmark_runs=2)
    result = compress(teacher, _data(), export=export, verbose=1, **options)
    said = capsys.readouterr().out
    assert "other export settings {'benchmark_runs': (50, 2), " in said
    assert "stages ['tflite', 'benchmark'] run again" in said
    # The training stages are reused, the export stages run again.
    for stage in ("teacher", "lighten", "slim", "finetune"):
        assert f"{stage}: " in said
    assert said.count("(done in an earlier run, skipped)") == 4
    assert sorted(result.tflite) == ["float32"]
    assert result.report["settings"]["tflite_modes"] == ["float32"]
