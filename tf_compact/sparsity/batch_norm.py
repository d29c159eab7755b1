"""Recalibration of batch-normalization statistics after sparsification."""

import keras


def recalibrate_batch_norm(model, data, max_batches=None):
    """Recomputes the moving statistics of every BN layer of `model`.

    Group lasso shrinks the conv kernels in front of BN layers, which BN
    makes scale-invariant, so during training the moving mean and variance
    lag behind and the model does worse in inference mode than in training.
    This runs `model(x, training=True)` over the batches of `data` with each
    BN momentum set so that the moving statistics become the plain average
    of the batch statistics, then restores the momenta. Weights are not
    trained. Call it after sparse training or pruning, before evaluating or
    exporting.

    Args:
        model: A `keras.Model` (nested models are searched too). Its BN
            statistics are changed in place.
        data: An array of inputs (used as one batch), or an iterable of
            batches: arrays or `(x, y)` tuples (e.g. a `tf.data.Dataset`).
        max_batches: Use at most this many batches. Defaults to `None`
            (all).

    Returns:
        The number of batches used.

    Raises:
        ValueError: If `data` holds no batch.

    Example:

    ```python
    tfc.sparsity.recalibrate_batch_norm(slim, x_train[:2048])
    ```
    """
    norms = _batch_norms(model)
    momenta = [layer.momentum for layer in norms]
    batches = [data] if hasattr(data, "shape") else data
    count = 0
    try:
        for batch in batches:
            if max_batches is not None and count >= max_batches:
                break
            x = batch[0] if isinstance(batch, (tuple, list)) else batch
            count += 1
            for layer in norms:
                layer.momentum = (count - 1) / count
            model(x, training=True)
    finally:
        for layer, momentum in zip(norms, momenta):
            layer.momentum = momentum
    if count == 0:
        raise ValueError(
            "recalibrate_batch_norm needs at least one batch of inputs. "
            f"Received: data={type(data).__name__} with no batch"
        )
    return count


def _batch_norms(model):
    found = []
    for layer in getattr(model, "layers", ()):
        if isinstance(layer, keras.layers.BatchNormalization):
            found.append(layer)
        elif isinstance(layer, keras.Model):
            found.extend(_batch_norms(layer))
    return found
