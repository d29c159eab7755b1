"""`tf-compact compress`, `export-tflite` and `benchmark-tflite` chained."""

import json
import os

import pytest
from absl import app
from absl.testing import flagsaver

from tf_compact.cli import benchmark_tflite
from tf_compact.cli import compress
from tf_compact.cli import export_tflite

#: A one-shot run on 128 images with a 1-epoch teacher.
_QUICK = {
    "limit": 128,
    "batch_size": 64,
    "teacher_epochs": 1,
    "finetune_epochs": 0,
    "method": "oneshot",
}


def test_compress_then_export_then_benchmark(tmp_path, capsys):
    out = str(tmp_path / "run")
    with flagsaver.flagsaver(
        **_QUICK,
        epochs=1,
        round_to=4,
        lr_schedule="constant",
        feature_kd=True,
        standardize_logits=True,
        kd_learning_rate=2e-3,
        temperature=3.0,
        student_loss_weight=0.25,
        importance="l1",
        widths=["res_conv1=8", "down1_conv=16"],
        output_dir=out,
    ):
        assert compress.main(["compress"]) is None
    printed = capsys.readouterr().out
    assert "student TFLite int8" in printed
    with open(os.path.join(out, "report.json")) as f:
        report = json.load(f)
    assert report["settings"]["method"] == "oneshot"
    assert report["settings"]["round_to"] == 4
    assert report["settings"]["lr_schedule"] == "constant"
    assert report["settings"]["feature_kd"] is True
    assert report["settings"]["standardize_logits"] is True
    assert report["settings"]["learning_rate"] == 2e-3
    assert report["settings"]["temperature"] == 3.0
    assert report["settings"]["student_loss_weight"] == 0.25
    assert report["settings"]["importance"] == "l1"
    assert report["settings"]["widths"] == {"down1_conv": 16, "res_conv1": 8}
    # --widths alone: the default --target_macs is not imposed on them.
    assert report["settings"]["target_macs"] is None
    assert report["student"]["macs"] < report["teacher"]["macs"]
    # --labels=auto and --normalization=auto: the dataset's class names
    # and pixel scale go into the student's files for Android apps.
    from tf_compact import lite

    meta = lite.read_metadata(os.path.join(out, "model_int8.tflite"))
    assert len(meta.outputs[0].labels) == 10
    assert meta.outputs[0].labels[0] == "T-shirt/top"
    assert meta.inputs[0].std == [255.0]

    model_path = os.path.join(out, "slim_finetuned.keras")
    with flagsaver.flagsaver(model_path=model_path, mode="float32"):
        export_tflite.main(["export_tflite"])
    tflite = export_tflite.output_path(model_path, "float32")
    assert os.path.getsize(tflite) > 0
    assert "Max abs diff vs Keras" in capsys.readouterr().out

    with flagsaver.flagsaver(tflite=[tflite], runs=3, warmup=1):
        benchmark_tflite.main(["benchmark_tflite"])
    assert os.path.basename(tflite) in capsys.readouterr().out


def test_allocation_flag_reaches_compress(tmp_path):
    out = str(tmp_path / "run")
    with flagsaver.flagsaver(
        **_QUICK,
        epochs=0,
        target_macs=0.5,
        allocation="sensitivity",
        tflite_mode=["float32"],
        output_dir=out,
    ):
        compress.main(["compress"])
    with open(os.path.join(out, "report.json")) as f:
        report = json.load(f)
    assert report["settings"]["allocation"] == "sensitivity"
    assert report["student"]["macs"] <= 0.5 * report["teacher"]["macs"]


def test_usage_errors():
    no_model = flagsaver.flagsaver(model_path=None)
    with no_model, pytest.raises(app.UsageError, match="--model_path"):
        export_tflite.main(["export_tflite"])
    no_file = flagsaver.flagsaver(tflite=[])
    with no_file, pytest.raises(app.UsageError, match="--tflite"):
        benchmark_tflite.main(["benchmark_tflite"])
    with pytest.raises(app.UsageError, match="Unexpected"):
        compress.main(["compress", "now"])
    for bad in (["fc1"], ["fc1=x"], ["=4"], ["fc1=4", "fc1=8"]):
        bad_flag = flagsaver.flagsaver(widths=bad)
        with bad_flag, pytest.raises(app.UsageError, match="widths"):
            compress.main(["compress"])


def test_default_output_path():
    assert export_tflite.output_path("a/slim.keras", "int8") == (
        "a/slim_int8.tflite"
    )
