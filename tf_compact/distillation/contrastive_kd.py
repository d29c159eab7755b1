"""Contrastive representation distillation (InfoNCE, optional memory bank)."""

import keras
import numpy as np
from keras import ops

from tf_compact.distillation import kd_loss
from tf_compact.internal import distribute
from tf_compact.internal import empty_safe


def _validate_layer(value, argument):
    if value is not None and not isinstance(value, str):
        raise ValueError(
            f"Invalid value for argument `{argument}`. Expected a layer name "
            f"or None. Received: {argument}={value!r}"
        )
    return value


def _validate_size(value, argument, minimum):
    ok = isinstance(value, (int, np.integer)) and not isinstance(
        value, (bool, np.bool_)
    )
    if not ok or value < minimum:
        raise ValueError(
            f"Invalid value for argument `{argument}`. Expected an int >= "
            f"{minimum}. Received: {argument}={value!r}"
        )
    return int(value)


def _flatten(x):
    x = ops.cast(x, "float32")
    if len(x.shape) == 4:
        return ops.mean(x, axis=(1, 2))
    if len(x.shape) > 2:
        return ops.reshape(x, (ops.shape(x)[0], -1))
    return x


def _normalize(x):
    return x / (ops.norm(x, axis=-1, keepdims=True) + 1e-8)


class ContrastiveHeads(keras.layers.Layer):
    """Projection heads and optional memory bank of a `ContrastiveKD` term.

    Args:
        teacher_shape: Teacher feature shape, batch axis included.
        student_shape: Student feature shape, batch axis included.
        embedding_dim: Width of the shared embedding space.
        memory_size: Number of past teacher embeddings kept as extra
            negatives (0 for none).
        **kwargs: Base `Layer` arguments such as `name`.
    """

    def __init__(
        self, teacher_shape, student_shape, embedding_dim, memory_size, **kw
    ):
        super().__init__(**kw)
        self.memory_size = memory_size
        self.teacher_head = keras.layers.Dense(embedding_dim, name="t_head")
        self.student_head = keras.layers.Dense(embedding_dim, name="s_head")
        self.teacher_head.build((None, _flat_width(teacher_shape)))
        self.student_head.build((None, _flat_width(student_shape)))
        self.bank = None
        if memory_size:
            init = keras.random.normal((memory_size, embedding_dim), seed=0)
            self.bank = self.add_weight(
                shape=(memory_size, embedding_dim),
                initializer=lambda shape, dtype: _normalize(init),
                trainable=False,
                name="memory_bank",
                aggregation="only_first_replica",
            )
            self.bank_pointer = self.add_weight(
                shape=(),
                initializer="zeros",
                dtype="int32",
                trainable=False,
                name="bank_pointer",
                aggregation="only_first_replica",
            )
        self.built = True

    def call(self, teacher_feature, student_feature):
        z_t = _normalize(self.teacher_head(_flatten(teacher_feature)))
        z_s = _normalize(self.student_head(_flatten(student_feature)))
        return z_t, z_s

    def enqueue(self, z_t):
        """Writes a batch of teacher embeddings into the FIFO memory bank."""
        n = ops.shape(z_t)[0]
        idx = (self.bank_pointer + ops.arange(n, dtype="int32")) % (
            self.memory_size
        )
        value = ops.stop_gradient(ops.cast(z_t, self.bank.dtype))
        self.bank.assign(
            ops.scatter_update(self.bank, ops.expand_dims(idx, -1), value)
        )
        self.bank_pointer.assign((self.bank_pointer + n) % self.memory_size)


def _flat_width(shape):
    if len(shape) == 4:
        return shape[-1]
    width = 1
    for d in shape[1:]:
        width *= d
    return width


@keras.saving.register_keras_serializable(package="tf_compact")
class ContrastiveKD(kd_loss.KDLoss):
    """InfoNCE between teacher and student embeddings of the same samples.

    Teacher and student features (global-average-pooled when 4D) go through
    two trainable projection heads, owned by the Distiller, into a shared
    L2-normalized space. For every sample the student's embedding must pick
    the teacher's embedding of the same sample out of the teacher embeddings
    of the other samples in the batch (in-batch negatives) and, when
    `memory_size > 0`, of a FIFO memory bank of teacher embeddings from
    earlier steps (more negatives, as in CRD, Tian et al. 2020). The bank is
    a first-in first-out queue rather than CRD's per-sample index, so the
    data pipeline needs no sample ids. With in-batch negatives the value
    depends on the batch size: `evaluate` with another batch size than
    `fit`'s validation reports another `contrastive_kd`.

    Under a `tf.distribute` strategy with several replicas, the teacher
    embeddings of the whole global batch are gathered from every replica:
    each sample meets the same negatives, and the bank receives the same
    embeddings, as on one device. Keep `memory_size` a multiple of the
    global batch size so that whole batches leave the bank.

    Args:
        teacher_layer: Teacher layer giving the embedding, or `None` for the
            teacher's final output. Defaults to `None`.
        student_layer: Student layer giving the embedding, or `None` for the
            student's final output. Defaults to `None`.
        embedding_dim: Width of the shared embedding space, >= 1. Defaults to
            `128`.
        temperature: InfoNCE temperature, > 0. Defaults to `0.1`.
        memory_size: Number of past teacher embeddings kept as negatives,
            >= 0 (0 uses in-batch negatives only). Defaults to `0`.
        name: Key of this term in the training logs. Defaults to `None`
            (`"contrastive_kd"`).

    Raises:
        ValueError: If an argument is out of range; at Distiller
            construction, if a layer name is unknown.
        TypeError: At Distiller construction, if a layer name is given for a
            subclassed model.

    Example:

    ```python
    crd = tfc.ContrastiveKD(
        teacher_layer="gap", student_layer="gap", memory_size=4096
    )
    distiller = tfc.Distiller(teacher, student, [tfc.LogitsKD(), crd])
    ```
    """

    needs_module = True
    default_name = "contrastive_kd"

    def __init__(
        self,
        teacher_layer=None,
        student_layer=None,
        embedding_dim=128,
        temperature=0.1,
        memory_size=0,
        name=None,
    ):
        super().__init__(name=name)
        self.teacher_layer = _validate_layer(teacher_layer, "teacher_layer")
        self.student_layer = _validate_layer(student_layer, "student_layer")
        self.embedding_dim = _validate_size(embedding_dim, "embedding_dim", 1)
        self.temperature = kd_loss.validate_positive(temperature, "temperature")
        self.memory_size = _validate_size(memory_size, "memory_size", 0)

    def resolve_pairs(self, teacher, student):
        """Returns the one `(teacher_layer, student_layer)` pair."""
        del teacher, student
        return [(self.teacher_layer, self.student_layer)]

    def build_module(self, teacher_shapes, student_shapes):
        """Returns the built projection heads (and memory bank)."""
        return ContrastiveHeads(
            teacher_shapes[0],
            student_shapes[0],
            self.embedding_dim,
            self.memory_size,
            name=f"{self.term_name}_heads",
        )

    def term_loss(
        self, teacher_features, student_features, module=None, training=False
    ):
        """Returns the InfoNCE loss; updates the memory bank when training."""
        if module is None:
            raise ValueError(
                "ContrastiveKD needs its projection heads: use it through "
                "tf_compact.Distiller, which owns them."
            )
        z_t, z_s = module(teacher_features[0], student_features[0])
        # Negatives: the teacher embeddings of the global batch, gathered
        # in replica order (the batch itself on one device).
        z_all = distribute.gather_replicas(z_t)
        logits = ops.matmul(z_s, ops.transpose(z_all))
        if module.bank is not None:
            bank = ops.stop_gradient(ops.convert_to_tensor(module.bank))
            logits = ops.concatenate(
                [logits, ops.matmul(z_s, ops.transpose(bank))], axis=-1
            )
        logits = logits / self.temperature
        positives = ops.sum(z_s * z_t, axis=-1) / self.temperature
        loss = empty_safe.mean(ops.logsumexp(logits, axis=-1) - positives)
        if training and module.bank is not None:
            module.enqueue(z_all)
        return loss

    def get_config(self):
        """Returns the constructor arguments as a JSON-able dict."""
        config = super().get_config()
        config.update(
            teacher_layer=self.teacher_layer,
            student_layer=self.student_layer,
            embedding_dim=self.embedding_dim,
            temperature=self.temperature,
            memory_size=self.memory_size,
        )
        return config
