"""Argument checks of `tfc.lite.benchmark`, made before anything is timed."""

import keras

from tf_compact.internal import heads
from tf_compact.lite.edgetpu_graph import is_compiled_for_edgetpu


def validate_count(name, value, minimum):
    """Checks that argument `name` is an int of at least `minimum`.

    Raises:
        TypeError: If `value` is not an int (a bool is not).
        ValueError: If it is below `minimum`.

    Example:

    ```python
    validate_count("runs", runs, 1)
    ```
    """
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(
            f"Invalid type for argument `{name}`. Expected an int. "
            f"Received: {name}={value!r}"
        )
    if value < minimum:
        raise ValueError(
            f"Invalid value for argument `{name}`. Expected an int >= "
            f"{minimum}. Received: {name}={value}"
        )


BACKENDS = ("interpreter", "litert-benchmark")


def validate_backend(backend, dataset, delegate, runtime="auto"):
    """Checks `backend` against the arguments only the interpreter takes.

    Raises:
        ValueError: For an unknown backend, or `dataset`, `delegate` or a
            `runtime` given with `backend="litert-benchmark"`.

    Example:

    ```python
    validate_backend("interpreter", dataset=None, delegate=None)
    ```
    """
    if backend not in BACKENDS:
        raise ValueError(
            "Invalid value for argument `backend`. Expected one of "
            f"{BACKENDS}. Received: backend={backend!r}"
        )
    if backend != "interpreter" and (dataset is not None or delegate):
        raise ValueError(
            "Invalid value for argument `backend`. backend='litert-benchmark'"
            " measures latency and memory only; accuracy (`dataset`) and "
            "`delegate` need backend='interpreter'. Received: "
            f"dataset={'given' if dataset is not None else None}, "
            f"delegate={delegate!r}"
        )
    if backend != "interpreter" and runtime != "auto":
        raise ValueError(
            "Invalid value for argument `runtime`. `runtime` picks the Python "
            "interpreter of backend='interpreter'; backend='litert-benchmark'"
            " runs a tool, chosen with `tool=`. Received: "
            f"runtime={runtime!r}"
        )


def check_compiled(delegate, content):
    """Refuses `delegate="edgetpu"` for a model edgetpu_compiler did not
    compile.

    Raises:
        ValueError: If the model holds no `edgetpu-custom-op`.

    Example:

    ```python
    check_compiled("edgetpu", open("m_edgetpu.tflite", "rb").read())
    ```
    """
    if delegate == "edgetpu" and not is_compiled_for_edgetpu(content):
        raise ValueError(
            "Invalid value for argument `model`. delegate='edgetpu' runs "
            "a model compiled by edgetpu_compiler (it holds an "
            "`edgetpu-custom-op`). Received: a model without one; compile "
            "it first, e.g. `tfc.lite.convert(..., target='edgetpu', "
            "output_path=...)` with edgetpu_compiler on the PATH, then "
            "benchmark the `_edgetpu.tflite` file."
        )


def from_logits_of(model, from_logits):
    """`from_logits`, or what a one-output Keras model's head says.

    Returns:
        `from_logits` when given or `model` is no one-output Keras model,
        else whether its head lacks a softmax or sigmoid.

    Example:

    ```python
    from_logits_of(keras_model, None)  # False for a sigmoid head
    ```
    """
    if from_logits is not None or not isinstance(model, keras.Model):
        return from_logits
    if len(getattr(model, "outputs", None) or ()) != 1:
        return None
    return not heads.outputs_probabilities(model)
