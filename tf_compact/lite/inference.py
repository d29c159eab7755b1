"""Running a `.tflite` model on arrays: predictions and accuracy."""

import numpy as np

from tf_compact.internal import label_values
from tf_compact.lite.flatbuffer import load_model_content
from tf_compact.lite.input_range import warn_if_off_scale
from tf_compact.lite.interpreter_io import run_outputs
from tf_compact.lite.runtime import make_interpreter
from tf_compact.lite.scoring import check_labels
from tf_compact.lite.scoring import check_scorable
from tf_compact.lite.scoring import labels_of
from tf_compact.lite.scoring import output_shapes
from tf_compact.lite.scoring import scored_output


def run_interpreter(interpreter, x, batch_size=32):
    """Runs an allocated interpreter over `x` in batches.

    Args:
        interpreter: An interpreter from `make_interpreter`.
        x: Float inputs, batch first: an array for a single-input model; a
            dict from input name to array, or a list of arrays in the order
            of `model_io`, for several inputs.
        batch_size: Rows per invoke; the input is resized to it. A model
            with a fixed batch dimension, or one whose delegate cannot be
            prepared at a larger batch, is run one row at a time instead.
            Defaults to `32`.

    Returns:
        A float32 array of outputs, or for several outputs a list of arrays
        in model order (Keras order for a converted Keras model).

    Raises:
        ValueError: If `x` does not match the model's inputs (count, names,
            or any dimension but the batch), or holds no sample.

    Example:

    ```python
    interpreter, _ = tfc.lite.make_interpreter(tflite)
    y = tfc.lite.run_interpreter(interpreter, x_test)
    ```
    """
    outputs = list(run_outputs(interpreter, x, batch_size).values())
    return outputs[0] if len(outputs) == 1 else outputs


def predict(
    model_content,
    x,
    runtime="auto",
    num_threads=1,
    batch_size=32,
    delegate=None,
):
    """Runs a TFLite model over arrays or a dataset; returns float outputs.

    Integer inputs and outputs (int8/uint8 I/O) are quantized and
    dequantized with the model's own scales, so the result compares directly
    with the Keras model's `predict`.

    Args:
        model_content: The `.tflite` flatbuffer, as bytes.
        x: Float inputs, batch first: an array, or for several inputs a
            dict from input name to array or a list of arrays (see
            `run_interpreter`); or a `tf.data.Dataset` or iterator of such
            batches, alone or as `(x, y)`, whose outputs are concatenated.
        runtime: Interpreter runtime, see `make_interpreter`. Defaults to
            `"auto"`.
        num_threads: Interpreter threads. Defaults to `1`.
        batch_size: Rows per invoke. Defaults to `32`.
        delegate: `None`, or `"edgetpu"` to run a model compiled by
            `edgetpu_compiler` on a Coral Edge TPU (see
            `make_interpreter`). Defaults to `None`.

    Returns:
        A float32 array of outputs (a list of arrays in model order for
        several outputs).

    Raises:
        ValueError: If `x` does not match the model's inputs, or holds no
            sample.
        RuntimeUnavailableError: If no runtime can run the model, or the
            delegate asked for cannot be loaded.

    Example:

    ```python
    probs = tfc.lite.predict(tflite, x_test[:100])
    ```
    """
    x = _gathered_inputs(x)
    interpreter, _ = make_interpreter(
        model_content,
        runtime=runtime,
        num_threads=num_threads,
        delegate=delegate,
    )
    return run_interpreter(interpreter, x, batch_size=batch_size)


def _gathered_inputs(x):
    """The inputs of every batch of a dataset or iterator, concatenated;
    any other `x` as it is."""
    if hasattr(x, "as_numpy_iterator"):
        batches = x.as_numpy_iterator()
    elif hasattr(x, "__next__"):
        batches = x
    else:
        return x
    parts = []
    for batch in batches:
        if isinstance(batch, tuple) and 2 <= len(batch) <= 3:
            batch = batch[0]  # (x, y) or (x, y, sample_weight)
        parts.append(_features(batch))
    if not parts:
        raise ValueError(
            "Invalid value for argument `x`. Expected at least one batch of "
            f"inputs. Received: an empty {type(x).__name__}"
        )
    if isinstance(parts[0], dict):
        return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    if isinstance(parts[0], list):
        return [np.concatenate(group) for group in zip(*parts)]
    return np.concatenate(parts)


def _features(x):
    if isinstance(x, (list, tuple)):
        return [np.asarray(a) for a in x]
    if isinstance(x, dict):
        return {k: np.asarray(v) for k, v in x.items()}
    return np.asarray(x)


def _labels(y):
    if isinstance(y, dict):
        return {k: np.asarray(v) for k, v in y.items()}
    return np.asarray(y)


def _weights(w):
    return None if w is None else np.asarray(w, np.float32).reshape(-1)


def labeled_batches(dataset):
    """Yields `(x, y, sample_weight)` numpy batches, the weights `None`
    when the data has none; see `iterate_labeled`."""
    check_scorable(dataset)
    if isinstance(dataset, tuple) and len(dataset) in (2, 3):
        w = dataset[2] if len(dataset) == 3 else None
        yield _features(dataset[0]), _labels(dataset[1]), _weights(w)
        return
    for element in dataset.as_numpy_iterator():
        if not isinstance(element, tuple) or len(element) not in (2, 3):
            raise TypeError(
                "Invalid value for argument `dataset`. Expected batches "
                "of `(x, y)` pairs or `(x, y, sample_weight)` triples. "
                f"Received: an element of type {type(element).__name__}"
            )
        w = element[2] if len(element) == 3 else None
        yield _features(element[0]), _labels(element[1]), _weights(w)


def iterate_labeled(dataset):
    """Yields `(x, y)` numpy batches from a dataset or an `(x, y)` tuple.

    Args:
        dataset: A `tf.data.Dataset` of batched `(x, y)` pairs (or
            `(x, y, sample_weight)` triples, the weights left out here),
            or such a tuple of arrays. For several inputs, `x` is a list of
            arrays or a dict from input name to array.

    Yields:
        Pairs `(x, y)`: `x` an array (a list or dict of arrays for several
        inputs), `y` an array (a dict of arrays for dict labels).

    Raises:
        TypeError: If `dataset` is neither.

    Example:

    ```python
    for x, y in tfc.lite.iterate_labeled((x_test, y_test)):
        ...
    ```
    """
    for x, y, _ in labeled_batches(dataset):
        yield x, y


def _as_interpreter(model):
    """An interpreter from an interpreter, TFLite bytes (a
    `ConversionResult`) or a `.tflite` path."""
    if hasattr(model, "invoke") and hasattr(model, "get_input_details"):
        return model
    return make_interpreter(load_model_content(model))[0]


def accuracy_of(
    interpreter,
    dataset,
    batch_size=32,
    output=None,
    multi_label=None,
    from_logits=None,
):
    """Accuracy of a TFLite classifier over a labeled dataset.

    Labels of a single-label output are scored top-1 (the argmax); a
    one-unit output is a binary classifier; multi-hot labels are scored
    unit by unit, as Keras's `binary_accuracy` scores a sigmoid head. An
    output with one prediction per pixel or step is scored per position.
    Binary scores are thresholded at 0 for logits and 0.5 for
    probabilities; unless `from_logits` says which, outputs that all lie in
    [0, 1] are taken for probabilities. With sample weights, the accuracy is
    weighted as Keras weights its `weighted_metrics`: `sum(weight *
    correct) / sum(weight)`.

    Args:
        interpreter: An interpreter from `make_interpreter`, or the model
            to create one for: TFLite bytes (e.g. a `ConversionResult`) or
            the path of a `.tflite` file (run with `runtime="auto"`).
        dataset: A `tf.data.Dataset` of `(x, y)` or `(x, y,
            sample_weight)` batches, or such a tuple of arrays; labels are
            class indices, one-hot (or class-probability) rows or multi-hot
            0/1 rows (binary labels in [0, 1] for a one-unit output), per
            example or per position, or a dict from output name to such
            labels, read by the scored output's name; weights have one
            value per sample. For several inputs, `x` is a dict from input
            name to array or a list of arrays (see `run_interpreter`).
        batch_size: Rows per invoke. Defaults to `32`.
        output: The output to score: an index in model order or an output
            name, see `output_name`. Defaults to `None` (the output that
            dict labels name, else the first output in model order).
        multi_label: `True` to score every unit as a binary label (a
            sigmoid head, as Keras's `binary_accuracy`), `False` to score
            the argmax, `None` to decide by the labels (unit by unit when
            any row is multi-hot). Defaults to `None`.
        from_logits: For binary scores (a one-unit output, or unit by
            unit): `True` for logits, `False` for probabilities (a sigmoid
            head), `None` to tell by the outputs' range. Defaults to
            `None`.

    Returns:
        A float in [0, 1].

    Raises:
        ValueError: If the inputs do not match the model's inputs (any
            dimension but the batch), the labels do not fit the scored
            output (the message names it, its width, the labels' shape and
            the outputs to pick from with `output=`) or the samples, are
            not classification labels (e.g. regression targets), the
            weights are not one per sample or sum to zero, the dataset is
            not batched, repeats forever, or holds no sample.
        TypeError: For neither a `tf.data.Dataset` nor arrays.

    Example:

    ```python
    acc = tfc.lite.accuracy_of(tflite, (x_test, y_test))
    weighted = tfc.lite.accuracy_of(tflite, (x_test, y_test, w_test))
    pixels = tfc.lite.accuracy_of(unet_tflite, (images, masks))
    ```
    """
    check_scorable(dataset)
    interpreter = _as_interpreter(interpreter)
    name = scored_output(interpreter, dataset, output)
    shapes = output_shapes(interpreter)
    outs, labels, weights, formats = [], [], [], set()
    for x, y, w in labeled_batches(dataset):
        if not outs:
            warn_if_off_scale(interpreter, x)
        y = labels_of(y, name)
        formats.add(check_labels(name, shapes, y.shape, y))
        outputs = run_outputs(interpreter, x, batch_size, argument="dataset")
        out = outputs[name]
        w = _checked_weights(w, len(out))
        width = out.shape[-1]
        positions = int(np.prod(out.shape[1:-1], dtype=np.int64))
        outs.append(out.reshape(-1, width))
        labels.append(_label_rows(y, out.shape))
        weights.append(np.repeat(w, positions))
    if not outs or not sum(len(o) for o in outs):
        raise ValueError(
            "Invalid value for argument `dataset`. Expected labeled "
            "samples to measure accuracy on. Received: a dataset that "
            "holds no sample"
        )
    out, y, w = (np.concatenate(a) for a in (outs, labels, weights))
    if multi_label is None:
        multi_label = label_values.MULTI_HOT in formats
    hits, w = _hits(out, y, w, multi_label, from_logits)
    total = float(np.sum(w))
    if total <= 0:
        raise ValueError(
            "Invalid value for argument `dataset`. Expected sample weights "
            "with a positive sum. Received: weights summing to "
            f"{total:g}"
        )
    return float(np.sum(w * hits)) / total


def _label_rows(y, out_shape):
    """Labels as `(rows, width)` rows for a wide output, or `(rows, 1)`
    class indices (binary labels for a one-unit output), one row per
    example or position of an output of `out_shape`."""
    width = out_shape[-1]
    rows = int(np.prod(out_shape[:-1], dtype=np.int64))
    if tuple(y.shape) == tuple(out_shape) and width > 1:
        return y.reshape(rows, width).astype(np.float32)
    if y.size != rows or tuple(y.shape[: len(out_shape) - 1]) != tuple(
        out_shape[:-1]
    ):
        raise ValueError(
            "Invalid value for argument `dataset`. Expected one label per "
            f"sample (or per position) of the outputs of shape "
            f"{tuple(out_shape)}. Received: labels of shape {y.shape}"
        )
    return y.reshape(rows, 1).astype(np.float32)


def _hits(out, y, w, multi_label, from_logits=None):
    """Per-row (per-unit for multi-label scoring) hits and their weights."""
    width = out.shape[-1]
    if width == 1 or multi_label:
        if y.shape[-1] != width:  # class indices as one-hot rows
            y = np.eye(width, dtype=np.float32)[y[:, 0].astype(np.int64)]
        if from_logits is None:
            from_logits = not (out.min() >= 0.0 and out.max() <= 1.0)
        threshold = 0.0 if from_logits else 0.5
        hits = (out > threshold) == (y > 0.5)
        return hits.reshape(-1), np.repeat(w, width)
    truth = y.argmax(-1) if y.shape[-1] == width else y[:, 0]
    return out.argmax(-1) == truth.astype(np.int64), w


def _checked_weights(w, rows):
    """Per-sample weights of one batch: ones when none were given."""
    if w is None:
        return np.ones(rows, np.float32)
    if len(w) != rows:
        raise ValueError(
            "Invalid value for argument `dataset`. Expected one sample "
            f"weight per sample ({rows} samples). Received: {len(w)} "
            "weights"
        )
    return w
