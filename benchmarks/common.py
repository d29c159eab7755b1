"""Helpers every benchmark script shares: where results go and what each
results file records about the run that made it."""

import hashlib
import json
import os
import platform
import subprocess
import sys

RESULTS_DIR = "benchmarks/results"
#: Where `benchmarks/teachers.py` caches the converged teachers.
TEACHERS_DIR = os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "teachers"
)


def machine():
    """The CPU model and core count, e.g. `"AMD EPYC 9B14 (2 cores)"`."""
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{model} ({os.cpu_count()} cores)"


def git_sha(here=None):
    """The commit the run used, with `+dirty` for uncommitted changes.

    `here`: a folder of the checkout (defaults to this file's).
    """
    here = here or os.path.dirname(os.path.abspath(__file__))
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=here,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=here,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return sha + ("+dirty" if dirty else "")


def run_record():
    """What every results JSON records: machine, commit and full command.

    When the imported `tf_compact` comes from another checkout than the
    benchmark scripts, `library_git_sha` records that checkout's commit.
    """
    record = {
        "machine": machine(),
        "git_sha": git_sha(),
        "command": " ".join(["python"] + sys.argv),
    }
    library = sys.modules.get("tf_compact")
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    if library is not None and getattr(library, "__file__", None):
        root = os.path.dirname(
            os.path.dirname(os.path.abspath(library.__file__))
        )
        if root != here:
            record["library_git_sha"] = git_sha(root)
    return record


def result_path(results_dir, name, suffix):
    """`<results_dir>/<name><suffix>`, its folder created.

    `name` may hold folders (`e2e/vgg/sensitivity/seed0`): results are
    kept by experiment.
    """
    path = os.path.join(results_dir, name + suffix)
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    return path


def seed_work_dir(root, parts, settings, teacher_folder, seed):
    """A seed's scratch folder, kept apart per teacher and settings.

    `root/<parts...>/<teacher_folder>-<digest of settings>/seed<seed>`: a
    rerun with the same settings and teacher resumes there, one with other
    settings or a retrained teacher never finds the older run's models.
    """
    text = json.dumps(settings, sort_keys=True)
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:10]
    return os.path.join(
        root, *parts, f"{teacher_folder}-{digest}", f"seed{seed}"
    )


def write_json(path, payload):
    """Writes `payload` plus the run record as JSON, creating folders."""
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        json.dump({"run": run_record(), **payload}, f, indent=2)


def write_text(path, text):
    """Writes a markdown (or any text) result, creating folders."""
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def tf_compact_oneshot(
    teacher,
    bundle,
    output_dir,
    *,
    target_macs,
    target_params,
    epochs=4,
    round_to=8,
    learning_rate=5e-3,
    temperature=4.0,
    student_loss_weight=0.9,
    tflite_modes=("float32",),
):
    """tf_compact's one-shot arm as the README's VGG headline runs it.

    One-shot L2 pruning of a copy of `teacher` with the sensitivity
    allocation of the budget, then `epochs` of logits KD (cosine from
    `learning_rate`); the same call as `bench_e2e.py --method=auto
    --allocation=sensitivity --finetune_epochs=0`. Returns the
    `tfc.compress` result (its `slim_model` is the student).
    """
    import keras

    import tf_compact as tfc

    copy = keras.models.clone_model(teacher)
    copy.set_weights(teacher.get_weights())
    copy.trainable = True
    return tfc.compress(
        copy,
        bundle,
        method=tfc.methods.OneShot(
            target_macs=target_macs,
            target_params=target_params,
            round_to=round_to,
            allocation="sensitivity",
        ),
        epochs=epochs,
        training=tfc.methods.Training(
            finetune_epochs=0,
            learning_rate=learning_rate,
            lr_schedule="cosine",
            temperature=temperature,
            student_loss_weight=student_loss_weight,
        ),
        export=tfc.methods.Export(tflite_modes=tflite_modes, benchmark_runs=20),
        output_dir=output_dir,
        verbose=2,
    )


# Training and baseline arms shared by the end-to-end benchmarks
# (bench_e2e.py, bench_evidence.py). Every function takes its settings as
# arguments; the scripts map their flags onto them.


def loss(model):
    """Sparse categorical cross-entropy, on logits when `model` outputs them."""
    import keras

    from tf_compact.pipeline import training

    return keras.losses.SparseCategoricalCrossentropy(
        from_logits=training.outputs_logits(model)
    )


def rate(lr, bundle, epochs, schedule="cosine", module=None):
    """`lr`, or a cosine decay of it over `epochs` with `schedule="cosine"`.

    `module` is the Keras module whose schedules to use (`tf_keras` for the
    tfmot arm); Keras 3 by default.
    """
    if schedule != "cosine":
        return lr
    if module is None:
        import keras as module
    steps = int(bundle.train.cardinality()) * epochs
    return module.optimizers.schedules.CosineDecay(lr, steps)


def fit(model, bundle, epochs, lr=1e-3, schedule="cosine"):
    """Adam training of `model` on `bundle.train` (in place); returns it."""
    from tf_compact.pipeline import training

    training.fit_classifier(
        model,
        bundle.train,
        epochs,
        learning_rate=rate(lr, bundle, epochs, schedule),
        verbose=2,
    )
    return model


def copy_model(model):
    """A trainable copy with the same weights (arms never share a model)."""
    import keras

    clone = keras.models.clone_model(model)
    clone.set_weights(model.get_weights())
    clone.trainable = True
    return clone


def arm_l1_prune(
    teacher, bundle, epochs, lr, targets, round_to=None, schedule="cosine"
):
    """One-shot L1 filter pruning of a copy of `teacher` + plain fine-tune.

    `targets`: `{"target_macs": ..., "target_params": ...}` (`None` values
    dropped). The fine-tune runs `epochs` at `lr`.
    """
    from tf_compact.pruning.prune import prune

    slim = prune(
        copy_model(teacher),
        importance="l1",
        round_to=round_to,
        **{k: v for k, v in targets.items() if v is not None},
    )
    return fit(slim, bundle, epochs, lr=lr, schedule=schedule)


def arm_scratch(slim, bundle, epochs, lr, schedule="cosine"):
    """`slim`'s architecture, freshly initialised, trained from scratch."""
    import keras

    fresh = keras.models.clone_model(slim)
    return fit(fresh, bundle, epochs, lr=lr, schedule=schedule)


def arm_keras_kd(
    teacher,
    slim,
    bundle,
    epochs,
    lr,
    temperature=4.0,
    student_loss_weight=0.9,
    schedule="cosine",
):
    """`keras.distillation` logits KD into `slim`'s architecture, fresh.

    Two pitfalls are handled: `LogitsDistillation()`'s default
    `loss="kl_divergence"` resolves to the plain function, which skips the
    softmax (the student then does not learn), so a
    `keras.losses.KLDivergence()` instance is passed; and the `Distiller`
    sets `teacher.trainable = False` on the model it gets, so it gets a
    copy.
    """
    import keras

    fresh = keras.models.clone_model(slim)
    distiller = keras.distillation.Distiller(
        copy_model(teacher),
        fresh,
        distillation_losses=keras.distillation.LogitsDistillation(
            temperature=temperature, loss=keras.losses.KLDivergence()
        ),
        student_loss_weight=student_loss_weight,
    )
    distiller.compile(
        optimizer=keras.optimizers.Adam(rate(lr, bundle, epochs, schedule)),
        loss=loss(fresh),
        metrics=["accuracy"],
    )
    distiller.fit(bundle.train, epochs=epochs, verbose=2)
    return fresh


def _import_tfmot():
    """tfmot through the project's import (`TF_USE_LEGACY_KERAS` kept)."""
    import importlib

    return importlib.import_module("tf_compact.lite.qat").import_tfmot()


def tfmot_sparsity(teacher, target_params, student=None):
    """The kernel sparsity at which tfmot matches a student's weights.

    tfmot prunes only the kernels of the layers it supports (convolutions,
    depthwise convolutions, Dense); batch-norm weights and biases stay
    dense. Pruning the kernels to `1 - target / total` would leave the
    model with more weights than the target, so the sparsity is set on the
    prunable kernels alone, to keep `target_params` weights in all.

    Where the teacher's dense weights alone exceed `target_params` (many
    batch-norm channels, as in MobileNetV2), the target is out of tfmot's
    reach; with `student` given, the kernels are then pruned to the
    student's kernel weight count instead (tfmot keeps more weights than
    the student in all, an advantage to the baseline).

    Returns:
        `(sparsity, matched)`: the kernel sparsity and `"params"` or
        `"kernels"`, what was matched.
    """
    import numpy as np

    import tf_compact as tfc

    tfmot = _import_tfmot()
    probe = tfmot.sparsity.keras.prune_low_magnitude(
        tfc.lite.to_tf_keras(copy_model(teacher))
    )
    prunable = sum(
        int(np.prod(weight.shape))
        for layer in probe.layers
        for weight, _, _ in getattr(layer, "pruning_vars", ())
    )
    dense = teacher.count_params() - prunable
    if target_params > dense:
        return 1.0 - (target_params - dense) / prunable, "params"
    if student is None:
        raise ValueError(
            f"tfmot cannot reach {target_params} weights: {dense} of the "
            f"teacher's {teacher.count_params()} are not prunable."
        )
    return 1.0 - kernel_weights(student) / prunable, "kernels"


def kernel_weights(model):
    """The weights of a model's convolution, depthwise and Dense kernels
    (what tfmot prunes)."""
    import numpy as np

    return sum(
        int(np.prod(getattr(layer, name).shape))
        for layer in model.layers
        for name in ("kernel", "depthwise_kernel")
        if getattr(layer, name, None) is not None
    )


def arm_tfmot(teacher, bundle, sparsity, epochs, lr, schedule="cosine"):
    """tfmot magnitude pruning (polynomial schedule to `sparsity` over about
    the first two thirds of the steps) through the tf_keras bridge.

    Returns `(stripped tf_keras model, nonzero weights)`.
    """
    import numpy as np

    import tf_compact as tfc

    tfmot = _import_tfmot()
    import tf_keras

    legacy = tfc.lite.to_tf_keras(copy_model(teacher))
    steps = int(bundle.train.cardinality()) * epochs
    # Masks are updated every `frequency` steps up to `end` (a multiple of
    # it, so the last update reaches `sparsity`); short runs update more
    # often, so that they prune at all.
    frequency = max(1, min(20, steps * 2 // 3 // 4))
    end = max(frequency, steps * 2 // 3 // frequency * frequency)
    schedule_ = tfmot.sparsity.keras.PolynomialDecay(
        0.0, sparsity, begin_step=0, end_step=end, frequency=frequency
    )
    pruned = tfmot.sparsity.keras.prune_low_magnitude(
        legacy, pruning_schedule=schedule_
    )
    pruned.compile(
        optimizer=tf_keras.optimizers.Adam(
            rate(lr, bundle, epochs, schedule, module=tf_keras)
        ),
        loss=tf_keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    pruned.fit(
        bundle.train,
        epochs=epochs,
        verbose=2,
        callbacks=[tfmot.sparsity.keras.UpdatePruningStep()],
    )
    stripped = tfmot.sparsity.keras.strip_pruning(pruned)
    nnz = int(sum(np.count_nonzero(w) for w in stripped.get_weights()))
    return stripped, nnz


def command(script, names, flag_values=None):
    """The command line of `script` with the flags of `names` that were set.

    Flags left at their default are omitted; booleans are written
    `--name` / `--noname`, lists comma-joined. `flag_values` defaults to
    absl's global `FLAGS`.
    """
    if flag_values is None:
        from absl import flags

        flag_values = flags.FLAGS
    parts = [f"python {script}"]
    for name in names:
        flag = flag_values[name]
        if flag.present:
            value = flag.value
            if isinstance(value, bool):
                parts.append(f"--{name}" if value else f"--no{name}")
                continue
            if isinstance(value, list):
                value = ",".join(str(v) for v in value)
            parts.append(f"--{name}={value}")
    return " ".join(parts)


def paired(differences):
    """`(mean, standard error)` of paired differences (SE `None` for one)."""
    n = len(differences)
    if n == 0:
        return None, None
    mean = sum(differences) / n
    if n < 2:
        return mean, None
    var = sum((d - mean) ** 2 for d in differences) / (n - 1)
    return mean, (var / n) ** 0.5


def teacher_record(name, teachers_dir=None):
    """The record of the finished teacher `name` and its folder.

    `name` is a `benchmarks/teachers.py --teacher` value (`"vgg"`,
    `"resnet20"`, `"mobilenet_v2"`); the record is its `teacher.json`
    (test accuracy per epoch, recipe, command). Of several finished
    teachers of that name (older recipes), the one finished last is
    returned (by the record's `finished_at`; file times do not survive a
    clone).

    Raises:
        FileNotFoundError: If no finished teacher of that name is cached;
            the message says how far a run under way got and the command
            that trains it.
    """
    teachers_dir = teachers_dir or TEACHERS_DIR
    finished, partial = [], []
    if os.path.isdir(teachers_dir):
        for entry in sorted(os.listdir(teachers_dir)):
            if entry.rsplit("-", 1)[0] != name:
                continue
            folder = os.path.join(teachers_dir, entry)
            path = os.path.join(folder, "teacher.json")
            if not os.path.isfile(path):
                continue
            with open(path, encoding="utf-8") as f:
                record = json.load(f)
            model = os.path.join(folder, "teacher.keras")
            if record.get("finished") and os.path.isfile(model):
                finished.append(
                    (record.get("finished_at") or "", record, folder)
                )
            else:
                partial.append(
                    f"{entry}: {record.get('epochs_done')} of "
                    f"{record.get('epochs_total')} epochs"
                )
    if not finished:
        raise FileNotFoundError(
            f"No finished teacher {name!r} in {teachers_dir}"
            + (f" (under way: {'; '.join(partial)})" if partial else "")
            + f". Train it with `python benchmarks/teachers.py "
            f"--teacher={name}` (resumable)."
        )
    _, record, folder = max(finished, key=lambda item: item[0])
    return record, folder


def load_teacher(name, teachers_dir=None):
    """The converged teacher `name` as a `keras.Model`, from its cache.

    See `teacher_record` for `name` and for the error raised when it is
    not trained yet.

    ```python
    teacher = common.load_teacher("vgg")
    ```
    """
    import keras

    _, folder = teacher_record(name, teachers_dir)
    return keras.saving.load_model(
        os.path.join(folder, "teacher.keras"), compile=False
    )


def block_fractions(model, slim):
    """MACs of each `blocks="auto"` block of `slim` over `model`'s."""
    import tf_compact as tfc
    from tf_compact.callbacks import blocks as blocks_lib
    from tf_compact.surgery.cost import cost_from_keep

    dense_graph = tfc.ChannelGraph(model)
    slim_graph = tfc.ChannelGraph(slim)
    out = {}
    for name, layers in blocks_lib.resolve_blocks(dense_graph, "auto").items():
        dense = cost_from_keep(dense_graph, None, layers)[0]
        if dense:
            out[name] = cost_from_keep(slim_graph, None, layers)[0] / dense
    return out


def seeded_data(seed, offset=0, limit=None):
    """Fashion-MNIST for one arm of a seeded benchmark run.

    Seeds Keras with `seed + offset` (each arm its own offset, so an arm's
    data order does not depend on how long the arms before it ran) and
    loads the dataset with a 5% validation split drawn from `seed`.
    """
    import keras

    import tf_compact as tfc

    keras.utils.set_random_seed(seed + offset)
    return tfc.data.load(
        "fashion_mnist",
        batch_size=128,
        limit=limit,
        validation_split=0.05,
        seed=seed,
    )
