"""Training helpers shared by the pipeline stages and the command line."""

import keras
import numpy as np

from tf_compact.data import inputs
from tf_compact.internal import heads
from tf_compact.internal import labels as label_lib
from tf_compact.internal import multi_worker_fit


def outputs_logits(model):
    """Whether `model` outputs logits (no softmax or sigmoid head).

    Args:
        model: a `keras.Model`.

    Returns:
        `False` when the (first) output ends in a softmax or sigmoid (an
        activation of the last layer, an `Activation`/`Softmax` layer, a
        `keras.ops.softmax` node or a nested model ending in one), `True`
        otherwise. See `tf_compact.internal.heads`.
    """
    return not heads.outputs_probabilities(model)


def steps_per_epoch(dataset):
    """Batches per epoch of a finite `tf.data.Dataset`, or None.

    Args:
        dataset: a `tf.data.Dataset` or any iterable.

    Returns:
        The dataset's cardinality as an int, or `None` when it is infinite,
        unknown, or the object is not a `tf.data.Dataset`.
    """
    cardinality = getattr(dataset, "cardinality", None)
    if cardinality is None:
        return None
    steps = int(keras.ops.convert_to_numpy(cardinality()))
    return steps if steps > 0 else None


def compile_classifier(model, learning_rate=1e-3):
    """Compiles a classifier with Adam, cross-entropy and accuracy.

    The loss and the accuracy follow the model's head (logits, softmax or
    sigmoid, read by `tf_compact.internal.heads`) and the labels: integer
    class ids, or one-hot rows (same rank and width as the output, as
    `keras.utils.to_categorical` makes them); a sigmoid or single-unit head
    gets binary cross-entropy on 0/1 labels.

    Args:
        model: a classifier `keras.Model`.
        learning_rate: Adam learning rate. Defaults to `1e-3`.

    Returns:
        The same model, compiled.
    """
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss=label_lib.label_loss(model),
        metrics=[label_lib.label_metric(model)],
    )
    return model


def accuracy(model, dataset, batch_size=None):
    """Top-1 accuracy of `model` over labeled data, as `model.evaluate`.

    The model runs in inference mode (`training=False`): dropout, batch
    normalization and augmentation layers (`RandomFlip`, ...) behave as in
    `model.evaluate` and `model.predict`, whatever their call default.
    Labels may be integer class ids (shape `(n,)` or `(n, 1)`) or one-hot
    rows (`keras.utils.to_categorical`; their argmax is compared). A
    binary head (a sigmoid, or a single output unit) is scored against
    0/1 labels by thresholding its output at 0.5 (at 0 for a logit).

    Args:
        model: a `keras.Model`.
        dataset: a batched `tf.data.Dataset` or iterable of `(x, y)` or
            `(x, y, sample_weight)` batches, or a tuple of such arrays.
            Sample weights weight each example's hit, as in
            `model.evaluate` and `tfc.lite.accuracy_of`.
        batch_size: batch size for `(x, y)` arrays. Defaults to `None`
            (32).

    Returns:
        The accuracy as a Python float in [0, 1].

    Raises:
        ValueError: if the data holds no example, or only zero weights.

    Example:

    ```python
    accuracy(model, (x_test, y_test))  # == model.evaluate(...) accuracy
    ```
    """
    dataset = inputs.as_dataset("dataset", dataset, batch_size)
    kind = heads.head_kind(model)
    correct = total = 0.0
    examples = 0
    for batch in dataset:
        x, y = batch[0], batch[1]
        out = model(x, training=False)
        if isinstance(out, (list, tuple)):
            out = out[0]
        hits = _hits(keras.ops.convert_to_numpy(out), np.asarray(y), kind)
        weights = np.ones(hits.shape[0])
        if len(batch) > 2 and batch[2] is not None:
            weights = np.asarray(batch[2], np.float64).reshape(hits.shape[0])
        correct += float(np.sum(hits * weights))
        total += float(np.sum(weights))
        examples += int(hits.shape[0])
    if examples == 0:
        raise ValueError("Cannot compute accuracy: the dataset is empty.")
    if total == 0:
        raise ValueError(
            "Cannot compute accuracy: every sample weight is zero."
        )
    return correct / total


def _hits(pred, y, kind):
    """Per-example correctness (a mean over units for multi-label)."""
    if kind == heads.SIGMOID or pred.shape[-1] == 1:
        threshold = 0.0 if kind == heads.NONE else 0.5
        y = y.reshape(pred.shape)
        hits = (pred > threshold) == (y > 0.5)
        return hits.reshape(len(pred), -1).mean(axis=-1)
    if y.ndim == pred.ndim and y.shape[-1] == pred.shape[-1]:
        y = np.argmax(y, axis=-1)
    return np.argmax(pred, axis=-1) == y.reshape(-1)


def fit_classifier(
    model,
    train_data,
    epochs,
    val_data=None,
    learning_rate=1e-3,
    callbacks=(),
    verbose=1,
):
    """Compiles and trains a classifier; returns the `History` dict.

    Args:
        model: the `keras.Model` to train (trained in place).
        train_data: batched training dataset of `(x, y)`, read in its
            own order (`fit` does not shuffle it).
        epochs: number of epochs.
        val_data: optional validation dataset. Defaults to `None`.
        learning_rate: Adam learning rate. Defaults to `1e-3`.
        callbacks: extra Keras callbacks. Defaults to `()`.
        verbose: Keras `fit` verbosity. Defaults to `1`.

    Returns:
        `history.history`, a dict of per-epoch metric lists.

    Under `MultiWorkerMirroredStrategy` (the model built in its scope),
    the model is trained through a wrapper with the
    `multi_worker_fit.MultiWorkerFit` fixes (its variables are the
    model's, so the model is still trained in place).

    Example:

    ```python
    history = fit_classifier(model, bundle.train, epochs=2)
    history["accuracy"][-1]
    ```
    """
    strategy = model.distribute_strategy
    if not multi_worker_fit.is_multi_worker(strategy):
        compile_classifier(model, learning_rate)
        trainer = model
    else:
        with strategy.scope():
            trainer = _MultiWorkerClassifier(model)
            trainer.compile(
                optimizer=keras.optimizers.Adam(learning_rate),
                loss=label_lib.label_loss(model),
                metrics=[label_lib.label_metric(model)],
            )
    history = trainer.fit(
        train_data,
        validation_data=val_data,
        epochs=epochs,
        shuffle=False,
        callbacks=list(callbacks),
        verbose=verbose,
    )
    return {k: [float(v) for v in vals] for k, vals in history.history.items()}


class _MultiWorkerClassifier(multi_worker_fit.MultiWorkerFit, keras.Model):
    """Trains a plain `keras.Model` under `MultiWorkerMirroredStrategy`."""

    def __init__(self, classifier):
        super().__init__(name=f"{classifier.name}_trainer")
        self.classifier = classifier

    def call(self, inputs, training=False):
        return self.classifier(inputs, training=training)
