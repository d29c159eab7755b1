"""Helpers of the stage store: state file, digests, JSON, what reruns;
the errors it raises."""

import hashlib
import json
import os


def digest(path):
    """The SHA-256 hex digest of the file at `path`."""
    sha = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            sha.update(chunk)
    return sha.hexdigest()


def check_files(output_dir, stage, files):
    """What is wrong with a stage's `{filename: digest}` files, or None."""
    for name, expected in files.items():
        path = os.path.join(output_dir, name)
        if not os.path.exists(path):
            return f"The checkpoint {path!r} of stage {stage!r} is missing"
        if digest(path) != expected:
            return (
                f"The checkpoint {path!r} of stage {stage!r} is damaged "
                "(its content changed since the stage finished)"
            )
    return None


def atomic_write(path, text):
    """Writes `text` to `path` through a temporary file and a rename."""
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def changed(old, new):
    """`{key: (old value, new value)}` for the keys whose values differ."""
    keys = sorted(set(old) | set(new))
    return {
        k: (old.get(k), new.get(k)) for k in keys if old.get(k) != new.get(k)
    }


def read_state(path):
    """`(state, problem)`: the state dict at `path` or None, and why not."""
    if not os.path.exists(path):
        return None, None
    try:
        with open(path) as f:
            state = json.load(f)
    except (OSError, UnicodeDecodeError, ValueError) as err:
        return None, f"{type(err).__name__}: {err}"
    if not isinstance(state, dict) or not isinstance(
        state.get("stages", {}), dict
    ):
        return None, "not a stage record"
    return state, None


def rerun_stages(changed, export_settings):
    """The stages a resume with `changed` settings runs again.

    Args:
        changed: `{setting: (old, new)}`, as `changed` returns.
        export_settings: `{stage: setting names}` in run order: settings
            that only that stage and the stages after it read.

    Returns:
        `[]` when nothing changed; the stages from the first one that
        reads a changed setting on, when only such settings changed;
        `None` when another setting changed (the run cannot resume).
    """
    stages = list(export_settings)
    reading = [
        i
        for i, s in enumerate(stages)
        if set(changed) & set(export_settings[s])
    ]
    covered = {k for names in export_settings.values() for k in names}
    if not set(changed) <= covered:
        return None
    return stages[min(reading) :] if reading else []


def jsonable(obj):
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


class DamagedCheckpointError(OSError):
    """A checkpoint file of a `compress` run cannot be read back.

    Attributes:
        path: the file that cannot be loaded.
    """

    def __init__(self, message, path=None):
        super().__init__(message)
        self.path = path


class SettingsMismatchError(ValueError):
    """An output directory holds a `compress` run with other settings.

    Attributes:
        changed: `{setting: (earlier value, new value)}` of the settings
            that differ.
    """

    def __init__(self, message, changed):
        super().__init__(message)
        self.changed = changed
