"""`CompressResult`: what `tfc.compress` returns."""

import json
import os

import keras

from tf_compact.pipeline import report as report_lib


class CompressResult:
    """The models, TFLite files and report of a `compress` run.

    Args:
        student: the student after sparse training (same architecture as
            the lightened teacher), or `None` for methods without one.
        slim_model: the final, physically smaller and fine-tuned model.
        tflite: dict `{mode: bytes}` (e.g. `"float32"`, `"int8"`).
        report: the report dict (also written to `report.json`).
        output_dir: where the files were written, or `None`.
            Defaults to `None`.
        files: dict `{name: path}` of the written files. Defaults to `None`.

    Example:

    ```python
    result = tfc.compress(teacher, bundle.train, bundle.val,
                          test_data=bundle.test, output_dir="out")
    print(result.table())
    open("model.tflite", "wb").write(result.tflite["int8"])
    again = tfc.CompressResult.load("out")
    ```
    """

    def __init__(
        self, student, slim_model, tflite, report, output_dir=None, files=None
    ):
        self.student = student
        self.slim_model = slim_model
        self.tflite = dict(tflite)
        self.report = report
        self.output_dir = output_dir
        self.files = dict(files or {})

    def table(self):
        """The before/after table (accuracy, MACs, params, size, latency)."""
        return report_lib.summary_table(self.report)

    def get_config(self):
        """JSON-able description: the report, output dir and file paths."""
        return {
            "report": self.report,
            "output_dir": self.output_dir,
            "files": self.files,
        }

    @classmethod
    def from_config(cls, config):
        """Rebuilds a result from `get_config()`, reloading saved files.

        Models and TFLite files are read back from `config["files"]`;
        missing files give `None` / are left out.
        """
        files = config.get("files", {})
        student = _load_model(files.get("student.keras"))
        slim = _load_model(files.get("slim_finetuned.keras"))
        tflite = {}
        for name, path in files.items():
            label = report_lib.TFLITE_LABELS.get(name)
            if label and not label.startswith("teacher") and _exists(path):
                with open(path, "rb") as f:
                    tflite[label] = f.read()
        return cls(
            student,
            slim,
            tflite,
            config["report"],
            output_dir=config.get("output_dir"),
            files=files,
        )

    @classmethod
    def load(cls, output_dir):
        """Reloads the result a finished run wrote to `output_dir`.

        Raises:
            FileNotFoundError: if `output_dir` has no `report.json`.
        """
        path = os.path.join(output_dir, "report.json")
        if not os.path.exists(path):
            raise FileNotFoundError(
                f"No finished compress run in {output_dir!r}: "
                "report.json is missing."
            )
        with open(path) as f:
            report = json.load(f)
        files = {
            name: os.path.join(output_dir, name)
            for name in sorted(os.listdir(output_dir))
            if name.endswith((".keras", ".tflite", ".json", ".md", ".png"))
        }
        return cls.from_config(
            {"report": report, "output_dir": output_dir, "files": files}
        )

    def __repr__(self):
        student = self.report.get("student", {})
        return (
            f"CompressResult(macs={student.get('macs')}, "
            f"params={student.get('params')}, "
            f"accuracy={student.get('accuracy')}, "
            f"tflite={sorted(self.tflite)})"
        )


def _exists(path):
    return bool(path) and os.path.exists(path)


def _load_model(path):
    if not _exists(path):
        return None
    return keras.saving.load_model(path, compile=False)
