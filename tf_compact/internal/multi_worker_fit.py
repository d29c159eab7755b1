"""Keras's `fit` and `evaluate` under `MultiWorkerMirroredStrategy`."""

import functools

import tensorflow as tf


class MultiWorkerFit:
    """Mixin that lets `fit` and `evaluate` run under
    `MultiWorkerMirroredStrategy` with several workers.

    Keras 3's TensorFlow trainer fails there in two places
    (keras-team/keras#20585): before the first step it reduces the whole
    first batch, a nested structure, across replicas, which the strategy
    refuses; and it averages each step's logs across workers along axis 0,
    which a scalar log does not have. A model class that lists this mixin
    before `keras.Model` is built from this worker's first local batch
    (only shapes and dtypes matter), and its step logs are handed over as
    one-element vectors, which the same averaging turns back into scalars
    (the values are equal on every replica: metrics are summed across
    them). Under any other strategy nothing changes.

    Example:

    ```python
    class Trainer(MultiWorkerFit, keras.Model):
        ...
    ```
    """

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        # Overrides a private hook of Keras's TensorFlow trainer.
        strategy = self.distribute_strategy
        if iterator is not None and is_multi_worker(strategy):
            data_batch = first_local_batch(strategy, iterator)
            iterator = None
        return super()._maybe_symbolic_build(
            iterator=iterator, data_batch=data_batch
        )

    def _make_function(self, step_function):
        # Overrides a private hook of Keras's TensorFlow trainer, which
        # makes the train and test functions from the step functions.
        if _several_workers(self.distribute_strategy):
            step_function = _vector_logs(step_function)
        return super()._make_function(step_function)


def _vector_logs(step_function):
    @functools.wraps(step_function)
    def step(data):
        return tf.nest.map_structure(_as_vector, step_function(data))

    return step


def _as_vector(value):
    if value is None:
        return None
    value = tf.convert_to_tensor(value)
    return tf.reshape(value, [1]) if value.shape.rank == 0 else value


def is_multi_worker(strategy):
    """Whether `strategy` is a `tf.distribute.MultiWorkerMirroredStrategy`."""
    return isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)


def _several_workers(strategy):
    """Whether a multi-worker strategy's cluster has more than one worker
    (Keras averages logs across workers only then)."""
    if not is_multi_worker(strategy):
        return False
    cluster = strategy.cluster_resolver.cluster_spec().as_dict()
    return len(cluster.get("worker", ())) + len(cluster.get("chief", ())) > 1


def first_local_batch(strategy, iterator):
    """Returns the first batch of a Keras epoch iterator, as this worker's
    first replica receives it (`None` when the iterator is empty)."""
    for _, _, batches in iterator:
        batch = next(batches)
        return tf.nest.map_structure(
            lambda v: (
                None
                if v is None
                else (strategy.experimental_local_results(v)[0])
            ),
            batch,
        )
    return None
