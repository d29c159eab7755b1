"""File helpers of the stage store: digests, atomic writes, JSON values."""

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
