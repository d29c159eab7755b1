"""Hinton-style distillation of softened logits."""

import keras
from keras import ops

from tf_compact.distillation import kd_loss


@keras.saving.register_keras_serializable(package="tf_compact")
class LogitsKD(kd_loss.KDLoss):
    """Knowledge distillation on logits, with the T² factor (Hinton et al.).

    The loss is `T² · KL(softmax(t / T) ‖ softmax(s / T))`, averaged over the
    batch, where `t` and `s` are the teacher's and student's logits. The
    `T²` factor keeps the gradient scale independent of the temperature, so
    the weight between this term and the student's own loss need not change
    when `T` does.

    With `standardize=True` each example's logits are first shifted to a
    zero mean and scaled to a unit standard deviation over the classes,
    the teacher's and the student's each by their own statistics (logit
    standardization, Sun et al., CVPR 2024, arXiv:2403.01427). The student
    then matches the shape of the teacher's logits rather than their scale,
    which a much smaller student may not reach; `T` applies to the
    standardized logits, so a smaller one (2) suits it. `tfc.compress`
    turns it on with `standardize_logits=True`.

    Args:
        temperature: Softening temperature `T`, a number > 0. Defaults to
            `4.0`.
        standardize: Standardize every example's logits before the
            temperature. Defaults to `False`.
        name: Key of this term in the training logs. Defaults to `None`
            (`"logits_kd"`).

    Raises:
        ValueError: If `temperature` is not a number > 0.
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

    def term_loss(
        self, teacher_features, student_features, module=None, training=False
    ):
        """Returns the T²-scaled KL divergence, summed over output pairs."""
        del module, training
        total = 0.0
        for t, s in zip(teacher_features, student_features):
            total = total + self._kl(t, s)
        return total

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
        return ops.mean(kl) * (temp * temp)

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
