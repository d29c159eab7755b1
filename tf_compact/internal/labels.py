"""Label losses and accuracies that follow the classifier head.

`LabelLoss` and `LabelAccuracy` accept integer or one-hot labels (0/1 for a
binary head) and read logits or probabilities as the head gives them;
`label_loss(model)` and `label_metric(model)` build them for a model's
head (see `tf_compact.internal.heads`).
"""

import keras
from keras import ops

from tf_compact.internal.heads import NONE
from tf_compact.internal.heads import head_kind
from tf_compact.internal.heads import is_binary
from tf_compact.internal.heads import output_width


def _one_hot_like(y_true, y_pred):
    t_shape, p_shape = tuple(y_true.shape), tuple(y_pred.shape)
    return (
        len(t_shape) == len(p_shape)
        and p_shape[-1] not in (None, 1)
        and t_shape[-1] == p_shape[-1]
    )


@keras.saving.register_keras_serializable(package="tf_compact")
class LabelLoss(keras.losses.Loss):
    """Cross-entropy that follows the head and the label format.

    Binary heads (`kind="sigmoid"`, or a single output unit) get binary
    cross-entropy; other heads get categorical cross-entropy, from one-hot
    labels when the labels have the output's rank and width (as
    `keras.utils.to_categorical` makes them), else from integer labels.

    Args:
        from_logits: Whether predictions are logits. Defaults to `True`.
        kind: The head, `"softmax"`, `"sigmoid"` or `"none"`. Defaults to
            `"none"`.
        name: Loss name. Defaults to `"label_loss"`.
        **kwargs: Other `keras.losses.Loss` arguments (`reduction`, ...).

    Example:

    ```python
    model.compile("adam", loss=LabelLoss(from_logits=False, kind="softmax"))
    ```
    """

    def __init__(self, from_logits=True, kind=NONE, name="label_loss", **kw):
        super().__init__(name=name, **kw)
        self.from_logits = bool(from_logits)
        self.kind = kind

    def call(self, y_true, y_pred):
        y_pred = ops.convert_to_tensor(y_pred)
        y_true = ops.convert_to_tensor(y_true)
        if is_binary(self.kind, output_width(y_pred)):
            y_true = _match_rank(ops.cast(y_true, y_pred.dtype), y_pred)
            return keras.losses.binary_crossentropy(
                y_true, y_pred, from_logits=self.from_logits
            )
        if _one_hot_like(y_true, y_pred):
            return keras.losses.categorical_crossentropy(
                ops.cast(y_true, y_pred.dtype),
                y_pred,
                from_logits=self.from_logits,
            )
        return keras.losses.sparse_categorical_crossentropy(
            _sparse(y_true, y_pred), y_pred, from_logits=self.from_logits
        )

    def get_config(self):
        config = super().get_config()
        config.update(from_logits=self.from_logits, kind=self.kind)
        return config


def _match_rank(y_true, y_pred):
    if len(y_true.shape) == len(y_pred.shape) - 1:
        return ops.expand_dims(y_true, -1)
    return y_true


def _sparse(y_true, y_pred):
    if len(y_true.shape) == len(y_pred.shape) and y_true.shape[-1] == 1:
        y_true = ops.squeeze(y_true, -1)
    return ops.cast(y_true, "int32")


def label_accuracy(y_true, y_pred, kind=NONE, from_logits=True):
    """Per-example accuracy that follows the head and the label format.

    Args:
        y_true: Integer, one-hot or (binary heads) 0/1 labels.
        y_pred: The model's output.
        kind: The head, `"softmax"`, `"sigmoid"` or `"none"`. Defaults to
            `"none"`.
        from_logits: Whether `y_pred` is logits (binary threshold 0 rather
            than 0.5). Defaults to `True`.

    Returns:
        A float tensor of 0/1 per example (per unit for multi-label heads).

    Example:

    ```python
    label_accuracy(y, model(x), kind="softmax", from_logits=False)
    ```
    """
    y_pred = ops.convert_to_tensor(y_pred)
    y_true = ops.convert_to_tensor(y_true)
    if is_binary(kind, output_width(y_pred)):
        threshold = 0.0 if from_logits else 0.5
        y_true = _match_rank(ops.cast(y_true, "float32"), y_pred)
        hit = ops.equal(y_pred > threshold, y_true > 0.5)
        return ops.cast(hit, "float32")
    if _one_hot_like(y_true, y_pred):
        y_true = ops.argmax(y_true, axis=-1)
    else:
        y_true = _sparse(y_true, y_pred)
    pred = ops.argmax(y_pred, axis=-1)
    return ops.cast(ops.equal(ops.cast(y_true, "int32"), pred), "float32")


@keras.saving.register_keras_serializable(package="tf_compact")
class LabelAccuracy(keras.metrics.MeanMetricWrapper):
    """Accuracy that follows the head and the label format (see `LabelLoss`).

    Args:
        kind: The head, `"softmax"`, `"sigmoid"` or `"none"`. Defaults to
            `"none"`.
        from_logits: Whether predictions are logits. Defaults to `True`.
        name: Metric name. Defaults to `"accuracy"`.
        dtype: Metric dtype. Defaults to `None`.

    Example:

    ```python
    model.compile("adam", LabelLoss(), metrics=[LabelAccuracy()])
    ```
    """

    def __init__(
        self, kind=NONE, from_logits=True, name="accuracy", dtype=None
    ):
        super().__init__(
            fn=label_accuracy,
            name=name,
            dtype=dtype,
            kind=kind,
            from_logits=from_logits,
        )
        self.kind = kind
        self.from_logits = bool(from_logits)

    def get_config(self):
        return {
            "name": self.name,
            "dtype": self.dtype,
            "kind": self.kind,
            "from_logits": self.from_logits,
        }


def label_loss(model, output=None):
    """Returns the `LabelLoss` that fits an output of `model`.

    Args:
        model: A classifier `keras.Model`.
        output: Index or name of the output. Defaults to `None` (the first).

    Returns:
        A `LabelLoss` with `from_logits` and `kind` read from the head.

    Example:

    ```python
    model.compile("adam", label_loss(model), metrics=[label_metric(model)])
    ```
    """
    kind = head_kind(model, output)
    return LabelLoss(from_logits=kind == NONE, kind=kind)


def label_metric(model, output=None):
    """Returns the `LabelAccuracy` (named `"accuracy"`) for `model`.

    Args:
        model: A classifier `keras.Model`.
        output: Index or name of the output. Defaults to `None` (the first).

    Returns:
        A `LabelAccuracy`.

    Example:

    ```python
    model.compile("adam", label_loss(model), metrics=[label_metric(model)])
    ```
    """
    kind = head_kind(model, output)
    return LabelAccuracy(kind=kind, from_logits=kind == NONE)
