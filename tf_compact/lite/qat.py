"""Quantization-aware training through tfmot, with optional distillation.

tensorflow-model-optimization (tfmot) only quantizes `tf_keras` models, so
the Keras 3 model is cloned into `tf_keras` first (`to_tf_keras`), wrapped
with `tfmot.quantization.keras.quantize_model`, fine-tuned with fake
quantization, and converted to full int8.

Importing tfmot sets `TF_USE_LEGACY_KERAS=1` in the environment, which
makes `tf.keras` resolve to `tf_keras` for the rest of the process. The
import here restores the variable to its previous value afterwards; `import
keras` (Keras 3) is unaffected either way, and tf_compact never uses
`tf.keras`. If your own code reads `tf.keras` after a QAT call, it may get
`tf_keras`: use `import keras`.
"""

import numpy as np

from tf_compact.internal import batch_norm
from tf_compact.internal import heads
from tf_compact.internal import keras_compat
from tf_compact.internal.validation import validate_positive
from tf_compact.lite import distill_qat
from tf_compact.lite import qat_augmentation
from tf_compact.lite.bridge import to_tf_keras
from tf_compact.lite.converter import convert
from tf_compact.lite.precision import float32_model
from tf_compact.lite.qat_annotate import import_tfmot
from tf_compact.lite.qat_annotate import quantize_with_fallback


def quantize_model(model):
    """Returns a `tf_keras` clone of `model` wrapped for QAT by tfmot.

    Train the returned model with `tf_keras` (`compile`/`fit`), then convert
    it with `tfc.lite.convert(qat_model, mode="qat")`. The input model is
    not modified. tfmot is imported here, lazily; after that `tf.keras` may
    resolve to `tf_keras` in this process (`import keras` is unaffected, and
    `TF_USE_LEGACY_KERAS` is restored), see the module docstring.

    Args:
        model: A built Keras 3 Functional or Sequential model.

    Layers outside tfmot's default 8-bit registry (e.g. `Rescaling`,
    `Normalization`, or a `BatchNormalization` that tfmot cannot fold into
    a preceding linear convolution, as after `Conv2D(activation="relu")`)
    get an output-only quantization config instead of an error, so that
    they still run in int8 after conversion (give `convert` some
    `representative_data` to calibrate them). A `BatchNormalization`
    right after a `Dense` without activation is folded into that `Dense`
    first (moving statistics, frozen from then on): tfmot's per-tensor
    `Dense` kernel cannot take the BN's per-unit scale after training.

    Returns:
        A `tf_keras.Model` with fake-quantization wrappers (layer names
        prefixed `quant_`).

    Raises:
        BridgeError: If the model cannot be cloned into `tf_keras`.
        ImportError: If tfmot is not installed.
        ValueError: If tfmot rejects a layer (its message names it).

    Example:

    ```python
    qat_model = tfc.lite.quantize_model(model)
    qat_model.compile("adam", "sparse_categorical_crossentropy")
    qat_model.fit(x_train, y_train, epochs=1)
    tflite = tfc.lite.convert(qat_model, mode="qat")
    ```
    """
    model, _ = float32_model(model)
    clone = to_tf_keras(model, fold_dense_batch_norms=True)
    tfmot = import_tfmot()
    return quantize_with_fallback(clone, tfmot)


#: Training batches each BN recalibration of `qat` runs (forward only).
RECALIBRATION_BATCHES = 100
#: `output_change` (on two training batches) above which a float model's
#: BN statistics count as stale and, with `recalibrate="auto"`, a copy of
#: it is recalibrated before QAT.
STALE_OUTPUT_CHANGE = 0.2


def _validate_epochs(epochs):
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 0:
        raise ValueError(
            "Invalid value for argument `epochs`. Expected an int >= 0. "
            f"Received: epochs={epochs!r}"
        )


def _calibration_inputs(dataset, rows=64):
    xs, count = [], 0
    for x, _ in dataset.as_numpy_iterator():
        xs.append(x)
        count += len(x)
        if count >= rows:
            break
    return np.concatenate(xs)[:rows]


def qat(
    model,
    train_data,
    epochs=1,
    teacher=None,
    validation_data=None,
    batch_size=32,
    learning_rate=1e-4,
    temperature=4.0,
    alpha=0.5,
    feature_layers="auto",
    feature_weight=1.0,
    from_logits=None,
    steps_per_epoch=None,
    inference_io="int8",
    output_path=None,
    verify=True,
    verbose=0,
    recalibrate="auto",
):
    """Quantization-aware training of a Keras 3 model, then int8 TFLite.

    Clones `model` into `tf_keras`, wraps it with tfmot's fake
    quantization, fine-tunes it on `train_data` and converts it to full
    int8. Random augmentation layers that pass their input through at
    inference (`RandomFlip`, ...) take part in the training and are left
    out of the exported model, as in PTQ (see `qat_augmentation`). With a
    `teacher` (typically the float `model` itself), the quantized model is
    distilled from it: logits KD with temperature, plus an MSE on feature
    maps of layers whose names match in both models.

    BN statistics are made to match the weights on both sides of the
    training. A float model (or teacher) whose moving statistics lag
    (`tf_compact.internal.batch_norm.output_change` above
    `STALE_OUTPUT_CHANGE`, e.g. a `keras.applications` model trained at
    BN momentum 0.999) is replaced by a copy recalibrated on
    `RECALIBRATION_BATCHES` training batches before it is quantized: the
    fake-quantization ranges are then learned on activations that
    inference will reproduce. After the training, the fake-quantized
    model's BN statistics, which moved only by their momentum, are
    recalibrated the same way before conversion. `model` and `teacher`
    are never changed. What was done is in `result.bn_recalibration` and
    `result.notes`.

    Args:
        model: A built Keras 3 Functional or Sequential classifier.
        train_data: A `tf.data.Dataset` of `(x, y)` batches, or a tuple
            `(x, y)` of arrays (batched with `batch_size`). Labels are
            class indices or one-hot.
        epochs: Fine-tuning epochs. Defaults to `1`.
        teacher: A float Keras 3 model that teaches the quantized one, or
            `None` for plain QAT. Defaults to `None`.
        validation_data: Like `train_data`; accuracy of the fake-quantized
            model is logged per epoch. Defaults to `None`.
        batch_size: Batch size when `train_data` is a tuple. Defaults to
            `32`.
        learning_rate: Adam learning rate. Defaults to `1e-4`.
        temperature: Distillation temperature. Defaults to `4.0`.
        alpha: Weight of the KD term; cross-entropy gets `1 - alpha`.
            Defaults to `0.5`.
        feature_layers: Names of layers whose outputs are matched, `"auto"`
            (the last 4-D feature map with the same name and shape in
            both models; none when a pruned student has none) or
            `None` (logits only). Defaults to `"auto"`.
        feature_weight: Weight of the feature MSE. Defaults to `1.0`.
        from_logits: Whether the model outputs logits; `None` infers it
            from a final softmax or sigmoid. Either way the teacher is
            distilled from the tensor before its softmax/sigmoid, and a
            sigmoid (or single-unit) head gets binary cross-entropy and a
            Bernoulli KD. Defaults to `None`.
        steps_per_epoch: Batches per epoch, or `None` for the whole
            dataset. Defaults to `None`.
        inference_io: `"int8"`, `"uint8"` or `"float32"` model I/O.
            Defaults to `"int8"`.
        output_path: File to write the model to, or `None`. Defaults to
            `None`.
        verify: Whether to compare TFLite with the fake-quantized model.
            Defaults to `True`.
        verbose: `1` prints one line per epoch. Defaults to `0`.
        recalibrate: `"auto"` recalibrates a copy of a float model or
            teacher whose BN statistics are stale, and the QAT model after
            training; `True` recalibrates all of them whatever their
            state; `False` none. Defaults to `"auto"`.

    Returns:
        A `ConversionResult` (`mode="qat"`) whose `.history` holds per-epoch
        `loss` (and `val_accuracy` with validation data), and whose
        `.bn_recalibration` says, per step (`"model"`, `"teacher"`,
        `"qat_model"`), whether the BN statistics were recalibrated, on
        how many batches, in how many seconds, and the measured
        `output_change` of the float models; `None` for a model without
        BN layers.

    Raises:
        BridgeError: If the model cannot be cloned into `tf_keras`.
        ValueError: If an argument is invalid, a model has several outputs,
            a feature layer is missing or differs in the two models, or a
            random layer changes its input at inference (see
            `tf_compact.lite.qat_augmentation`).
        QuantizationError: If some ops stay in float after conversion.

    Example:

    ```python
    int8 = tfc.lite.qat(model, (x_train, y_train), epochs=2, teacher=model,
                        validation_data=(x_test, y_test))
    print(int8.history["val_accuracy"], len(int8))
    ```
    """
    _validate_epochs(epochs)
    for argument, net in (("model", model), ("teacher", teacher)):
        heads.require_single_output(net, argument, "tfc.lite.qat")
    validate_positive("temperature", temperature)
    recalibrate = _validate_recalibrate(recalibrate)
    augmentation = qat_augmentation.augmentation_layers(model)
    model, teacher, precision_note = _float32_models(model, teacher)
    dataset = distill_qat.as_dataset(train_data, batch_size, shuffle=True)
    val = None
    if validation_data is not None:
        val = distill_qat.as_dataset(validation_data, batch_size)
    done = {}
    float_model, done["model"] = _in_sync(model, dataset, recalibrate)
    if teacher is model:
        teacher = float_model
        done["teacher"] = done["model"]
    elif teacher is not None:
        teacher, done["teacher"] = _in_sync(teacher, dataset, recalibrate)
    student = quantize_model(float_model)
    trainer = distill_qat.QatTrainer(
        student,
        teacher=teacher,
        learning_rate=learning_rate,
        temperature=temperature,
        alpha=alpha,
        feature_layers=feature_layers if teacher is not None else None,
        feature_weight=feature_weight,
        from_logits=distill_qat.infer_from_logits(model, from_logits),
        head=heads.head_kind(model),
    )
    history = trainer.fit(dataset, epochs, val, steps_per_epoch, verbose)
    done["qat_model"] = _recalibrate_trained(student, dataset, recalibrate)
    exported = qat_augmentation.without_layers(
        student, augmentation, import_tfmot()
    )
    result = convert(
        exported,
        mode="qat",
        representative_data=_calibration_inputs(dataset),
        inference_io=inference_io,
        output_path=output_path,
        verify=verify,
    )
    result.history = history
    result.bn_recalibration = done if done["model"] is not None else None
    result.notes += _recalibration_notes(done)
    if precision_note:
        result.notes.append(
            "the model computes in reduced precision: QAT trained a float32 "
            "copy of it (same weights)"
        )
    if augmentation:
        result.notes.append(f"trained with, exported without: {augmentation}")
    if teacher is not None:
        result.notes.append(f"distilled features: {trainer.feature_names}")
    return result


def _float32_models(model, teacher):
    """`(model, teacher, note)`: float32 copies of models built under a
    mixed-precision policy (tfmot cannot train float16 layers)."""
    copy, note = float32_model(model)
    if teacher is model:
        return copy, copy, note
    if teacher is not None:
        teacher, _ = float32_model(teacher)
    return copy, teacher, note


def _validate_recalibrate(recalibrate):
    if isinstance(recalibrate, (bool, np.bool_)):
        return bool(recalibrate)
    if isinstance(recalibrate, str) and recalibrate == "auto":
        return recalibrate
    raise ValueError(
        "Invalid value for argument `recalibrate`. Expected 'auto', True "
        f"or False. Received: recalibrate={recalibrate!r}"
    )


def _in_sync(model, dataset, recalibrate):
    """`model`, or a copy of it whose BN statistics match its weights.

    Returns `(model or copy, record)`; the record is `None` for a model
    without BN layers.
    """
    if not batch_norm.batch_norm_layers(model):
        return model, None
    change = batch_norm.output_change(model, dataset, max_batches=2)
    record = {"output_change": change, "recalibrated": False}
    stale = change > STALE_OUTPUT_CHANGE
    if recalibrate is False or (recalibrate == "auto" and not stale):
        return model, record
    copy = keras_compat.copy_with_weights(model)
    run = batch_norm.recalibrate(
        copy, dataset, max_batches=RECALIBRATION_BATCHES
    )
    record.update(run.to_dict(), recalibrated=True)
    return copy, record


def _recalibrate_trained(student, dataset, recalibrate):
    """Recalibrates the fake-quantized model after training (in place)."""
    if not batch_norm.batch_norm_layers(student):
        return None
    if recalibrate is False:
        return {"recalibrated": False}
    run = batch_norm.recalibrate(
        student, dataset, max_batches=RECALIBRATION_BATCHES
    )
    return {"recalibrated": True, **run.to_dict()}


def _recalibration_notes(done):
    notes = []
    for step, what in (
        ("model", "float model (a copy) before QAT"),
        ("teacher", "teacher (a copy)"),
        ("qat_model", "QAT model after training"),
    ):
        record = done.get(step)
        if step == "teacher" and done.get("teacher") is done.get("model"):
            continue
        if not record:
            continue
        if record["recalibrated"]:
            notes.append(
                f"BN statistics of the {what} recalibrated on "
                f"{record['batches']} training batches "
                f"({record['seconds']:.1f} s)"
            )
        elif "output_change" in record:
            notes.append(
                f"BN statistics of the {what.split(' (')[0]} kept: "
                f"output change {record['output_change']:.3f}"
            )
    return notes
