"""Stage checkpoints of a `compress` run, kept in its output directory.

Each finished stage is recorded in `stages.json` together with the
settings of the run; the models and TFLite files a stage produced are saved
next to it. Rerunning `compress` with the same output directory and the
same settings skips the finished stages and reloads what they produced, so
an interrupted run resumes where it stopped. Without an output directory
everything stays in memory and nothing is resumable.
"""

import json
import os

import keras

STATE_FILE = "stages.json"


class StageStore:
    """Records finished stages and their artifacts.

    Args:
        output_dir: directory for the artifacts, or `None` to keep them in
            memory only.
        settings: JSON-able settings of the run; a directory that holds a
            run with different settings is not resumed.
        resume: reuse finished stages found in `output_dir`. With `False`
            the stage records are cleared and every stage runs again.
            Defaults to `True`.

    Raises:
        ValueError: if `resume` is `True` and `output_dir` holds a run made
            with different settings.
    """

    def __init__(self, output_dir, settings, resume=True):
        self.output_dir = output_dir
        self.settings = _jsonable(settings)
        self._models = {}
        self._bytes = {}
        self._records = {}
        if output_dir is None:
            return
        os.makedirs(output_dir, exist_ok=True)
        previous = self._read_state()
        if resume and previous is not None:
            if previous.get("settings") != self.settings:
                raise ValueError(
                    f"The output directory {output_dir!r} holds a compress "
                    "run with different settings, so it cannot be resumed. "
                    "Use another `output_dir`, or pass `resume=False` to "
                    "start over there. Changed settings: "
                    f"{_changed(previous.get('settings', {}), self.settings)}"
                )
            self._records = previous.get("stages", {})
        self._write_state()

    def path(self, filename):
        """The path of `filename` in the output directory (or None)."""
        if self.output_dir is None:
            return None
        return os.path.join(self.output_dir, filename)

    def done(self, stage):
        """Whether `stage` finished in this or an earlier run."""
        return stage in self._records

    def record(self, stage):
        """The JSON record a finished stage returned."""
        return self._records[stage]

    def records(self):
        """All finished stages' records, in completion order."""
        return dict(self._records)

    def finish(self, stage, record):
        """Marks `stage` finished with its JSON-able `record`."""
        self._records[stage] = _jsonable(record)
        self._write_state()

    def put_model(self, key, model):
        """Keeps `model` under `key`, saved as `<key>.keras`."""
        self._models[key] = model
        if self.output_dir is not None:
            model.save(self.path(f"{key}.keras"))

    def model(self, key):
        """The model stored under `key` (reloaded after a restart)."""
        if key not in self._models:
            path = self.path(f"{key}.keras")
            if path is None or not os.path.exists(path):
                raise KeyError(f"No model {key!r} was produced by this run.")
            self._models[key] = keras.saving.load_model(path, compile=False)
        return self._models[key]

    def has_model(self, key):
        """Whether a model is stored under `key`."""
        path = self.path(f"{key}.keras")
        return key in self._models or bool(path and os.path.exists(path))

    def put_bytes(self, filename, data):
        """Keeps `data` under `filename`, written to the output directory."""
        self._bytes[filename] = bytes(data)
        if self.output_dir is not None:
            with open(self.path(filename), "wb") as f:
                f.write(bytes(data))

    def bytes(self, filename):
        """The bytes stored under `filename` (re-read after a restart)."""
        if filename not in self._bytes:
            path = self.path(filename)
            if path is None or not os.path.exists(path):
                raise KeyError(f"No file {filename!r} in this run.")
            with open(path, "rb") as f:
                self._bytes[filename] = f.read()
        return self._bytes[filename]

    def write_json(self, filename, obj):
        """Writes `obj` as JSON to the output directory (if any)."""
        if self.output_dir is None:
            return None
        path = self.path(filename)
        _atomic_write(path, json.dumps(_jsonable(obj), indent=2))
        return path

    def _read_state(self):
        path = self.path(STATE_FILE)
        if not os.path.exists(path):
            return None
        with open(path) as f:
            return json.load(f)

    def _write_state(self):
        if self.output_dir is None:
            return
        state = {"settings": self.settings, "stages": self._records}
        _atomic_write(self.path(STATE_FILE), json.dumps(state, indent=2))


def _atomic_write(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def _changed(old, new):
    keys = sorted(set(old) | set(new))
    return {
        k: (old.get(k), new.get(k)) for k in keys if old.get(k) != new.get(k)
    }


def _jsonable(obj):
    """Round-trips `obj` through JSON, turning numpy scalars into floats."""
    return json.loads(json.dumps(obj, default=_default))


def _default(value):
    if hasattr(value, "item"):
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, (set, tuple)):
        return list(value)
    return repr(value)
