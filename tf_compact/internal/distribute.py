"""`tf.distribute` strategies: chosen by name, and what training needs.

`resolve_strategy` turns the names that scripts and `compress` accept
(`"none"`, `"mirrored"`, `"multi_worker"`, as in the TensorFlow Model Garden
`--distribution_strategy` flag) or a strategy object into a
`tf.distribute.Strategy`. Build the models, the Distiller, the penalties
and compile inside `strategy.scope()`; `fit` and the tf_compact callbacks
then run unchanged.

Example:

```python
strategy = resolve_strategy("mirrored")
with strategy.scope():
    distiller = tfc.Distiller(teacher, student, [tfc.LogitsKD()])
    distiller.compile(optimizer="adam", loss=loss)
distiller.fit(dataset, epochs=3)  # global batches, split over replicas
if is_chief(strategy):
    distiller.student.save("student.keras")
```

The rest serves the library's trainers and callbacks: per-replica loss
scaling (`scale_for_replicas`), the global batch (`gather_replicas`), the
scope in which a callback makes variables (`scope_of`); the
`multi_worker_fit.MultiWorkerFit` mixin lets Keras's `fit` run under
`MultiWorkerMirroredStrategy`.
"""

import contextlib

import tensorflow as tf

from tf_compact.internal import cluster
from tf_compact.internal import validation

NONE = "none"
MIRRORED = "mirrored"
MULTI_WORKER = "multi_worker"
#: The names `resolve_strategy` accepts.
STRATEGY_NAMES = (NONE, MIRRORED, MULTI_WORKER)
# Other spellings in use (Model Garden's "off", Keras's class name).
_ALIASES = {
    "off": NONE,
    "default": NONE,
    "mirrored_strategy": MIRRORED,
    "multi_worker_mirrored": MULTI_WORKER,
    "multiworkermirrored": MULTI_WORKER,
}
_EXPECTED = (
    f"one of {list(STRATEGY_NAMES)}, None or a tf.distribute.Strategy"
)

def resolve_strategy(strategy, devices=None):
    """Returns the `tf.distribute.Strategy` that `strategy` names.

    - `None` or `"none"` (also `"off"`): no distribution of its own: the
      strategy in effect, which is TensorFlow's default (one device)
      outside any `strategy.scope()`.
    - `"mirrored"`: `tf.distribute.MirroredStrategy` over `devices`, or
      over every local GPU (the CPU when there is none) when `devices` is
      `None`. Variables are mirrored, each replica takes its share of the
      global batch and gradients are summed across replicas.
    - `"multi_worker"` (also `"multi_worker_mirrored"`):
      `tf.distribute.MultiWorkerMirroredStrategy`, the cluster read from
      the `TF_CONFIG` environment variable (one worker with its local
      devices when unset). Every worker runs the same program; make the
      strategy before any other TensorFlow work in the process. One
      strategy is made per `TF_CONFIG` and returned again on later calls.
    - A `tf.distribute.Strategy` is returned as it is.

    Names are case-insensitive; `-` and `_` are the same.

    Args:
        strategy: A name above, `None`, or a `tf.distribute.Strategy`.
        devices: For `"mirrored"` only: a list of device names such as
            `["/gpu:0", "/gpu:1"]`. Defaults to `None` (every local GPU).

    Returns:
        A `tf.distribute.Strategy`.

    Raises:
        TypeError: If `strategy` is neither a string, `None` nor a
            strategy, or `devices` is not a list of strings.
        ValueError: If the name is unknown, `devices` is given with
            another strategy than `"mirrored"`, or `TF_CONFIG` is not valid
            JSON.

    Example:

    ```python
    resolve_strategy("none").num_replicas_in_sync  # 1
    resolve_strategy("mirrored", devices=["/cpu:0"])  # MirroredStrategy
    ```
    """
    if isinstance(strategy, tf.distribute.Strategy):
        _check_no_devices(devices, "a tf.distribute.Strategy object")
        return strategy
    name = strategy_key(strategy)
    if name == MIRRORED:
        return tf.distribute.MirroredStrategy(
            devices=_validate_devices(devices)
        )
    _check_no_devices(devices, repr(name))
    if name == MULTI_WORKER:
        return cluster.multi_worker_strategy()
    return tf.distribute.get_strategy()


def strategy_key(strategy):
    """Returns the canonical name of a strategy name (`None` is "none").

    Args:
        strategy: A name accepted by `resolve_strategy`, or `None`.

    Returns:
        One of `STRATEGY_NAMES`.

    Raises:
        TypeError: If `strategy` is not a string or `None`.
        ValueError: If the name is unknown.

    Example:

    ```python
    strategy_key("Multi-Worker")  # "multi_worker"
    ```
    """
    if strategy is None:
        return NONE
    if not isinstance(strategy, str):
        raise validation.invalid_type("strategy", _EXPECTED, strategy)
    key = strategy.strip().lower().replace("-", "_")
    key = _ALIASES.get(key, key)
    if key not in STRATEGY_NAMES:
        raise validation.invalid("strategy", _EXPECTED, strategy)
    return key


def strategy_name(strategy):
    """Returns a short description such as `"mirrored (2 replicas)"`.

    Args:
        strategy: A `tf.distribute.Strategy`, or `None` for the strategy
            in effect.

    Returns:
        The strategy's kind (`"none"`, `"mirrored"`, `"multi_worker"` or
        the class name) and its replica count, for reports and logs.

    Example:

    ```python
    strategy_name(tf.distribute.get_strategy())  # "none (1 replica)"
    ```
    """
    if strategy is None:
        strategy = tf.distribute.get_strategy()
    if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        kind = MULTI_WORKER
    elif isinstance(strategy, tf.distribute.MirroredStrategy):
        kind = MIRRORED
    elif type(strategy).__name__ == "_DefaultDistributionStrategy":
        kind = NONE
    else:
        kind = type(strategy).__name__
    count = strategy.num_replicas_in_sync
    return f"{kind} ({count} replica{'' if count == 1 else 's'})"


def is_chief(strategy):
    """Whether this process should write files (models, reports, logs).

    Under `MultiWorkerMirroredStrategy` every worker runs the whole
    program; only the chief (task `chief`, or worker 0 when there is no
    chief) should save, so workers do not overwrite each other. Every other
    strategy runs in one process, which is the chief.

    Args:
        strategy: A `tf.distribute.Strategy`.

    Returns:
        A bool.

    Example:

    ```python
    if is_chief(strategy):
        student.save("student.keras")
    ```
    """
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not isinstance(
        strategy, tf.distribute.MultiWorkerMirroredStrategy
    ):
        return True
    task_type = resolver.task_type
    if task_type is None or task_type == "chief":
        return True
    cluster = resolver.cluster_spec().as_dict()
    return task_type == "worker" and resolver.task_id == 0 and (
        "chief" not in cluster
    )


def scope_of(model):
    """Returns the scope in which to create variables that `model` reads.

    A model made inside `strategy.scope()` keeps that strategy; variables
    that a callback adds for it (controller state, masks) are made in the
    same scope, so they are mirrored like the model's own. Outside any
    strategy, or already inside one, the scope does nothing.

    Args:
        model: A `keras.Model` (or `None`).

    Returns:
        A context manager.

    Example:

    ```python
    with scope_of(self.model):
        self.mask = keras.Variable(np.ones(n, "float32"))
    ```
    """
    strategy = getattr(model, "distribute_strategy", None)
    if strategy is None or tf.distribute.has_strategy():
        return contextlib.nullcontext()
    if strategy is tf.distribute.get_strategy():
        return contextlib.nullcontext()  # TensorFlow's default strategy
    return strategy.scope()


def num_replicas():
    """Returns the replicas in sync of the strategy in effect (1 outside).

    Example:

    ```python
    with resolve_strategy("mirrored", devices=["/cpu:0"]).scope():
        num_replicas()  # 1
    ```
    """
    return tf.distribute.get_strategy().num_replicas_in_sync


def scale_for_replicas(value):
    """Returns a per-replica loss term as `keras.Model.compute_loss` wants it.

    Under a strategy with `n` replicas, Keras divides every loss that
    `compute_loss` returns by `n` (gradients are then summed over the
    replicas) and multiplies it back for the logs. A term added to
    `compute_loss`'s result (a penalty, for instance) must be divided
    likewise, or its gradient counts `n` times. With one replica the value
    is returned as it is.

    Args:
        value: A scalar tensor, computed on one replica.

    Returns:
        `value / n`.

    Example:

    ```python
    def compute_loss(self, x, y, y_pred, sample_weight=None, training=True):
        loss = super().compute_loss(x, y, y_pred, sample_weight, training)
        return loss + scale_for_replicas(self.sparsity(self.model))
    ```
    """
    count = num_replicas()
    if count == 1:
        return value
    return value * (1.0 / count)


def gather_replicas(value, axis=0):
    """Returns `value` concatenated over every replica, in replica order.

    In a replica context with several replicas (inside a train step under
    `MirroredStrategy` or `MultiWorkerMirroredStrategy`), every replica
    gets the concatenation of all replicas' `value` along `axis`, which
    for a batch is the global batch; gradients flow back to each
    replica's own part. Elsewhere (one device, cross-replica context)
    `value` is returned as it is.

    Args:
        value: A tensor.
        axis: The axis to concatenate along. Defaults to `0`.

    Returns:
        A tensor.

    Example:

    ```python
    negatives = gather_replicas(teacher_embeddings)  # the global batch
    ```
    """
    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync == 1:
        return value
    return context.all_gather(value, axis=axis)


def _validate_devices(devices):
    if devices is None:
        return None
    expected = "a list of device names such as ['/gpu:0', '/gpu:1']"
    if isinstance(devices, str) or not isinstance(devices, (list, tuple)):
        raise validation.invalid_type("devices", expected, devices)
    if not devices or not all(isinstance(d, str) for d in devices):
        raise validation.invalid_type("devices", expected, devices)
    return list(devices)


def _check_no_devices(devices, strategy):
    if devices is not None:
        raise ValueError(
            "Invalid value for argument `devices`. Expected None: `devices` "
            f"applies to strategy='mirrored' only, not {strategy}. "
            f"Received: devices={devices!r}"
        )
