"""What the trainers (Distiller, Sparsifier) add to Keras's `compile` and
`fit` arguments."""

import inspect

import keras

from tf_compact.internal import logits_loss


class TrainerCalls:
    """Mixin for a trainer of one model, placed before `keras.Model`.

    The trained model is the attribute named by `trained_model_attribute`
    (`"student"` for the Distiller, `"model"` for the Sparsifier).

    - `compile` resolves a string cross-entropy to its `from_logits=True`
      loss when the trained model outputs logits, with a warning
      (`logits_loss.resolve_loss`).
    - `fit` keeps its `validation_split` as `fit_validation_split`: the
      controllers of `tf_compact.callbacks` recalibrate BN on the data
      `fit` was given less the last `validation_split` of the rows, which
      Keras holds out for validation.

    Example:

    ```python
    class Distiller(TrainerCalls, keras.Model):
        trained_model_attribute = "student"
    ```
    """

    trained_model_attribute = "student"
    #: Functions `(trainer, arguments)` that edit the bound `compile`
    #: arguments in place before the loss is resolved.
    compile_hooks = ()

    def compile(self, *args, **kwargs):
        """`keras.Model.compile`, with the loss resolved for the head."""
        bound = inspect.signature(keras.Model.compile).bind(
            self, *args, **kwargs
        )
        for hook in type(self).compile_hooks:
            hook(self, bound.arguments)
        if "loss" in bound.arguments:
            bound.arguments["loss"] = logits_loss.resolve_loss(
                bound.arguments["loss"],
                getattr(self, self.trained_model_attribute),
                type(self).__name__,
            )
        return super().compile(*bound.args[1:], **bound.kwargs)

    def compile_from_config(self, config):
        """Compiles from a saved compile config, through `compile` (Keras
        would skip a model whose `compile` is its own)."""
        config = keras.saving.deserialize_keras_object(config)
        self.compile(**config)
        if getattr(self, "optimizer", None) is not None and self.built:
            self.optimizer.build(self.trainable_variables)

    def fit(self, *args, **kwargs):
        """`keras.Model.fit`, keeping `validation_split` first."""
        bound = inspect.signature(keras.Model.fit).bind(self, *args, **kwargs)
        split = bound.arguments.get("validation_split")
        self.fit_validation_split = float(split or 0.0)
        return super().fit(*args, **kwargs)
