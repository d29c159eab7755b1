"""Recalibration of batch-normalization statistics after sparsification."""

from tf_compact.internal import batch_norm


def recalibrate_batch_norm(
    model, data, max_batches=None, batch_size=batch_norm.DEFAULT_BATCH_SIZE
):
    """Recomputes the moving statistics of every BN layer of `model`.

    Group lasso shrinks the conv kernels in front of BN layers, which BN
    makes scale-invariant, pruning removes their inputs, and a high BN
    momentum (0.999 in `keras.applications`) averages over thousands of
    steps: the moving mean and variance lag behind the weights, and the
    model does worse in inference mode than in training. This runs the
    model over the batches of `data` with every BN layer normalizing with,
    and recording, the statistics of its batch while every other layer
    runs in inference mode (no dropout, no augmentation); each moving mean
    and variance then becomes the statistics pooled over those batches.
    Weights and momenta are not changed, and the statistics are left as
    they were when an error is raised. Call it after sparse training or
    pruning, before evaluating or exporting.

    Args:
        model: A `keras.Model`. Its BN statistics are changed in place:
            every BN layer's, nested models, layers inside custom layers,
            synchronized and frozen (`trainable=False`) ones included.
            Clone the model first to keep the original.
        data: Inputs: an array or a dict of arrays (split into batches of
            `batch_size`), an `(x, y)` tuple of arrays, or an iterable of
            batches (e.g. a batched `tf.data.Dataset`), each an array, a
            dict of arrays or an `(x, y[, sample_weight])` tuple.
        max_batches: Use at most this many batches. Defaults to `None`
            (all).
        batch_size: Batch size for array data. Defaults to `64`.

    Returns:
        The number of batches used (`0` for a model without BN layers,
        whose `data` is not read).

    Raises:
        ValueError: If `data` holds no batch, its batches lack the batch
            axis, or `max_batches`/`batch_size` is not a positive int.
        TypeError: If `data` is neither arrays nor an iterable of batches.

    Example:

    ```python
    slim = tfc.prune(model, target_macs=0.5)
    tfc.sparsity.recalibrate_batch_norm(slim, x_train, max_batches=100)
    ```
    """
    return batch_norm.recalibrate(model, data, max_batches, batch_size).batches
