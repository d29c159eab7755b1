"""tf_compact refuses, at import, a Keras backend other than TensorFlow."""

import json
import os
import sys

import pytest

from tests.python_child import run_python
from tf_compact.internal import backend

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _python(code, **env):
    return run_python(["-c", code], **env)


@pytest.mark.parametrize("name", ["jax", "torch", "numpy"])
def test_import_under_another_backend_names_the_requirement(name):
    out = _python("import tf_compact", KERAS_BACKEND=name)
    assert out.returncode == 1
    last = out.stderr.strip().splitlines()[-1]
    assert last == (
        "ImportError: tf_compact needs the TensorFlow backend of Keras; set "
        'KERAS_BACKEND=tensorflow (or "backend": "tensorflow" in '
        f"keras.json) before importing it. Received: backend='{name}'"
    )


@pytest.mark.parametrize("name", ["jax", "torch", "numpy", "openvino", ""])
def test_check_backend_refuses_every_other_backend(name):
    with pytest.raises(
        ImportError,
        match=rf"KERAS_BACKEND=tensorflow.*Received: backend='{name}'",
    ):
        backend.check_backend(name)
    backend.check_backend("tensorflow")


def test_backend_named_in_keras_json_is_read(tmp_path, monkeypatch):
    with open(tmp_path / "keras.json", "w") as f:
        json.dump({"backend": "jax", "floatx": "float32"}, f)
    monkeypatch.delitem(sys.modules, "keras")
    monkeypatch.delenv("KERAS_BACKEND", raising=False)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    assert backend.configured_backend() == "jax"
    monkeypatch.setenv("KERAS_BACKEND", "tensorflow")
    assert backend.configured_backend() == "tensorflow"
    monkeypatch.delenv("KERAS_BACKEND")
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "absent"))
    assert backend.configured_backend() == "tensorflow"


def test_import_is_lazy_and_names_load_on_first_use():
    code = (
        "import sys\n"
        "import tf_compact as tfc\n"
        "print('tensorflow' in sys.modules, tfc.__version__ is not None)\n"
        "from tf_compact.pruning import prune\n"
        "print(callable(tfc.profile), tfc.profile.__module__)\n"
        "print(tfc.GroupLasso.__name__, 'slim' in dir(tfc))\n"
    )
    out = _python(code, TF_CPP_MIN_LOG_LEVEL="3")
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split("\n")[:3] == [
        "False True",
        "True tf_compact.profile.profiler",
        "GroupLasso True",
    ]


@pytest.mark.parametrize(
    "package, bounds",
    [("tensorflow", ">=2.18,<2.22"), ("keras", ">=3.12,<3.16")],
)
def test_keras_and_tensorflow_have_a_tested_range(package, bounds):
    # tf_compact uses keras.src internals: an untested major release of
    # either may break it, so both carry an upper bound.
    with open(os.path.join(_ROOT, "pyproject.toml"), encoding="utf-8") as f:
        text = f.read()
    assert f'    "{package}{bounds}",\n' in text
    with open(os.path.join(_ROOT, "README.md"), encoding="utf-8") as f:
        readme = f.read()
    assert "KERAS_BACKEND=tensorflow" in readme
