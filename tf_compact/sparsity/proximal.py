"""The proximal step of a sparsity penalty, run inside a train step."""

import tensorflow as tf


def is_proximal(penalty):
    """Returns whether `penalty` asks for a proximal step after each update.

    Args:
        penalty: A sparsity penalty (such as `tfc.GroupLasso`) or `None`.

    Returns:
        `True` when the penalty has `proximal=True` and an
        `apply_proximal(learning_rate)` method.
    """
    return bool(getattr(penalty, "proximal", False)) and callable(
        getattr(penalty, "apply_proximal", None)
    )


def apply_proximal_step(penalty, learning_rate):
    """Applies `penalty.apply_proximal(learning_rate)` once per step.

    Call it in a traced train step right after
    `optimizer.apply_gradients`, as `tfc.Sparsifier` and `tfc.Distiller` do.
    Under a `tf.distribute` strategy with several replicas, the step runs
    once, in cross-replica context (the weights it shrinks are mirrored, so
    every replica sees the same result); on one device it runs directly.

    Args:
        penalty: A penalty for which `is_proximal(penalty)` is `True`,
            already bound to the model it regularizes.
        learning_rate: The optimizer's current learning rate (a variable,
            a tensor or a float).

    Returns:
        Whatever `penalty.apply_proximal` returns.

    Example:

    ```python
    def train_step(self, data):
        logs = super().train_step(data)
        if is_proximal(self.sparsity):
            apply_proximal_step(self.sparsity, self.optimizer.learning_rate)
        return logs
    ```
    """
    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync == 1:
        return penalty.apply_proximal(learning_rate)
    return context.merge_call(
        lambda _strategy: penalty.apply_proximal(learning_rate)
    )
