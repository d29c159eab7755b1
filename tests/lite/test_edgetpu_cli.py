"""The --edgetpu flags of export-tflite and benchmark-tflite."""

import pytest
from absl import flags
from absl.testing import flagsaver

import tf_compact as tfc
from tests.lite import helpers
from tf_compact.cli import benchmark_tflite
from tf_compact.cli import export_tflite
from tf_compact.lite import edgetpu_delegate


@pytest.fixture(autouse=True, scope="module")
def parsed_flags():
    if not flags.FLAGS.is_parsed():
        flags.FLAGS(["pytest"])


@pytest.fixture()
def missing_library(monkeypatch):
    monkeypatch.setattr(
        edgetpu_delegate, "edgetpu_library", lambda: "libedgetpu-missing.so.1"
    )


def test_export_tflite_edgetpu(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no edgetpu_compiler
    model_path = str(tmp_path / "small.keras")
    tfc.models.get("small_cnn").save(model_path)
    output = str(tmp_path / "small_edgetpu_ready.tflite")
    settings = {
        "model_path": model_path,
        "mode": "int8",
        "edgetpu": True,
        "limit": 64,
        "calibration_steps": 2,
        "output": output,
    }
    with flagsaver.flagsaver(**settings):
        export_tflite.main(["export_tflite"])
    out = capsys.readouterr().out
    assert "Edge TPU: compatible" in out
    assert "edgetpu_compiler not run" in out
    interpreter, _ = tfc.lite.make_interpreter(
        tfc.lite.load_model_content(output)
    )
    detail = interpreter.get_input_details()[0]
    assert list(detail["shape_signature"]) == [1, 28, 28, 1]
    assert detail["dtype"].__name__ == "uint8"
    bad = {**settings, "mode": "float32"}
    with flagsaver.flagsaver(**bad), pytest.raises(Exception, match="int8"):
        export_tflite.main(["export_tflite"])


def test_benchmark_tflite_edgetpu(tmp_path, capsys, missing_library):
    tflite = tfc.lite.convert(
        helpers.tiny_cnn(),
        "int8",
        representative_data=helpers.images(16),
        target="edgetpu",
        verify=False,
    )
    path = tmp_path / "m.tflite"
    path.write_bytes(tflite)
    with flagsaver.flagsaver(tflite=[str(path)], edgetpu=True, runs=2):
        assert benchmark_tflite.main(["benchmark_tflite"]) == 1
    err = capsys.readouterr().err
    assert "is not compiled for the Edge TPU" in err
    assert "Edge TPU: compatible" in err
