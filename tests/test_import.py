"""Import-time behaviour of the package."""

import subprocess
import sys

import pytest

import tf_compact as tfc
from tf_compact import version


def test_version_has_one_source():
    assert tfc.__version__ == version.__version__
    assert tfc.__version__.count(".") == 2


def _fresh_import(code):
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout.strip()


def test_import_does_not_pull_tfmot_torch_or_flip_tf_keras():
    # torch (the `peers` extra) is for benchmarks/bench_peers.py only.
    code = (
        "import os, sys\n"
        "import tf_compact\n"
        "print('tensorflow_model_optimization' in sys.modules,"
        " 'torch' in sys.modules,"
        " os.environ.get('TF_USE_LEGACY_KERAS'))"
    )
    assert _fresh_import(code) == "False False None"


@pytest.mark.parametrize(
    "imports",
    [
        "import tf_compact\nimport keras",
        "import tf_compact\nimport tensorflow\nimport keras",
        "import tf_compact\nimport importlib.util\n"
        "importlib.util.find_spec('keras')\nimport keras",
    ],
    ids=["keras", "tensorflow_between", "find_spec_first"],
)
def test_saved_objects_load_when_tf_compact_is_imported_first(
    tmp_path, imports
):
    import keras

    def net(width):
        inputs = keras.Input((4,))
        hidden = keras.layers.Dense(width, activation="relu")(inputs)
        return keras.Model(inputs, keras.layers.Dense(3)(hidden))

    path = str(tmp_path / "distiller.keras")
    tfc.Distiller(net(8), net(4), [tfc.LogitsKD()]).save(path)
    code = (
        "import sys\n"
        "import tf_compact\n"
        "loaded_early = 'tensorflow' in sys.modules\n"
        f"{imports}\n"
        f"model = keras.saving.load_model({path!r})\n"
        "print(loaded_early, type(model).__name__)"
    )
    assert _fresh_import(code) == "False Distiller"
