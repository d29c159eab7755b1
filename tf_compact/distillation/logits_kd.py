"""Hinton-style distillation of softened logits."""

import keras
from keras import ops

from tf_compact.distillation import kd_loss
from tf_compact.internal import empty_safe
from tf_compact.internal import heads


@keras.saving.register_keras_serializable(package="tf_compact")
class LogitsKD(kd_loss.KDLoss):
    """Knowledge distillation on logits, with the T² factor (Hinton et al.).

    The loss is `T² · KL(softmax(t / T) ‖ softmax(s / T))`, averaged over the
    batch, where `t` and `s` are the teacher's and student's logits. The
    `T²` factor keeps the gradient scale independent of the temperature, so
    the weight between this term and the student's own loss need not change
    when `T` does.

    In `tfc.Distiller` the logits are the tensors before the models' final
    softmax or sigmoid, whether it is the last layer's activation, an
    `Activation`/`Softmax` layer or a `keras.ops.softmax` node: a teacher
    and a student that end in a softmax give the same loss as the same
    weights without it.

    Binary and multi-label outputs (a sigmoid head, or a single logit) are
    distilled unit by unit with the Bernoulli KL at temperature `T`:
    `T² · Σ KL(σ(t / T) ‖ σ(s / T))`, summed over the units and averaged
    over the batch.

    With `standardize=True` each example's logits are first shifted to a
    zero mean and scaled to a unit standard deviation over the classes,
    the teacher's and the student's each by their own statistics (logit
    standardization, Sun et al., CVPR 2024, arXiv:2403.01427). The student
    then matches the shape of the teacher's logits rather than their scale,
    which a much smaller student may not reach; `T` applies to the
    standardized logits, so a smaller one (2) suits it. `tfc.compress`
    turns it on with `standardize_logits=True`. It needs softmax outputs
    (several classes, one label each).

    Args:
        temperature: Softening temperature `T`, a finite number > 0 (a
            Python or NumPy scalar). Defaults to `4.0`.
        standardize: Standardize every example's logits before the
            temperature. Defaults to `False`.
        name: Key of this term in the training logs. Defaults to `None`
            (`"logits_kd"`).

    Raises:
        ValueError: If `temperature` is not a finite number > 0 (NaN,
            `inf`, 0, negative, a bool or a string); in a Distiller, if
            `standardize=True` and the outputs are binary.
        TypeError: If `standardize` is not a bool.

    Example:

    ```python
    distiller = tfc.Distiller(
        teacher, student, distillation_losses=[tfc.LogitsKD(temperature=4.0)]
    )
    standardized = tfc.LogitsKD(temperature=2.0, standardize=True)
    ```
    """

    default_name = "logits_kd"

    def __init__(self, temperature=4.0, standardize=False, name=None):
        super().__init__(name=name)
        self.temperature = kd_loss.validate_positive(temperature, "temperature")
        self.standardize = kd_loss.validate_bool(standardize, "standardize")

    #: The Distiller passes `binary=` (whether the outputs are binary or
    #: multi-label heads) to `term_loss`.
    reads_head = True

    def validate_model_compatibility(self, teacher, student):
        """Refuses probability heads in `keras.distillation.Distiller`.

        Keras's Distiller hands this loss the models' final outputs; after a
        softmax or sigmoid they are probabilities, whose KD is far weaker
        than that of the logits. `tfc.Distiller` reads the logits from the
        graph instead and does not call this check.

        Raises:
            ValueError: If the teacher or the student ends in a softmax or
                sigmoid.
        """
        for role, model in (("teacher", teacher), ("student", student)):
            kind = heads.head_kind(model)
            if kind != heads.NONE:
                raise ValueError(
                    f"Invalid value for argument `{role}`. "
                    "keras.distillation.Distiller would give LogitsKD the "
                    f"{kind} probabilities of `{model.name}`, not its "
                    "logits. Expected models that output logits, or use "
                    "tfc.Distiller, which distills the tensor before the "
                    f"{kind}. Received: {role} ending in a {kind}"
                )

    def check_head(self, binary):
        """Refuses settings that do not fit binary outputs.

        Raises:
            ValueError: If `standardize=True` and `binary`.
        """
        if binary and self.standardize:
            raise ValueError(
                "Invalid value for argument `standardize`. Logit "
                "standardization needs softmax outputs with several classes; "
                "the distilled outputs are binary (a sigmoid head or a single "
                "logit). Received: standardize=True"
            )

    def term_loss(
        self,
        teacher_features,
        student_features,
        module=None,
        training=False,
        binary=None,
    ):
        """Returns the T²-scaled KL divergence, summed over output pairs.

        Args:
            teacher_features: Teacher logits, one tensor per pair.
            student_features: Student logits, one tensor per pair.
            module: Unused.
            training: Unused.
            binary: Whether the logits are those of sigmoid units (Bernoulli
                KL per unit). Defaults to `None`: binary when the last axis
                has width 1.

        Returns:
            A scalar tensor.
        """
        del module, training
        total = 0.0
        for t, s in zip(teacher_features, student_features):
            is_binary = binary
            if is_binary is None:
                is_binary = t.shape[-1] == 1
            if is_binary:
                self.check_head(True)
                total = total + self._binary_kl(t, s)
            else:
                total = total + self._kl(t, s)
        return total

    def _binary_kl(self, teacher_logits, student_logits):
        temp = self.temperature
        t = ops.cast(teacher_logits, "float32") / temp
        s = ops.cast(student_logits, "float32") / temp
        log_p_t, log_q_t = ops.log_sigmoid(t), ops.log_sigmoid(-t)
        log_p_s, log_q_s = ops.log_sigmoid(s), ops.log_sigmoid(-s)
        kl = ops.exp(log_p_t) * (log_p_t - log_p_s) + ops.exp(log_q_t) * (
            log_q_t - log_q_s
        )
        return empty_safe.mean(ops.sum(kl, axis=-1)) * (temp * temp)

    def _kl(self, teacher_logits, student_logits):
        temp = self.temperature
        t = ops.cast(teacher_logits, "float32")
        s = ops.cast(student_logits, "float32")
        if self.standardize:
            t, s = _standardized(t), _standardized(s)
        t, s = t / temp, s / temp
        log_p_t = ops.log_softmax(t, axis=-1)
        log_p_s = ops.log_softmax(s, axis=-1)
        kl = ops.sum(ops.exp(log_p_t) * (log_p_t - log_p_s), axis=-1)
        return empty_safe.mean(kl) * (temp * temp)

    def get_config(self):
        """Returns the constructor arguments as a JSON-able dict."""
        config = super().get_config()
        config["temperature"] = self.temperature
        config["standardize"] = self.standardize
        return config


def _standardized(logits):
    """Per-example zero-mean, unit-deviation logits (a constant row stays 0)."""
    centered = logits - ops.mean(logits, axis=-1, keepdims=True)
    variance = ops.mean(ops.square(centered), axis=-1, keepdims=True)
    return centered * ops.rsqrt(variance + 1e-6)
