"""`Training` and `Export`: the settings every compress method shares."""

import functools

import numpy as np

from tf_compact.internal.validation import invalid
from tf_compact.internal.validation import validate_bool
from tf_compact.internal.validation import validate_choice
from tf_compact.internal.validation import validate_int
from tf_compact.internal.validation import validate_number
from tf_compact.internal.validation import validate_positive
from tf_compact.methods.method import Settings

#: Names of the lighten transforms `Training(lighten=...)` takes.
LIGHTEN = ("gap_head", "separable")
LR_SCHEDULES = ("cosine", "constant")
TFLITE_MODES = ("float32", "float16", "dynamic", "int8")


class Training(Settings):
    """How every method builds and trains the student.

    These settings apply whatever the method: the student is the teacher
    copy after the `lighten` transforms, every training stage distills
    from the teacher (`tfc.Distiller` with `tfc.LogitsKD`, optionally
    `tfc.FeatureKD`), and every method ends with a KD fine-tune of the
    slim student. (`compress`'s `epochs` sets the method's own training.)

    Args:
        finetune_epochs: KD fine-tune epochs after slimming, at half the
            learning rate on a schedule of its own. Defaults to `3`.
        learning_rate: peak Adam learning rate. Defaults to `5e-3`.
        lr_schedule: `"cosine"` (each KD stage's rate decays to 0 along a
            half cosine) or `"constant"`; sparse training and iterative
            rounds always use a constant rate. Defaults to `"cosine"`.
        temperature: logits-KD temperature. Defaults to `4.0`.
        student_loss_weight: weight α of the cross-entropy on the labels;
            the distillation terms get `1 - α`. Defaults to `0.9`.
        feature_kd: add multi-level feature distillation
            (`tfc.FeatureKD()`) to every KD stage. Defaults to `False`.
        standardize_logits: standardize each example's logits before the
            logits KD (`tfc.LogitsKD(standardize=True)`). Defaults to
            `False`.
        lighten: transforms applied to the student first: names
            (`"gap_head"`, `"separable"`) or callables
            `fn(model) -> model`. `get_config` records a callable by its
            name, so a config with one cannot be built back. Defaults to
            `()`.
        recalibrate_teacher: recalibrate the BN statistics of a copy of
            the teacher on the training data before it teaches. Defaults
            to `False`.

    Example:

    ```python
    training = tfc.methods.Training(finetune_epochs=0, temperature=2.0,
                                    standardize_logits=True)
    tfc.compress(teacher, bundle, method=method, training=training)
    ```
    """

    def __init__(
        self,
        finetune_epochs=3,
        learning_rate=5e-3,
        lr_schedule="cosine",
        temperature=4.0,
        student_loss_weight=0.9,
        feature_kd=False,
        standardize_logits=False,
        lighten=(),
        recalibrate_teacher=False,
    ):
        self._init(
            finetune_epochs=validate_int(
                "finetune_epochs", finetune_epochs, minimum=0
            ),
            learning_rate=validate_positive("learning_rate", learning_rate),
            lr_schedule=validate_choice(
                "lr_schedule", lr_schedule, LR_SCHEDULES
            ),
            temperature=validate_positive("temperature", temperature),
            student_loss_weight=validate_number(
                "student_loss_weight",
                student_loss_weight,
                minimum=0.0,
                maximum=1.0,
            ),
            feature_kd=validate_bool("feature_kd", feature_kd),
            standardize_logits=validate_bool(
                "standardize_logits", standardize_logits
            ),
            lighten=_validate_lighten(lighten),
            recalibrate_teacher=validate_bool(
                "recalibrate_teacher", recalibrate_teacher
            ),
        )

    def get_config(self):
        config = super().get_config()
        config["lighten"] = [
            _lighten_name(t) for t in self._settings["lighten"]
        ]
        return config

    @property
    def transforms(self):
        """The lighten transforms as given: names and callables."""
        return list(self._settings["lighten"])


class Export(Settings):
    """What every method does with the final student.

    Args:
        tflite_modes: TFLite conversion modes of the final model, from
            `"float32"`, `"float16"`, `"dynamic"` and `"int8"` (full
            integer, calibrated on training batches). Defaults to
            `("float32", "int8")`.
        num_threads: interpreter threads of the benchmark (and of a
            `target_latency` budget's measurements). Defaults to `1`.
        benchmark_runs: timed invocations per TFLite file. Defaults to
            `50`.
        baselines: extra points `{"name", "macs", "accuracy"}` for the
            trade-off plot. Defaults to `()`.
        edgetpu: also convert the final model for a Coral Edge TPU
            (`tfc.lite.convert(..., "int8", target="edgetpu")`: full int8,
            batch 1, static shapes, uint8 I/O) to `model_edgetpu.tflite`,
            and record its `tfc.lite.edgetpu_report` under `edgetpu` in
            `report.json` and as one line of `report.md`. The file is not
            timed by the benchmark stage (it is meant for the device).
            Defaults to `False`.
        labels: class names written into the student's `.tflite` files
            as LiteRT metadata (`tfc.lite.add_metadata`), which Android
            apps read: `"auto"` takes the `DatasetBundle`'s
            `class_names` when `compress` is given a bundle and they match
            the output's width (else none), `None` writes none, or a list
            of strings (one per output unit). Defaults to `"auto"`.
        normalization: `(mean, std)` of the input written into the same
            metadata, `(x - mean) / std` being what the model expects:
            `"auto"` takes a bundle's pixel scale (`scale=1/255` gives
            `(0, 255)`), `None` writes none, or numbers or per-channel
            lists. Defaults to `"auto"`.

    Example:

    ```python
    export = tfc.methods.Export(tflite_modes=("int8",), num_threads=2)
    coral = tfc.methods.Export(edgetpu=True)
    android = tfc.methods.Export(labels=["cat", "dog"], normalization=(0, 255))
    tfc.compress(teacher, bundle, method=method, export=export)
    ```
    """

    def __init__(
        self,
        tflite_modes=("float32", "int8"),
        num_threads=1,
        benchmark_runs=50,
        baselines=(),
        edgetpu=False,
        labels="auto",
        normalization="auto",
    ):
        if isinstance(tflite_modes, str):
            raise invalid(
                "tflite_modes",
                f"a list of modes from {TFLITE_MODES}",
                tflite_modes,
            )
        self._init(
            tflite_modes=[
                validate_choice("tflite_modes", m, TFLITE_MODES)
                for m in tflite_modes
            ],
            num_threads=validate_int("num_threads", num_threads, minimum=1),
            benchmark_runs=validate_int(
                "benchmark_runs", benchmark_runs, minimum=1
            ),
            baselines=[dict(b) for b in baselines],
            edgetpu=validate_bool("edgetpu", edgetpu),
            labels=_validate_labels(labels),
            normalization=_validate_normalization(normalization),
        )


def _validate_labels(labels):
    if labels is None or (isinstance(labels, str) and labels == "auto"):
        return labels
    expected = '"auto", None or a list of class names (strings, one line each)'
    if isinstance(labels, str) or not isinstance(
        labels, (list, tuple, np.ndarray)
    ):
        raise invalid("labels", expected, labels)
    names = [str(n) if isinstance(n, np.str_) else n for n in labels]
    if not names or not all(
        isinstance(n, str) and n and "\n" not in n for n in names
    ):
        raise invalid("labels", expected, labels)
    return names


def _validate_normalization(normalization):
    if normalization is None or (
        isinstance(normalization, str) and normalization == "auto"
    ):
        return normalization
    expected = '"auto", None or (mean, std): numbers or per-channel lists'
    if not isinstance(normalization, (list, tuple, np.ndarray)):
        raise invalid("normalization", expected, normalization)
    if len(normalization) != 2:
        raise invalid("normalization", expected, normalization)
    pair = []
    for value in normalization:
        try:
            values = np.asarray(value, dtype=float).ravel()
        except (TypeError, ValueError):
            raise invalid("normalization", expected, normalization) from None
        if not values.size or not np.all(np.isfinite(values)):
            raise invalid("normalization", expected, normalization)
        pair.append([float(v) for v in values])
    if any(v <= 0 for v in pair[1]):
        raise invalid("normalization", "a positive std", normalization)
    return pair


def _validate_lighten(lighten):
    if isinstance(lighten, str) or callable(lighten):
        lighten = [lighten]
    for transform in lighten:
        if not callable(transform):
            validate_choice("lighten", transform, LIGHTEN)
    return tuple(lighten)


def _lighten_name(transform):
    """A callable's name, with the arguments a `functools.partial` binds
    (so a resumed run notices `partial(width, multiplier=0.25)` replacing
    0.5; the body of a function is not compared)."""
    if isinstance(transform, functools.partial):
        args = [repr(a) for a in transform.args]
        args += [f"{k}={v!r}" for k, v in sorted(transform.keywords.items())]
        return f"{_lighten_name(transform.func)}({', '.join(args)})"
    if callable(transform):
        return getattr(transform, "__name__", type(transform).__name__)
    return transform
