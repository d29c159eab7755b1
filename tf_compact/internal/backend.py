"""The Keras backend tf_compact runs on, checked without importing Keras.

tf_compact builds on TensorFlow (tf.data, TFLite conversion, Keras's
TensorFlow trainer), so it needs the TensorFlow backend of Keras 3.
"""

import json
import os
import sys

SUPPORTED_BACKEND = "tensorflow"


def configured_backend():
    """The Keras backend name, read the way Keras reads it.

    When Keras is already imported this is `keras.config.backend()`.
    Otherwise it is the `KERAS_BACKEND` environment variable when set and
    non-empty, else the `"backend"` entry of `keras.json` in `KERAS_HOME`
    (default `~/.keras`), else `"tensorflow"`, Keras's own default. It
    imports nothing heavy, so `import tf_compact` can fail fast.

    Returns:
        The backend name as a string.

    Example:

    ```python
    configured_backend()  # "tensorflow" unless KERAS_BACKEND says else
    ```
    """
    keras = sys.modules.get("keras")
    if keras is not None and hasattr(keras, "config"):
        return keras.config.backend()
    if os.environ.get("KERAS_BACKEND"):
        return os.environ["KERAS_BACKEND"]
    return _backend_in_config_file() or SUPPORTED_BACKEND


def check_backend(backend):
    """Raises unless `backend` is the TensorFlow backend of Keras.

    Args:
        backend: a Keras backend name, e.g. `configured_backend()`.

    Raises:
        ImportError: if `backend` is not `"tensorflow"`; the message names
            the received backend and how to select TensorFlow.

    Example:

    ```python
    check_backend("tensorflow")  # passes
    check_backend("jax")  # ImportError naming 'jax'
    ```
    """
    if backend != SUPPORTED_BACKEND:
        raise ImportError(
            "tf_compact needs the TensorFlow backend of Keras; set "
            "KERAS_BACKEND=tensorflow (or \"backend\": \"tensorflow\" in "
            f"keras.json) before importing it. Received: backend={backend!r}"
        )


def _backend_in_config_file():
    if "KERAS_HOME" in os.environ:
        home = os.environ["KERAS_HOME"]
    else:
        base = os.path.expanduser("~")
        if not os.access(base, os.W_OK):
            base = "/tmp"
        home = os.path.join(base, ".keras")
    path = os.path.expanduser(os.path.join(home, "keras.json"))
    try:
        with open(path) as f:
            config = json.load(f)
    except (OSError, ValueError):
        return None
    backend = config.get("backend") if isinstance(config, dict) else None
    return backend if isinstance(backend, str) else None
