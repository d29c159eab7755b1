"""The training loop of quantization-aware training, with distillation.

The student is a fake-quantized `tf_keras` model from tfmot; the teacher,
when given, is the float Keras 3 model. Both run in one `tf.function` on
the TensorFlow backend.
"""

import numpy as np

from tf_compact.internal import heads
from tf_compact.internal.head_ops import probabilities_to_logits
from tf_compact.internal.keras_compat import call_outputs
from tf_compact.internal.validation import validate_positive


def as_dataset(data, batch_size, shuffle=False):
    """Returns a batched `tf.data.Dataset` of `(x, y)` from data.

    Args:
        data: A `tf.data.Dataset` of `(x, y)` batches (returned as is) or a
            tuple `(x, y)` of arrays.
        batch_size: Batch size for arrays.
        shuffle: Whether to shuffle arrays each epoch. Defaults to `False`.

    Returns:
        A `tf.data.Dataset`.

    Raises:
        TypeError: If `data` is neither.

    Example:

    ```python
    ds = as_dataset((x_train, y_train), 32, shuffle=True)
    ```
    """
    import tensorflow as tf

    if isinstance(data, tf.data.Dataset):
        return data
    if isinstance(data, tuple) and len(data) == 2:
        x = np.asarray(data[0], np.float32)
        y = np.asarray(data[1])
        ds = tf.data.Dataset.from_tensor_slices((x, y))
        if shuffle:
            ds = ds.shuffle(min(len(x), 10000), seed=0)
        return ds.batch(batch_size)
    raise TypeError(
        "Invalid type for training data. Expected a `tf.data.Dataset` of "
        "`(x, y)` batches or a tuple `(x, y)` of arrays. "
        f"Received: type={type(data).__name__}"
    )


def infer_from_logits(model, from_logits):
    """Returns `from_logits`, or infers it from a final softmax or sigmoid.

    Args:
        model: The Keras 3 model.
        from_logits: `True`, `False` or `None` (infer).

    Returns:
        `False` if the output ends in a softmax or sigmoid (see
        `tf_compact.internal.heads`), else `True`, unless `from_logits` was
        given.

    Example:

    ```python
    infer_from_logits(model, None)
    ```
    """
    if from_logits is not None:
        return bool(from_logits)
    return not heads.outputs_probabilities(model)


def _student_layer(student, name):
    for candidate in ("quant_" + name, name):
        try:
            return student.get_layer(candidate)
        except ValueError:
            continue
    return None


def _auto_feature(teacher, student):
    # The last 4-D feature map both models have by name and shape; a
    # pruned student's narrower maps are left to the logits.
    for layer in reversed(teacher.layers[:-1]):
        shape = tuple(getattr(layer.output, "shape", ()))
        found = _student_layer(student, layer.name) if len(shape) == 4 else None
        if found is not None:
            s_shape = tuple(found.output.shape.as_list())
            if s_shape[1:] == shape[1:]:
                return [layer.name]
    return []


def match_features(teacher, student, feature_layers):
    """Returns layer names distilled as features, checked in both models.

    Args:
        teacher: Keras 3 teacher.
        student: Quantized `tf_keras` student.
        feature_layers: List of names, `"auto"` or `None`.

    Returns:
        A list of layer names (empty for `None`).

    Raises:
        ValueError: If a name is missing or shapes differ.

    Example:

    ```python
    names = match_features(model, qat_model, "auto")
    ```
    """
    if feature_layers is None:
        return []
    if feature_layers == "auto":
        return _auto_feature(teacher, student)
    names = list(feature_layers)
    for name in names:
        layer = _student_layer(student, name)
        try:
            t_shape = tuple(teacher.get_layer(name).output.shape)
        except ValueError:
            layer = None
        if layer is None:
            raise ValueError(
                "Invalid value for argument `feature_layers`. Every name "
                "must be a layer of both teacher and student. "
                f"Received: {name!r}"
            )
        s_shape = tuple(layer.output.shape.as_list())
        if t_shape[1:] != s_shape[1:]:
            raise ValueError(
                f"Feature layer {name!r} has shape {t_shape} in the teacher "
                f"but {s_shape} in the student."
            )
    return names


class QatTrainer:
    """Fine-tunes a fake-quantized `tf_keras` model, optionally with KD.

    Args:
        student: Quantized `tf_keras` model (from `quantize_model`).
        teacher: Float Keras 3 model, or `None`. Defaults to `None`.
        learning_rate: Adam learning rate. Defaults to `1e-4`.
        temperature: KD temperature. Defaults to `4.0`.
        alpha: KD weight; cross-entropy gets `1 - alpha`. Defaults to
            `0.5`.
        feature_layers: See `match_features`. Defaults to `None`.
        feature_weight: Weight of the feature MSE. Defaults to `1.0`.
        from_logits: Whether the student outputs logits; when `False` its
            probabilities are mapped back to logits (`log p` for a softmax,
            which leaves the softmax losses unchanged). Defaults to `True`.
        head: The student's head, `"softmax"`, `"sigmoid"` or `"none"`;
            `None` means `"none"` with `from_logits`, else `"softmax"`. A
            sigmoid head, or a single logit, is trained with binary
            cross-entropy and a Bernoulli KD per unit. The teacher is
            always distilled from the tensor before its own softmax or
            sigmoid. Defaults to `None`.

    Example:

    ```python
    trainer = QatTrainer(qat_model, teacher=model)
    history = trainer.fit(dataset, epochs=1)
    ```
    """

    def __init__(
        self,
        student,
        teacher=None,
        learning_rate=1e-4,
        temperature=4.0,
        alpha=0.5,
        feature_layers=None,
        feature_weight=1.0,
        from_logits=True,
        head=None,
    ):
        import tf_keras

        self.student = student
        self.teacher = teacher
        self.temperature = validate_positive("temperature", temperature)
        self.alpha = float(alpha) if teacher is not None else 0.0
        self.feature_weight = float(feature_weight)
        self.from_logits = from_logits
        if head is None:
            head = heads.NONE if from_logits else heads.SOFTMAX
        self.head = head
        width = student.outputs[0].shape[-1]
        self.binary = heads.is_binary(head, width)
        self.feature_names = (
            match_features(teacher, student, feature_layers)
            if teacher is not None
            else []
        )
        self._student_net = tf_keras.Model(
            student.inputs,
            student.outputs[:1]
            + [_student_layer(student, n).output for n in self.feature_names],
        )
        self._teacher_net = None
        if teacher is not None:
            self._teacher_net = _teacher_net(teacher, self.feature_names)
        self.optimizer = tf_keras.optimizers.Adam(learning_rate)
        self._step = None

    def _logits(self, out):
        if self.from_logits:
            return out
        kind = heads.SIGMOID if self.binary else heads.SOFTMAX
        return probabilities_to_logits(out, kind)

    def _loss(self, x, y):
        import tensorflow as tf

        outs = self._student_net(x, training=True)
        outs = outs if isinstance(outs, list) else [outs]
        logits = self._logits(outs[0])
        loss = (1.0 - self.alpha) * _cross_entropy(y, logits, self.binary)
        if self._teacher_net is None:
            return loss
        t_outs = self._teacher_net(x, training=False)
        t_outs = t_outs if isinstance(t_outs, list) else [t_outs]
        t_logits = tf.convert_to_tensor(t_outs[0])
        kd = _binary_kd if self.binary else _kd
        loss += self.alpha * kd(t_logits, logits, self.temperature)
        for s_feat, t_feat in zip(outs[1:], t_outs[1:]):
            diff = s_feat - tf.convert_to_tensor(t_feat)
            loss += self.feature_weight * tf.reduce_mean(tf.square(diff))
        return loss

    def _train_step(self, x, y):
        import tensorflow as tf

        variables = self.student.trainable_variables
        with tf.GradientTape() as tape:
            loss = self._loss(x, y)
        grads = tape.gradient(loss, variables)
        self.optimizer.apply_gradients(zip(grads, variables))
        return loss

    def fit(self, dataset, epochs, validation=None, steps=None, verbose=0):
        """Trains; returns `{"loss": [...], "val_accuracy": [...]}`."""
        import tensorflow as tf

        if self._step is None:
            self._step = tf.function(self._train_step)
        history = {"loss": []}
        if validation is not None:
            history["val_accuracy"] = []
        for epoch in range(epochs):
            data = dataset.take(steps) if steps else dataset
            losses = [float(self._step(x, y)) for x, y in data]
            history["loss"].append(float(np.mean(losses)))
            if validation is not None:
                history["val_accuracy"].append(self.evaluate(validation))
            if verbose:
                stats = {k: round(v[-1], 4) for k, v in history.items()}
                print(f"QAT epoch {epoch + 1}/{epochs}: {stats}")
        return history

    def evaluate(self, dataset):
        """Top-1 accuracy of the fake-quantized student on `dataset`."""
        correct = total = 0
        for x, y in dataset.as_numpy_iterator():
            pred = np.asarray(self.student(x, training=False)).argmax(-1)
            labels = y.argmax(-1) if y.ndim == 2 and y.shape[-1] > 1 else y
            correct += int(np.sum(pred == labels.reshape(-1)))
            total += len(pred)
        return correct / max(total, 1)


def _teacher_net(teacher, names):
    """The teacher's logits (before its softmax/sigmoid) and features."""
    import keras

    if not heads.is_functional(teacher):
        return heads.logits_view(teacher)
    outputs = [heads.logits_tensor(teacher, 0)]
    for name in names:
        # The call in the teacher's graph: a nested model's `.output` is
        # a tensor of its own inner graph.
        calls = call_outputs(teacher, teacher.get_layer(name))
        if len(calls) != 1:
            raise ValueError(
                f"Feature layer {name!r} is called {len(calls)} times in the "
                "teacher. Expected a layer called once."
            )
        outputs.append(calls[0])
    return keras.Model(teacher.inputs, outputs)


def _cross_entropy(y, logits, binary=False):
    import tensorflow as tf

    if binary:
        labels = tf.cast(y, logits.dtype)
        if labels.shape.rank == logits.shape.rank - 1:
            labels = labels[..., None]
        return tf.reduce_mean(
            tf.nn.sigmoid_cross_entropy_with_logits(
                tf.reshape(labels, tf.shape(logits)), logits
            )
        )

    if y.shape.rank == logits.shape.rank and y.shape[-1] != 1:
        return tf.reduce_mean(
            tf.nn.softmax_cross_entropy_with_logits(
                tf.cast(y, logits.dtype), logits
            )
        )
    labels = tf.cast(tf.reshape(y, [-1]), tf.int32)
    return tf.reduce_mean(
        tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits)
    )


def _kd(teacher_logits, student_logits, temperature):
    import tensorflow as tf

    t = tf.nn.softmax(teacher_logits / temperature)
    log_t = tf.nn.log_softmax(teacher_logits / temperature)
    log_s = tf.nn.log_softmax(student_logits / temperature)
    kl = tf.reduce_sum(t * (log_t - log_s), axis=-1)
    return temperature**2 * tf.reduce_mean(kl)


def _binary_kd(teacher_logits, student_logits, temperature):
    """Bernoulli KL per unit at temperature `T`, summed over units, × T²."""
    import tensorflow as tf

    t = tf.cast(teacher_logits, tf.float32) / temperature
    s = tf.cast(student_logits, tf.float32) / temperature
    log_p_t, log_q_t = tf.math.log_sigmoid(t), tf.math.log_sigmoid(-t)
    log_p_s, log_q_s = tf.math.log_sigmoid(s), tf.math.log_sigmoid(-s)
    kl = tf.exp(log_p_t) * (log_p_t - log_p_s) + tf.exp(log_q_t) * (
        log_q_t - log_q_s
    )
    return temperature**2 * tf.reduce_mean(tf.reduce_sum(kl, axis=-1))
