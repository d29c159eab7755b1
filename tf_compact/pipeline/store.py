"""Stage checkpoints of a `compress` run, kept in its output directory.

Each finished stage is recorded in `stages.json` together with the
settings of the run and a SHA-256 digest of every file the stage wrote;
the models and TFLite files a stage produced are saved next to it.
Rerunning `compress` with the same output directory and the same settings
skips the finished stages and reloads what they produced, so an
interrupted run resumes where it stopped. A checkpoint found damaged
(truncated or altered since its stage finished) is reported by name and
its stage runs again, with every stage after it. Without an output
directory everything stays in memory and nothing is resumable.
"""

import json
import os
import shutil

import keras

from tf_compact.internal.user_warning import warn
from tf_compact.pipeline import store_files
from tf_compact.pipeline.store_files import DamagedCheckpointError
from tf_compact.pipeline.store_files import SettingsMismatchError

STATE_FILE = "stages.json"
#: Folder of the mid-stage training backups (`BackupAndRestore`).
BACKUP_DIR = "backup"
#: Files a run writes besides its stage artifacts (report and plots).
RUN_FILES = (
    "report.json",
    "report.md",
    "tradeoff.png",
    "widths.png",
    "strength.png",
    "schedule.png",
)
#: Artifacts of the default stages, removed by a fresh start even when
#: `stages.json` is missing or unreadable.
DEFAULT_ARTIFACTS = (
    "student_init.keras",
    "student.keras",
    "slim.keras",
    "slim_finetuned.keras",
    "model_float32.tflite",
    "model_float16.tflite",
    "model_dynamic.tflite",
    "model_int8.tflite",
    "teacher_float32.tflite",
    "model_edgetpu.tflite",
)
#: The TFLite files the export stages write, the only `.tflite` files a
#: rerun removes unrecorded (left by a stage that failed part-way): other
#: `.tflite` files in the folder are the user's.
PIPELINE_TFLITE = tuple(f for f in DEFAULT_ARTIFACTS if f.endswith(".tflite"))


class StageStore:
    """Records finished stages and their artifacts.

    A new store over an `output_dir` that holds an earlier run:

    - with `resume=False`, deletes that run's stage records, artifacts,
      report files and training backups (the `backup/` folder), and says
      so through `log`: nothing of the earlier run is reused;
    - with `resume=True`, refuses a run made with other settings (the
      error names every differing setting), and checks the files of every
      finished stage against the digests recorded when it finished: the
      first stage with a missing or damaged file, and every stage after
      it, run again. An unreadable `stages.json` starts the run clean.
      Changed `export_settings` alone are no refusal: the stages that read
      them, and the stages finished after them, run again (said in the
      log); the other finished stages are reused.

    Args:
        output_dir: directory for the artifacts, or `None` to keep them in
            memory only.
        settings: JSON-able settings of the run; a directory that holds a
            run with different settings is not resumed.
        resume: reuse finished stages found in `output_dir`. With `False`
            the earlier run's files are cleared and every stage runs
            again. Defaults to `True`.
        log: callable taking one message string, told what was cleared or
            found damaged. Defaults to `None` (silent). A damaged
            checkpoint is also reported as a `UserWarning`.
        export_settings: `{stage: setting names}` of settings that only
            that export stage and the stages after it read, in run order.
            Defaults to `None` (every setting refuses a resume).

    Raises:
        SettingsMismatchError: (a `ValueError`) if `resume` is `True` and
            `output_dir` holds a run made with different settings.

    Example:

    ```python
    store = StageStore("out", {"epochs": 2})
    store.begin("slim")
    store.put_model("slim", model)
    store.finish("slim", {"accuracy": 0.9})
    StageStore("out", {"epochs": 2}).done("slim")  # True
    ```
    """

    def __init__(
        self, output_dir, settings, resume=True, log=None, export_settings=None
    ):
        self.output_dir = output_dir
        self.settings = store_files.jsonable(settings)
        self._log = log or (lambda message: None)
        self._models = {}
        self._bytes = {}
        self._records = {}
        self._files = {}
        self._pending = []
        if output_dir is None:
            return
        os.makedirs(output_dir, exist_ok=True)
        previous, problem = store_files.read_state(self.path(STATE_FILE))
        if not resume:
            self._clear(previous, "not resuming, as asked")
        elif problem is not None:
            self._damaged(
                f"{self.path(STATE_FILE)} is damaged ({problem}): the "
                "earlier run cannot be resumed, starting clean."
            )
            self._clear(None, "a damaged stages.json")
        elif previous is None:
            if os.path.isdir(self.path(BACKUP_DIR)):
                self._clear(None, "training backups without stages.json")
        else:
            old_settings = previous.get("settings", {})
            changed = store_files.changed(old_settings, self.settings)
            again = store_files.rerun_stages(changed, export_settings or {})
            if again is None:
                raise SettingsMismatchError(
                    f"The output directory {output_dir!r} holds a compress "
                    "run with different settings, so it cannot be resumed. "
                    "Use another `output_dir`, or pass `resume=False` to "
                    f"start over there. Changed settings: {changed}",
                    changed,
                )
            self._records = dict(previous.get("stages", {}))
            self._files = dict(previous.get("files", {}))
            if again:
                self._run_again(again, changed)
            self._drop_damaged()
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

    def begin(self, stage):
        """Starts tracking the files `stage` writes until `finish`."""
        self._pending = []

    def finish(self, stage, record):
        """Marks `stage` finished with its JSON-able `record`.

        The digests of the files the stage wrote since `begin` are kept
        with the record, so a later run can tell a damaged checkpoint.
        """
        self._records.pop(stage, None)
        self._records[stage] = store_files.jsonable(record)
        if self.output_dir is not None:
            written = set(self._pending)
            for files in self._files.values():
                for name in written & set(files):
                    del files[name]
            self._files[stage] = {
                name: store_files.digest(self.path(name))
                for name in dict.fromkeys(self._pending)
                if os.path.exists(self.path(name))
            }
        self._pending = []
        self._write_state()

    def put_model(self, key, model):
        """Keeps `model` under `key`, saved as `<key>.keras`."""
        self._models[key] = model
        if self.output_dir is not None:
            model.save(self.path(f"{key}.keras"))
            self._pending.append(f"{key}.keras")

    def model(self, key):
        """The model stored under `key` (reloaded after a restart).

        Raises:
            KeyError: if no model was stored under `key`.
            DamagedCheckpointError: if `<key>.keras` cannot be loaded.
        """
        if key not in self._models:
            path = self.path(f"{key}.keras")
            if not self._ours(f"{key}.keras"):
                raise KeyError(f"No model {key!r} was produced by this run.")
            try:
                model = keras.saving.load_model(path, compile=False)
            except (OSError, ValueError, EOFError) as err:
                raise DamagedCheckpointError(
                    f"The checkpoint {path!r} cannot be loaded ({err}). "
                    "Rerun with `resume=False` to start over.",
                    path,
                ) from err
            self._models[key] = model
        return self._models[key]

    def has_model(self, key):
        """Whether a model is stored under `key`."""
        return key in self._models or self._ours(f"{key}.keras")

    def _ours(self, filename):
        """Whether this run (or the one it resumes) wrote `filename`, on
        disk: a file of that name from elsewhere is not."""
        names = {n for files in self._files.values() for n in files}
        path = self.path(filename)
        return filename in names | set(self._pending) and os.path.isfile(path)

    def put_bytes(self, filename, data):
        """Keeps `data` under `filename`, written to the output directory."""
        self._bytes[filename] = bytes(data)
        if self.output_dir is not None:
            with open(self.path(filename), "wb") as f:
                f.write(bytes(data))
            self._pending.append(filename)

    def bytes(self, filename):
        """The bytes stored under `filename` (re-read after a restart)."""
        if filename not in self._bytes:
            path = self.path(filename)
            if not self._ours(filename):
                raise KeyError(f"No file {filename!r} in this run.")
            with open(path, "rb") as f:
                self._bytes[filename] = f.read()
        return self._bytes[filename]

    def write_json(self, filename, obj):
        """Writes `obj` as JSON to the output directory (if any)."""
        if self.output_dir is None:
            return None
        path = self.path(filename)
        text = json.dumps(store_files.jsonable(obj), indent=2)
        store_files.atomic_write(path, text)
        return path

    def backup_path(self, name):
        """The path of `name` under the training-backup folder, or None."""
        if self.output_dir is None:
            return None
        return os.path.join(self.output_dir, BACKUP_DIR, name)

    def _clear(self, previous, reason):
        """Deletes an earlier run's records, artifacts and backups."""
        names = set(DEFAULT_ARTIFACTS) | set(RUN_FILES) | {STATE_FILE}
        for files in (previous or {}).get("files", {}).values():
            names.update(files)
        removed = []
        for name in sorted(names):
            path = self.path(name)
            if os.path.isfile(path):
                os.remove(path)
                removed.append(name)
        backup = self.path(BACKUP_DIR)
        if os.path.isdir(backup):
            shutil.rmtree(backup)
            removed.append(BACKUP_DIR + "/")
        stages = sorted((previous or {}).get("stages", {}))
        if removed or stages:
            self._log(
                f"Starting over in {self.output_dir!r} ({reason}): cleared "
                f"the earlier run's finished stages {stages} and files "
                f"{removed}."
            )
        self._records, self._files = {}, {}

    def _run_again(self, stages, changed):
        """Forgets `stages`, those finished after them, and their files."""
        names = list(self._records)
        first = min(
            (names.index(s) for s in stages if s in names), default=None
        )
        dropped = [] if first is None else names[first:]
        gone = {f for name in dropped for f in self._files.pop(name, {})}
        for name in dropped:
            del self._records[name]
        # With the TFLite files a stage that failed part-way left
        # unrecorded: only the pipeline's own names, never the user's.
        gone |= set(PIPELINE_TFLITE)
        removed = []
        for filename in sorted(
            gone - {f for fs in self._files.values() for f in fs}
        ):
            if os.path.isfile(self.path(filename)):
                os.remove(self.path(filename))
                removed.append(filename)
        files = f"; removed their earlier files {removed}" if removed else ""
        self._log(
            f"Resuming in {self.output_dir!r} with other export settings "
            f"{changed}: the finished training stages are reused; stages "
            f"{list(dict.fromkeys(stages + dropped))} run again with the new "
            f"settings{files}."
        )

    def _drop_damaged(self):
        """Forgets the first stage with a bad file and all after it."""
        names = list(self._records)
        for index, stage in enumerate(names):
            files = self._files.get(stage, {})
            problem = store_files.check_files(self.output_dir, stage, files)
            if problem is None:
                continue
            later = names[index:]
            self._damaged(
                f"{problem}: stage {stage!r} and the stages after it "
                f"({later[1:]}) run again."
            )
            for name in later:
                self._records.pop(name, None)
                self._files.pop(name, None)
            # Backups of unfinished stages grew from the damaged output.
            backup = self.path(BACKUP_DIR)
            if os.path.isdir(backup):
                shutil.rmtree(backup)
            return

    def _damaged(self, message):
        """Reports a damaged checkpoint in the log and as a warning."""
        self._log(message)
        warn(message)

    def _write_state(self):
        if self.output_dir is None:
            return
        state = {"settings": self.settings, "stages": self._records}
        state["files"] = self._files
        text = json.dumps(state, indent=2)
        store_files.atomic_write(self.path(STATE_FILE), text)
