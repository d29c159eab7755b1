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

    Args:
        temperature: Softening temperature `T`, a number > 0. Defaults to
            `4.0`.
        name: Key of this term in the training logs. Defaults to `None`
            (`"logits_kd"`).

    Raises:
        ValueError: If `temperature` is not a number > 0.

    Example:

    ```python
    distiller = tfc.Distiller(
        teacher, student, distillation_losses=[tfc.LogitsKD(temperature=4.0)]
    )
    ```
    """

    default_name = "logits_kd"

    def __init__(self, temperature=4.0, name=None):
        super().__init__(name=name)
        self.temperature = kd_loss.validate_positive(temperature, "temperature")

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
        t = ops.cast(teacher_logits, "float32") / temp
        s = ops.cast(student_logits, "float32") / temp
        log_p_t = ops.log_softmax(t, axis=-1)
        log_p_s = ops.log_softmax(s, axis=-1)
        kl = ops.sum(ops.exp(log_p_t) * (log_p_t - log_p_s), axis=-1)
        return ops.mean(kl) * (temp * temp)

    def get_config(self):
        """Returns the constructor arguments as a JSON-able dict."""
        config = super().get_config()
        config["temperature"] = self.temperature
        return config
