"""The multi-worker strategy of the cluster described by `TF_CONFIG`."""

import json
import os

import tensorflow as tf

# One MultiWorkerMirroredStrategy per cluster description, reused.
_MULTI_WORKER_CACHE = {}


def multi_worker_strategy():
    """The `MultiWorkerMirroredStrategy` of the cluster `TF_CONFIG` names.

    One strategy is made per `TF_CONFIG` value and returned again on later
    calls: TensorFlow sets up collective ops once per process.

    Raises:
        ValueError: If `TF_CONFIG` is not valid JSON.
        RuntimeError: If other TensorFlow work came first in the process
            (the message says what to do).
    """
    raw = os.environ.get("TF_CONFIG", "")
    if raw:
        try:
            json.loads(raw)
        except ValueError as error:
            raise ValueError(
                "Invalid value for environment variable `TF_CONFIG`. "
                "Expected a JSON object with 'cluster' and 'task', e.g. "
                '{"cluster": {"worker": ["host:port", ...]}, "task": '
                '{"type": "worker", "index": 0}}. '
                f"Received: TF_CONFIG={raw!r} ({error})"
            ) from None
    if raw not in _MULTI_WORKER_CACHE:
        try:
            strategy = tf.distribute.MultiWorkerMirroredStrategy()
        except RuntimeError as error:
            if "program startup" not in str(error):
                raise
            raise RuntimeError(
                "MultiWorkerMirroredStrategy must be made before any other "
                "TensorFlow work in the process (loading data, building or "
                "training a model): its collective ops are set up only once, "
                "at the start. Make it first, e.g. `strategy = "
                "tf.distribute.MultiWorkerMirroredStrategy()` as the first "
                "TensorFlow call of the program, and pass it as "
                "`compress(..., strategy=strategy)`. "
                f"TensorFlow said: {error}"
            ) from None
        _MULTI_WORKER_CACHE[raw] = strategy
    return _MULTI_WORKER_CACHE[raw]
