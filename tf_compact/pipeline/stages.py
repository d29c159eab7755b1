"""The stages of `compress`, each usable alone.

A stage is a `Stage(name, run)`: `run(ctx)` reads the teacher, data and
settings from a `CompressContext`, keeps the models and files it makes in
`ctx.store`, and returns a JSON-able record. `compress` runs the stages in
order and checkpoints each record, so a rerun skips finished stages.

Model keys in the store: `student_init` (after lightening), `student`
(after sparse training), `slim` (physically smaller) and `slim_finetuned`
(after the KD fine-tune). TFLite files: `model_float32.tflite`,
`model_int8.tflite` and `teacher_float32.tflite`, plus
`model_edgetpu.tflite` with `Export(edgetpu=True)`.
"""

import inspect

import keras

import tf_compact.lighten as lighten_lib
from tf_compact.distillation.distiller import Distiller
from tf_compact.distillation.feature_kd import FeatureKD
from tf_compact.distillation.logits_kd import LogitsKD
from tf_compact.internal import heads
from tf_compact.internal import keras_compat
from tf_compact.internal import labels as label_lib
from tf_compact.lite.benchmark import benchmark as run_benchmark
from tf_compact.lite.converter import convert
from tf_compact.lite.gpu_delegate import gpu_report
from tf_compact.pipeline import recalibration
from tf_compact.pipeline import training
from tf_compact.pipeline.model_costs import model_costs


class Stage:
    """One named step of the compress pipeline.

    Args:
        name: stable name, used as checkpoint key.
        run: callable `run(ctx) -> dict` doing the work.
        description: one line shown in progress output.
    """

    def __init__(self, name, run, description=""):
        self.name = name
        self.run = run
        self.description = description or name

    def __repr__(self):
        return f"Stage({self.name!r})"


def layer_widths(model):
    """Output channels of every conv/dense layer, nested models flattened.

    Args:
        model: a `keras.Model`.

    Returns:
        A dict `{layer name: channels}` in layer order.
    """
    widths = {}
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            widths.update(layer_widths(layer))
            continue
        channels = getattr(layer, "filters", None)
        channels = getattr(layer, "units", channels)
        if isinstance(layer, keras.layers.DepthwiseConv2D):
            shape = layer.kernel.shape
            channels = int(shape[-2] * shape[-1])
        if channels is not None:
            widths[layer.name] = int(channels)
    return widths


def model_summary(model, ctx=None, accuracy=True):
    """MACs, params, widths and (with a context) accuracy of a model.

    The costs are `model_costs.model_costs`'s: for a model whose input
    takes any size, MACs at the size of the context's data, else `None`.
    """
    datasets = () if ctx is None else (ctx.eval_data, ctx.train_data)
    record = {"name": model.name, **model_costs(model, datasets)}
    record["widths"] = layer_widths(model)
    if ctx is not None and accuracy:
        record["accuracy"] = ctx.accuracy(model)
    return record


def teacher_stage(ctx):
    """Measures the teacher: accuracy, MACs, params, layer widths; when a
    recalibrated copy teaches, the given model's accuracy too."""
    record = model_summary(ctx.teacher, ctx)
    given = getattr(ctx, "given_teacher", ctx.teacher)
    if given is not ctx.teacher:
        record["given_accuracy"] = ctx.accuracy(given)
    return record


def lighten_stage(ctx):
    """Builds the initial student from the teacher.

    Applies the `lighten` transforms in order (names `"gap_head"`,
    `"separable"`, or callables `fn(model) -> model`); with none, the
    student starts as a copy of the teacher with its weights. A transform
    that takes a `data` argument gets the training batches (`gap_head`
    fits its new head on them, so the student starts near the teacher's
    accuracy instead of near chance).
    """
    student = keras_compat.copy_with_weights(ctx.teacher)
    applied = []
    for transform in ctx.transforms:
        fn = _transform(transform)
        if "data" in inspect.signature(fn).parameters:
            student = fn(student, data=ctx.train_data)
        else:
            student = fn(student)
        applied.append(getattr(fn, "__name__", str(transform)))
    width = ctx.settings.get("width_multiplier")
    if width is not None:
        student = lighten_lib.width(student, width)
        applied.append(f"width({width})")
    ctx.store.put_model("student_init", student)
    record = model_summary(student, ctx, accuracy=False)
    record["transforms"] = applied
    return record


def _transform(transform):
    if callable(transform):
        return transform
    return getattr(lighten_lib, transform)


def finetune_stage(ctx):
    """Fine-tunes the slim model with logits distillation from the teacher."""
    slim = ctx.store.model("slim")
    epochs = ctx.settings["finetune_epochs"]
    if epochs:
        distiller = Distiller(
            ctx.teacher,
            slim,
            distillation_losses=kd_losses(ctx),
            student_loss_weight=ctx.settings["student_loss_weight"],
        )
        _compile(
            distiller,
            slim,
            ctx.settings["learning_rate"] * 0.5,
            decay_steps(ctx, epochs),
        )
        distiller.fit(
            ctx.train_data,
            validation_data=ctx.val_data,
            epochs=epochs,
            shuffle=False,
            callbacks=ctx.fit_callbacks("finetune"),
            verbose=ctx.fit_verbose(),
        )
    # Without fine-tuning, the slim stage recalibrated it last.
    entry = recalibration.recalibrate_student(ctx, slim) if epochs else None
    ctx.store.put_model("slim_finetuned", slim)
    record = model_summary(slim, ctx)
    record["epochs"] = epochs
    return recalibration.finish(record, entry)


def kd_losses(ctx):
    """The distillation losses of the run's KD stages.

    Args:
        ctx: the `CompressContext`.

    Returns:
        `[LogitsKD(temperature, standardize)]` (`standardize` from the
        run's `standardize_logits` setting), plus `FeatureKD()` (feature pairs
        matched by resolution, adapters where widths differ) when the
        run's `feature_kd` setting is on.
    """
    losses = [
        LogitsKD(
            temperature=ctx.settings["temperature"],
            standardize=ctx.settings.get("standardize_logits", False),
        )
    ]
    if ctx.settings.get("feature_kd"):
        losses.append(FeatureKD())
    return losses


#: Logs a training stage keeps in its record's `history`.
KEPT_LOGS = (
    "loss",
    "accuracy",
    "val_accuracy",
    "student_loss",
    "sparsity_loss",
    "sparsity_strength",
    "group_sparsity",
    "slim_macs_fraction",
    "slim_params_fraction",
)


def distiller(ctx, student, sparsity=None, decay_steps=None):
    """A compiled `Distiller` of the run's teacher into `student`.

    Args:
        ctx: the `CompressContext`.
        student: the student model.
        sparsity: the penalty to add, or `None`. Defaults to `None`.
        decay_steps: steps of a cosine decay of the run's learning rate,
            or `None` for a constant rate. Defaults to `None`.
    """
    wrapper = Distiller(
        ctx.teacher,
        student,
        distillation_losses=kd_losses(ctx),
        student_loss_weight=ctx.settings["student_loss_weight"],
        sparsity=sparsity,
    )
    _compile(wrapper, student, ctx.settings["learning_rate"], decay_steps)
    return wrapper


def fit(ctx, trainer, stage, callbacks=()):
    """Trains `trainer` for the run's `epochs`; returns the kept history.

    The run's own callbacks and the stage's backup callbacks are added to
    `callbacks`.
    """
    history = trainer.fit(
        ctx.train_data,
        validation_data=ctx.val_data,
        epochs=ctx.settings["epochs"],
        shuffle=False,
        callbacks=list(callbacks) + ctx.fit_callbacks(stage),
        verbose=ctx.fit_verbose(),
    )
    return {
        key: [float(v) for v in values]
        for key, values in history.history.items()
        if key in KEPT_LOGS
    }


def _compile(wrapper, student, learning_rate, decay_steps=None):
    rate = learning_rate
    if decay_steps:
        rate = keras.optimizers.schedules.CosineDecay(
            learning_rate, decay_steps
        )
    wrapper.compile(
        optimizer=keras.optimizers.Adam(rate),
        loss=label_lib.label_loss(student),
        metrics=[label_lib.label_metric(student)],
    )


def decay_steps(ctx, epochs):
    """Steps of a stage's cosine decay, or None for a constant rate.

    Args:
        ctx: the `CompressContext`.
        epochs: the stage's epochs.

    Returns:
        `epochs` times the batches per epoch when the run's `lr_schedule`
        is `"cosine"` and the training data has a known length, else
        `None`.
    """
    if ctx.settings.get("lr_schedule", "constant") != "cosine":
        return None
    steps = training.steps_per_epoch(ctx.train_data)
    return steps * epochs if steps and epochs else None


#: The Edge TPU file of `Export(edgetpu=True)`.
EDGETPU_FILE = "model_edgetpu.tflite"


def tflite_stage(ctx):
    """Converts the final model (float32 and int8) and the teacher (float).

    The final model's files carry the run's labels and input
    normalization (`ctx.app_metadata`, listed as `metadata`); the float
    ones get a `tfc.lite.gpu_report` config (`gpu_report`). With the
    `edgetpu` setting, the final model is also converted for the Edge TPU
    (`EDGETPU_FILE`), its record carrying `target` and `edgetpu_report`.
    """

    final = ctx.store.model("slim_finetuned")
    record = {}
    app = getattr(ctx, "app_metadata", None) or {}
    app = {k: v for k, v in app.items() if v is not None}
    jobs = [("model", final, mode) for mode in ctx.settings["tflite_modes"]]
    jobs.append(("teacher", ctx.teacher, "float32"))
    for prefix, model, mode in jobs:
        kwargs = dict(app) if prefix == "model" else {}
        if mode == "int8":
            kwargs["representative_data"] = ctx.train_data
        data = convert(model, mode=mode, **kwargs)
        filename = f"{prefix}_{mode}.tflite"
        ctx.store.put_bytes(filename, data)
        record[filename] = {"mode": mode, "size_bytes": len(data)}
        if prefix == "model" and app:
            record[filename]["metadata"] = sorted(app)
        if prefix == "model" and mode in ("float32", "float16"):
            # The GPU delegate runs float models: which ops would not.
            record[filename]["gpu_report"] = gpu_report(data).get_config()
    if ctx.settings.get("edgetpu"):
        data = convert(
            final,
            "int8",
            representative_data=ctx.train_data,
            target="edgetpu",
            **app,
        )
        ctx.store.put_bytes(EDGETPU_FILE, data)
        record[EDGETPU_FILE] = {
            "mode": "int8",
            "target": "edgetpu",
            "size_bytes": len(data),
            "edgetpu_report": data.edgetpu.get_config(),
        }
    return record


def benchmark_stage(ctx):
    """Times every TFLite file on a real interpreter, with accuracy.

    The Edge TPU file is left out: it is meant for the device.
    """
    results = {}
    # As Keras scores the head: a sigmoid unit by unit, logits at 0.
    kind = heads.head_kind(ctx.teacher)
    width = ctx.teacher.outputs[0].shape[-1]
    for filename, info in ctx.store.record("tflite").items():
        if info.get("target") == "edgetpu":
            continue
        result = run_benchmark(
            ctx.store.bytes(filename),
            num_threads=ctx.settings["num_threads"],
            runs=ctx.settings["benchmark_runs"],
            dataset=ctx.eval_data,
            multi_label=heads.is_binary(kind, width),
            from_logits=kind == heads.NONE,
        )
        results[filename] = result.to_dict()
    return results
