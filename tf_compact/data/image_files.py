"""Cheap checks of image files: their first and last bytes.

A decoding error inside a `tf.data` pipeline does not say which file
failed. Reading a few bytes at both ends of every file when a folder is
listed finds the common damage by name, at a small cost: a file that is
not the image its extension says, and a PNG or BMP cut short (a PNG ends
with its IEND chunk; a BMP's header gives its size).
"""

import os

_MAGIC = {
    ".png": (b"\x89PNG\r\n\x1a\n",),
    ".jpg": (b"\xff\xd8\xff",),
    ".jpeg": (b"\xff\xd8\xff",),
    ".gif": (b"GIF87a", b"GIF89a"),
    ".bmp": (b"BM",),
}
# How far from the end a PNG's IEND chunk may sit (a few trailing bytes
# are tolerated, as decoders do).
_PNG_TAIL = 64


def damage(path):
    """Why the image file at `path` cannot be decoded, or `None`.

    Example:

    ```python
    damage("cats/001.png")  # None, or "it ends before its IEND chunk"
    ```
    """
    kind = os.path.splitext(path)[1].lower()
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        head = f.read(16)
        f.seek(max(0, size - _PNG_TAIL))
        tail = f.read()
    if not head.startswith(_MAGIC.get(kind, (b"",))):
        return f"it does not start as a {kind[1:].upper()} file does"
    if kind == ".png" and b"IEND" not in tail:
        return "it ends before its IEND chunk (cut short)"
    if kind == ".bmp" and int.from_bytes(head[2:6], "little") > size:
        return "it is shorter than its header says (cut short)"
    return None


def check_files(files):
    """Raises `ValueError` naming the first damaged image in `files`."""
    for path in files:
        why = damage(str(path))
        if why is not None:
            raise ValueError(
                f"Cannot decode the image file {path}: {why}. Fix or remove it."
            )
