"""Reading edgetpu_compiler logs, and running a stand-in compiler."""

import os
import stat
import sys

import pytest

import tf_compact as tfc
from tests.lite import helpers

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures")
KIB, MIB = 1024, 1024**2


def _fixture(name):
    with open(os.path.join(FIXTURES, name)) as f:
        return f.read()


def test_fully_mapped_log():
    log = tfc.lite.parse_compiler_log(_fixture("edgetpu_compiler_mapped.txt"))
    assert log.version == "16.0.384591198"
    assert log.compiled and log.fully_mapped
    assert log.errors == []
    assert log.sizes == {
        "input_size": round(61.43 * KIB),
        "output_size": round(142.80 * KIB),
        "on_chip_used": round(88.25 * KIB),
        "on_chip_remaining": round(7.81 * MIB),
        "off_chip_used": 0,
    }
    assert log.counts == {
        "num_subgraphs": 1,
        "total_ops": 9,
        "ops_on_edgetpu": None,
        "ops_on_cpu": None,
    }
    assert [(r["op"], r["count"]) for r in log.operations] == [
        ("QUANTIZE", 2),
        ("CONV_2D", 3),
        ("MAX_POOL_2D", 1),
        ("MEAN", 1),
        ("FULLY_CONNECTED", 1),
        ("SOFTMAX", 1),
    ]
    assert log.not_mapped == []
    assert log.output_model == "small_cnn_int8_edgetpu.tflite"


def test_partially_mapped_log():
    log = tfc.lite.parse_compiler_log(_fixture("edgetpu_compiler_partial.txt"))
    assert log.compiled and not log.fully_mapped
    assert log.counts["ops_on_edgetpu"] == 4
    assert log.counts["ops_on_cpu"] == 10
    assert log.sizes["off_chip_used"] == round(1.94 * MIB)
    assert log.sizes["on_chip_remaining"] == round(3.25 * KIB)
    statuses = {(r["op"], r["status"]) for r in log.not_mapped}
    assert ("LEAKY_RELU", "Operation not supported") in statuses
    assert (
        "RESHAPE",
        "Tensor has unsupported rank (up to 3 innermost dimensions mapped)",
    ) in statuses
    assert sum(r["count"] for r in log.not_mapped) == 10
    clone = tfc.lite.CompilerLog.from_config(log.get_config())
    assert clone == log


def test_op_version_and_failed_logs():
    log = tfc.lite.parse_compiler_log(
        _fixture("edgetpu_compiler_op_version.txt"), returncode=1
    )
    assert not log.compiled and log.operations == []
    assert log.errors[0].startswith(
        "ERROR: Didn't find op for builtin opcode 'FULLY_CONNECTED' "
        "version '12'"
    )
    assert "Model could not be parsed" in log.errors
    failed = tfc.lite.parse_compiler_log(
        _fixture("edgetpu_compiler_failed.txt")
    )
    assert not failed.compiled and not failed.fully_mapped
    assert (
        "Compilation failed: Compilation failed due to large activation "
        "tensors in model." in failed.errors
    )


def _fake_compiler(folder, fixture, code=0):
    """An `edgetpu_compiler` that prints a fixture and copies the model."""
    script = folder / "edgetpu_compiler"
    script.write_text(
        f"#!{sys.executable}\n"
        "import os, shutil, sys\n"
        "args = sys.argv[1:]\n"
        "out = args[args.index('-o') + 1]\n"
        "model = args[-1]\n"
        "stem = os.path.basename(model)[: -len('.tflite')]\n"
        f"if {code} == 0:\n"
        "    shutil.copy(model, os.path.join(out, stem + '_edgetpu.tflite'))\n"
        f"print(open({os.path.join(FIXTURES, fixture)!r}).read())\n"
        f"sys.exit({code})\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return str(script)


@pytest.fixture(scope="module")
def int8_cut():
    """An int8 model whose LeakyReLU cuts the graph."""
    import keras

    inputs = keras.Input((8, 8, 1), batch_size=1)
    x = keras.layers.Conv2D(4, 3, name="conv")(inputs)
    x = keras.layers.LeakyReLU(name="leaky")(x)
    x = keras.layers.Conv2D(4, 3, name="conv_after")(x)
    model = keras.Model(inputs, keras.layers.Flatten(name="flat")(x))
    tflite = helpers.int8_tflite(model, inference_io="uint8")
    return tflite, [layer.name for layer in model.layers]


def test_report_runs_the_compiler_on_the_path(int8_cut, tmp_path, monkeypatch):
    tflite, names = int8_cut
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    _fake_compiler(bin_dir, "edgetpu_compiler_partial.txt")
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    out = tmp_path / "out"
    report = tfc.lite.edgetpu_report(tflite, layer_names=names, out_dir=out)
    assert report.compiler is not None and report.unchecked == []
    assert report.compiler.output_model == str(out / "model_edgetpu.tflite")
    assert os.path.exists(report.compiler.output_model)
    assert not report.compatible
    leaky = [
        f
        for f in report.findings
        if f.rule == "compiler" and f.op == "LEAKY_RELU"
    ]
    # One LEAKY_RELU in the model: the compiler's row is pinned to it.
    assert [(f.index, f.layer) for f in leaky] == [(2, "leaky")]
    assert leaky[0].message == (
        "compiler: 1 x LEAKY_RELU: Operation not supported"
    )
    assert "compiler 16.0.384591198: compiled" in report.summary()
    assert "off-chip 1.94 MiB" in report.summary()


def test_compiler_failure_becomes_findings(int8_cut, tmp_path):
    tflite, _ = int8_cut
    compiler = _fake_compiler(tmp_path, "edgetpu_compiler_op_version.txt", 1)
    report = tfc.lite.edgetpu_report(tflite, compiler=compiler)
    assert report.compiler.returncode == 1
    assert not report.compiler.compiled and not report.compatible
    errors = [f for f in report.errors if f.rule == "compiler_error"]
    assert "op version" in errors[0].fix
    assert report.compiler.output_model is None


def test_missing_compiler(int8_cut, monkeypatch, tmp_path):
    tflite, _ = int8_cut
    monkeypatch.setenv("PATH", str(tmp_path))
    report = tfc.lite.edgetpu_report(tflite)
    assert report.compiler is None
    assert report.unchecked[0].startswith("edgetpu_compiler not run")
    assert "apt-get install edgetpu-compiler" in report.unchecked[0]
    with pytest.raises(FileNotFoundError, match="edgetpu-compiler"):
        tfc.lite.edgetpu_report(tflite, compiler="edgetpu_compiler")
    with pytest.raises(TypeError, match="compiler"):
        tfc.lite.edgetpu_report(tflite, compiler=3)
