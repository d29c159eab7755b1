"""`tfc.compress`: teacher in, small fast TFLite model and report out."""

import contextlib

from tf_compact.data.stored_values import stored_values_for
from tf_compact.internal import distribute
from tf_compact.internal.replica_batches import whole_replica_batches
from tf_compact.lighten._clone import validate_model
from tf_compact.pipeline import recalibration
from tf_compact.pipeline import report as report_lib
from tf_compact.pipeline.android import app_metadata
from tf_compact.pipeline.context import CompressContext
from tf_compact.pipeline.data_prep import prepare_data
from tf_compact.pipeline.data_prep import split_data
from tf_compact.pipeline.plan import default_stages
from tf_compact.pipeline.result import CompressResult
from tf_compact.pipeline.run_settings import check_arguments
from tf_compact.pipeline.run_settings import export_settings
from tf_compact.pipeline.run_settings import run_settings
from tf_compact.pipeline.run_settings import writer_output_dir
from tf_compact.pipeline.store import StageStore


def compress(
    teacher,
    train_data,
    val_data=None,
    *,
    method="auto",
    test_data=None,
    batch_size=None,
    epochs=6,
    training=None,
    export=None,
    output_dir=None,
    resume=True,
    callbacks=(),
    strategy=None,
    stages=None,
    verbose=1,
):
    """Compresses a trained classifier into a small, fast TFLite model.

    One call runs the stages: measure the teacher → build the student (a
    copy of the teacher, optionally lightened) → the method's own stages
    (pruning or sparse training with distillation) → KD fine-tune →
    TFLite → interpreter benchmark → report. The method object carries the
    settings only it uses (`tfc.methods.OneShot(target_macs=0.25)`, ...);
    `training` and `export` carry the settings every method shares.

    With `output_dir`, every stage checkpoints what it made there
    (`stages.json`, `.keras`, `.tflite`) and training stages use
    `keras.callbacks.BackupAndRestore`, so rerunning the same call after an
    interruption resumes where it stopped. The directory also receives
    `report.json`, `report.md` and PNG plots.

    For a teacher whose input takes any size (`keras.Input((None, None,
    3))`), the report counts MACs at the input size of the data (the
    test data, else the validation, else the training data), and says
    so; when the data leaves the size unknown too, MACs are `None`
    ("n/a" in the table) and a note says why. MACs and latency budgets
    are refused for such a teacher before any stage runs.

    Args:
        teacher: a trained Sequential or Functional classifier with one
            output (logits or softmax). It is never modified.
        train_data: batched `tf.data.Dataset` of `(x, y)`, a tuple
            `(x, y)` of arrays (batched by `batch_size` and reshuffled
            every epoch), or a
            `tf_compact.data.DatasetBundle` (its `val` and `test` are used
            when `val_data`/`test_data` are not given, an empty split
            counting as none; a teacher taking integers, such as uint8
            pixels, is fed the bundle's stored values, not the scaled
            ones). Labels are integer class ids, one-hot rows
            (turned into class ids) or 0/1 for a binary head. Every dataset
            given must hold at least one example, end, and be readable
            again (not a generator).
        val_data: validation data, in the same forms. Defaults to `None`.
        method: a `tfc.methods` object (`OneShot`, `Iterative`,
            `Gradual`, `Budget`, `Controller`, `Width`, `Auto`) or the name
            of one, which stands for it with its defaults (`"auto"`: the
            controller; `"oneshot"` alone asks for a budget). Defaults to
            `"auto"`.
        test_data: data for the reported accuracies, in the same forms;
            falls back to `val_data`. Defaults to `None`.
        batch_size: batch size of data given as `(x, y)` arrays (`None`:
            32); leave it out for datasets. Defaults to `None`.
        epochs: epochs of the method's training (sparse training, KD at
            the final widths, or shared among the pruning rounds).
            Defaults to `6`.
        training: a `tfc.methods.Training`: lighten transforms, KD
            fine-tune epochs, learning rate, distillation settings, teacher
            BN recalibration. Defaults to `None` (`Training()`).
        export: a `tfc.methods.Export`: TFLite modes, benchmark threads and
            runs, trade-off plot baselines. Defaults to `None`
            (`Export()`).
        output_dir: directory for files and checkpoints; `None` keeps
            everything in memory. Defaults to `None`.
        resume: reuse finished stages and mid-stage training backups found
            in `output_dir` when they come from a run with the same
            settings (the method's config, `training`, `export`, `epochs`,
            teacher weights, and the data's shapes and content (see the
            pipeline guide); a run with other settings is
            refused with the differing ones named; when only `export`
            settings differ, the finished training stages are reused and
            the TFLite and benchmark stages run again, said in the log).
            A damaged checkpoint is named in the log and its stage runs
            again with those after it. With `False`, the earlier run's
            files in `output_dir` are deleted first (said in the log).
            Defaults to `True`.
        callbacks: Keras callbacks added to the `fit` of every training
            stage. Defaults to `()`.
        strategy: a `tf.distribute.Strategy`, or a name
            (`"none"`, `"mirrored"`, `"multi_worker"`; see
            `tf_compact.internal.distribute.resolve_strategy`): every stage
            builds, compiles and trains its models under
            `strategy.scope()`. Under `MultiWorkerMirroredStrategy` every
            worker runs the same call and only the chief writes
            `output_dir` (the others write to
            `output_dir/workertemp_worker_<id>`, where a rerun resumes
            them); the report's `strategy` names it with its replica
            count. Make a `MultiWorkerMirroredStrategy` before any other
            TensorFlow work in the process (loading the teacher is such
            work: pass the object, not the name). Defaults to `None`.
        stages: a custom list of `Stage` objects to run instead of the
            method's default list (`tf_compact.pipeline.plan.stages_for`).
            Defaults to `None`.
        verbose: 0 silent, 1 progress lines and Keras progress bars.
            Defaults to `1`.

    Returns:
        A `CompressResult` (`.student`, `.slim_model`, `.tflite`,
        `.report`, `.table()`).

    Raises:
        TypeError: if `teacher` is not a Keras model, or an argument has
            the wrong type.
        ValueError: if an argument is out of range, the method has a
            MACs or latency budget and the teacher's input takes any
            size, the teacher has several outputs or predicts per pixel
            or step, a dataset is empty, endless, unbatched, a one-shot
            iterator, has inputs of another shape than the teacher's or
            more classes than its output, or `output_dir` holds a run
            with other settings.

    Example:

    ```python
    bundle = tfc.data.builtin()
    teacher = tfc.models.small_cnn()  # trained beforehand
    result = tfc.compress(
        teacher, bundle,
        method=tfc.methods.OneShot(target_macs=0.25, round_to=8),
        output_dir="compressed",
    )
    print(result.table())
    ```
    """
    validate_model(teacher, "teacher")
    method, epochs, training, export, callbacks, strategy = check_arguments(
        method, epochs, training, export, callbacks, strategy
    )
    output_dir = writer_output_dir(output_dir, strategy)
    train_data = stored_values_for(train_data, teacher)
    app = app_metadata(export, train_data, teacher)
    num_classes = getattr(train_data, "num_classes", None)
    # A DatasetBundle's shuffle seed orders the training batches.
    seed = getattr(train_data, "seed", None) if num_classes else None
    train_data, val_data, test_data = split_data(
        train_data, val_data, test_data
    )
    named = {"train_data": train_data, "val_data": val_data}
    named["test_data"] = test_data
    data = prepare_data(teacher, named, batch_size, num_classes)
    if seed is not None:
        data["data"]["train_data_seed"] = seed
    train_data, val_data, test_data = data.pop("datasets")
    train_data, left_out = whole_replica_batches(train_data, strategy)
    settings = run_settings(teacher, method, epochs, training, export)
    settings.update(data)
    ctx = CompressContext(
        teacher, train_data, val_data, test_data, settings, None, verbose
    )
    ctx.method, ctx.callbacks, ctx.strategy = method, callbacks, strategy
    if left_out:
        ctx.log(
            f"training leaves out the last batch of each epoch: its "
            f"{left_out} example(s) are fewer than the "
            f"{strategy.num_replicas_in_sync} replicas, and batch "
            "normalization over a replica with no example is NaN"
        )
    ctx.app_metadata = app
    plan = stages if stages is not None else default_stages(settings)
    exported = export_settings(settings, [stage.name for stage in plan])
    ctx.store = StageStore(
        output_dir, settings, resume, ctx.log, export_settings=exported
    )
    ctx.transforms = training.transforms
    recalibration.check_teacher(ctx)
    _run_stages(ctx, plan)
    return _result(ctx, export.baselines)


def _run_stages(ctx, plan):
    for index, stage in enumerate(plan, 1):
        head = f"stage {index}/{len(plan)} {stage.name}: {stage.description}"
        if ctx.store.done(stage.name):
            ctx.log(f"{head} (done in an earlier run, skipped)")
            continue
        ctx.log(head)
        ctx.store.begin(stage.name)
        with _scope(ctx.strategy):
            record = ctx.full_history(stage.run(ctx))
        ctx.store.finish(stage.name, record)


def _scope(strategy):
    """`strategy.scope()`, or a context that does nothing without one."""
    if strategy is None:
        return contextlib.nullcontext()
    return strategy.scope()


def _result(ctx, baselines):
    records = ctx.store.records()
    history = {
        name: rec["history"]
        for name, rec in records.items()
        if isinstance(rec, dict) and "history" in rec
    }
    report = report_lib.build_report(records, ctx.settings, history)
    report["strategy"] = distribute.strategy_name(ctx.strategy)
    files = report_lib.write(ctx.store, report, records, baselines)
    tflite = {}
    for filename in records.get("tflite", {}):
        label = report_lib.TFLITE_LABELS.get(filename, filename)
        if not label.startswith("teacher"):
            tflite[label] = ctx.store.bytes(filename)
    for key in ("student", "slim_finetuned", "student_init"):
        path = ctx.store.path(f"{key}.keras")
        if path and ctx.store.has_model(key):
            files[f"{key}.keras"] = path
    for filename in records.get("tflite", {}):
        if ctx.store.output_dir:
            files[filename] = ctx.store.path(filename)
    if ctx.verbose:
        print(report_lib.summary_table(report), flush=True)
    return CompressResult(
        _model_or_none(ctx.store, "student"),
        _model_or_none(ctx.store, "slim_finetuned"),
        tflite,
        report,
        ctx.store.output_dir,
        files,
    )


def _model_or_none(store, key):
    return store.model(key) if store.has_model(key) else None
