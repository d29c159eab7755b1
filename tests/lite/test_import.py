"""`import tf_compact` must not import tfmot or tf_keras."""

import subprocess
import sys


def test_import_tf_compact_lite_leaves_tfmot_and_tf_keras_alone():
    code = (
        "import os, sys\n"
        "import tf_compact as tfc\n"
        "assert tfc.lite.convert is not None\n"
        "import tf_compact.lite.qat, tf_compact.lite.bridge\n"
        "print('tensorflow_model_optimization' in sys.modules,"
        " 'tf_keras' in sys.modules, os.environ.get('TF_USE_LEGACY_KERAS'))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=300,
        env={**__import__("os").environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "False False None"
