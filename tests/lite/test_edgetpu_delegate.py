"""Loading libedgetpu through the LiteRT delegate API, and its absence."""

import ctypes
import gc
import importlib
import sys

import flatbuffers
import numpy as np
import pytest
from ai_edge_litert import schema_py_generated

import tf_compact as tfc
from tests.lite import helpers
from tf_compact.lite import edgetpu_delegate

checks_module = importlib.import_module("tf_compact.lite.benchmark_checks")
_PREPARE = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p)


class _TfLiteDelegate(ctypes.Structure):
    # tensorflow/lite/core/c/common.h, with room for later fields.
    _fields_ = [
        ("data", ctypes.c_void_p),
        ("prepare", _PREPARE),
        ("copy_from_buffer_handle", ctypes.c_void_p),
        ("copy_to_buffer_handle", ctypes.c_void_p),
        ("free_buffer_handle", ctypes.c_void_p),
        ("flags", ctypes.c_int64),
        ("opaque_delegate_builder", ctypes.c_void_p),
        ("reserved", ctypes.c_void_p * 8),
    ]


class FakeDelegate:
    """A delegate that claims no node: the graph runs on the CPU."""

    def __init__(self):
        self.prepared = 0
        self._callback = _PREPARE(self._prepare)
        self._struct = _TfLiteDelegate(None, self._callback)

    def _prepare(self, context, delegate):
        self.prepared += 1
        return 0

    def _get_native_delegate_pointer(self):
        return ctypes.addressof(self._struct)


@pytest.fixture(scope="module")
def int8():
    return tfc.lite.convert(
        helpers.tiny_cnn(),
        "int8",
        representative_data=helpers.images(16),
        target="edgetpu",
        verify=False,
    )


@pytest.fixture()
def missing_library(monkeypatch):
    monkeypatch.setattr(
        edgetpu_delegate, "edgetpu_library", lambda: "libedgetpu-missing.so.1"
    )


def test_missing_libedgetpu_says_how_to_install(int8, missing_library):
    with pytest.raises(tfc.lite.RuntimeUnavailableError) as info:
        tfc.lite.make_interpreter(int8, delegate="edgetpu")
    message = str(info.value)
    assert "libedgetpu-missing.so.1" in message
    assert "apt-get install libedgetpu1-std" in message
    assert "ai_edge_litert" in info.value.attempts
    with pytest.raises(tfc.lite.RuntimeUnavailableError, match="libedgetpu"):
        tfc.lite.load_edgetpu_delegate(library="libedgetpu-missing.so.1")
    with pytest.raises(ValueError, match="delegate='gpu'"):
        tfc.lite.make_interpreter(int8, delegate="gpu")


def test_delegate_is_handed_to_the_interpreter(int8, monkeypatch):
    fake = FakeDelegate()
    loaded = []

    def load(runtime_name, library, options):
        loaded.append((runtime_name, library, options))
        return fake

    monkeypatch.setattr(edgetpu_delegate, "_load_delegate", load)
    interpreter, info = tfc.lite.make_interpreter(
        int8, delegate="edgetpu", delegate_options={"device": "usb:0"}
    )
    assert info.delegate == "edgetpu" and fake.prepared == 1
    assert loaded == [
        (
            "ai_edge_litert",
            edgetpu_delegate.edgetpu_library(),
            {"device": "usb:0"},
        )
    ]
    x = helpers.images(4)
    plain, _ = tfc.lite.make_interpreter(int8)
    np.testing.assert_array_equal(
        tfc.lite.run_interpreter(interpreter, x),
        tfc.lite.run_interpreter(plain, x),
    )
    np.testing.assert_array_equal(
        tfc.lite.predict(int8, x, delegate="edgetpu"),
        tfc.lite.predict(int8, x),
    )
    assert fake.prepared == 2
    monkeypatch.setattr(
        checks_module, "is_compiled_for_edgetpu", lambda content: True
    )
    result = tfc.lite.benchmark(int8, delegate="edgetpu", runs=2, warmup=0)
    assert result.delegate == "edgetpu"


def compiled_looking(tflite, index=2):
    """`tflite` with op `index` turned into an `edgetpu-custom-op`."""
    schema = schema_py_generated
    model = schema.ModelT.InitFromPackedBuf(bytes(tflite), 0)
    code = schema.OperatorCodeT()
    code.builtinCode = code.deprecatedBuiltinCode = (
        schema.BuiltinOperator.CUSTOM
    )
    code.customCode, code.version = "edgetpu-custom-op", 1
    model.operatorCodes.append(code)
    op = model.subgraphs[0].operators[index]
    op.opcodeIndex = len(model.operatorCodes) - 1
    op.builtinOptions, op.builtinOptionsType = None, 0
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def test_compiled_model_report_and_missing_runtime(
    int8, missing_library, tmp_path
):
    compiled = compiled_looking(int8)
    assert tfc.lite.is_compiled_for_edgetpu(compiled)
    path = tmp_path / "model_edgetpu.tflite"
    path.write_bytes(compiled)
    assert tfc.lite.is_compiled_for_edgetpu(str(path))
    assert tfc.lite.is_compiled_for_edgetpu(path)
    report = tfc.lite.edgetpu_report(compiled, compiler=None)
    row = report.ops[2]
    assert (row["op"], row["device"]) == ("edgetpu-custom-op", "edgetpu")
    assert report.compatible
    with pytest.raises(tfc.lite.RuntimeUnavailableError, match="libedgetpu"):
        tfc.lite.benchmark(compiled, delegate="edgetpu")


def test_benchmark_refuses_a_model_not_compiled(int8):
    assert not tfc.lite.is_compiled_for_edgetpu(int8)
    with pytest.raises(ValueError, match="compiled by edgetpu_compiler"):
        tfc.lite.benchmark(int8, delegate="edgetpu")


def test_a_failed_load_prints_nothing_beyond_its_error(monkeypatch):
    # The runtime's half-made Delegate would print "Exception ignored".
    seen = []
    monkeypatch.setattr(sys, "unraisablehook", seen.append)
    with pytest.raises(tfc.lite.RuntimeUnavailableError, match="libedgetpu"):
        tfc.lite.load_edgetpu_delegate(library="/nonexistent/libedgetpu.so.1")
    gc.collect()
    assert seen == []
