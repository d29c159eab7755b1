"""The value `tfc.lite.convert` returns: TFLite bytes that know their story."""

import base64


class ConversionResult(bytes):
    """TFLite model bytes, plus how they were made and how well they match.

    It is a `bytes` subclass: write it to a file, hand it to an
    interpreter or to `tfc.lite.benchmark` as is.

    Args:
        content: The `.tflite` flatbuffer.
        mode: Conversion mode (`"float32"`, `"float16"`, `"dynamic"`,
            `"int8"` or `"qat"`).
        path_used: Converter entry point that produced the model:
            `"from_keras_model"` or `"saved_model"`.
        inference_io: Input/output dtype of the model. Defaults to
            `"float32"`.
        max_abs_diff: Largest absolute difference between TFLite and Keras
            outputs on the verification batch, or `None` if not verified.
            Defaults to `None`.
        argmax_agreement: Fraction of verification rows where TFLite and
            Keras agree on the argmax, or `None`. Defaults to `None`.
        runtime: Interpreter runtime used for verification, or `None`.
            Defaults to `None`.
        output_path: File the model was written to, or `None`. Defaults to
            `None`.
        notes: List of remarks gathered during conversion. Defaults to
            `None`.
        history: Dict of per-epoch training metrics (quantization-aware
            training only), or `None`. Defaults to `None`.
        bn_recalibration: What batch-norm recalibration quantization-aware
            training did, per step, or `None`. Defaults to `None`.

    Example:

    ```python
    tflite = tfc.lite.convert(model, mode="float32")
    print(tflite.path_used, tflite.max_abs_diff, len(tflite))
    ```
    """

    def __new__(cls, content, *args, **kwargs):
        return super().__new__(cls, content)

    def __init__(
        self,
        content,
        mode,
        path_used,
        inference_io="float32",
        max_abs_diff=None,
        argmax_agreement=None,
        runtime=None,
        output_path=None,
        notes=None,
        history=None,
        bn_recalibration=None,
    ):
        self.mode = mode
        self.path_used = path_used
        self.inference_io = inference_io
        self.max_abs_diff = max_abs_diff
        self.argmax_agreement = argmax_agreement
        self.runtime = runtime
        self.output_path = output_path
        self.notes = list(notes or [])
        self.history = history
        self.bn_recalibration = bn_recalibration

    @property
    def size_bytes(self):
        """Size of the flatbuffer in bytes."""
        return len(self)

    def info(self):
        """Returns everything but the bytes, as a JSON-compatible dict."""
        return {
            "mode": self.mode,
            "path_used": self.path_used,
            "inference_io": self.inference_io,
            "max_abs_diff": self.max_abs_diff,
            "argmax_agreement": self.argmax_agreement,
            "runtime": self.runtime,
            "output_path": self.output_path,
            "notes": list(self.notes),
            "history": self.history,
            "bn_recalibration": self.bn_recalibration,
            "size_bytes": self.size_bytes,
        }

    def get_config(self):
        """Returns a JSON-compatible dict, the bytes base64-encoded."""
        config = self.info()
        del config["size_bytes"]
        config["content"] = base64.b64encode(bytes(self)).decode("ascii")
        return config

    @classmethod
    def from_config(cls, config):
        """Creates a `ConversionResult` from `get_config()` output."""
        config = dict(config)
        content = base64.b64decode(config.pop("content"))
        return cls(content, **config)

    def __reduce__(self):
        return (_rebuild, (self.get_config(),))

    def __repr__(self):
        return (
            f"<ConversionResult mode={self.mode!r} size={len(self)} "
            f"path_used={self.path_used!r} max_abs_diff={self.max_abs_diff}>"
        )


def _rebuild(config):
    return ConversionResult.from_config(config)
