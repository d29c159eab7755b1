"""Cheap checks of image files: their first and last bytes.

A decoding error inside a `tf.data` pipeline does not say which file
failed. Reading a few bytes at both ends of every file when a folder is
listed finds the common damage by name, at a small cost: a file that is
not the image its extension says, and a PNG, BMP or JPEG cut short (a PNG
ends with its IEND chunk; a BMP's header gives its size; a JPEG ends with
its end-of-image marker, though some writers append data after it, so a
JPEG without the marker near its end is decoded once to be sure).
"""

import os

_MAGIC = {
    ".png": (b"\x89PNG\r\n\x1a\n",),
    ".jpg": (b"\xff\xd8\xff",),
    ".jpeg": (b"\xff\xd8\xff",),
    ".gif": (b"GIF87a", b"GIF89a"),
    ".bmp": (b"BM",),
}
# How far from the end a PNG's IEND chunk or a JPEG's end-of-image marker
# may sit (a few trailing bytes are tolerated, as decoders do).
_TAIL = 64
_JPEG_END = b"\xff\xd9"
_CUT_JPEG = "it ends before its end-of-image marker (cut short)"


def damage(path, decodes=None):
    """Why the image file at `path` cannot be decoded, or `None`.

    `decodes(path)` (optional) says whether the file really decodes; it is
    asked only about a JPEG whose end-of-image marker is not near its end,
    which is either cut short or followed by appended data. Without it
    such a JPEG is reported as cut short.

    Example:

    ```python
    damage("cats/001.png")  # None, or "it ends before its IEND chunk"
    ```
    """
    kind = os.path.splitext(path)[1].lower()
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        head = f.read(16)
        f.seek(max(0, size - _TAIL))
        tail = f.read()
    if not head.startswith(_MAGIC.get(kind, (b"",))):
        return f"it does not start as a {kind[1:].upper()} file does"
    if kind == ".png" and b"IEND" not in tail:
        return "it ends before its IEND chunk (cut short)"
    if kind == ".bmp" and int.from_bytes(head[2:6], "little") > size:
        return "it is shorter than its header says (cut short)"
    cut_jpeg = kind in (".jpg", ".jpeg") and _JPEG_END not in tail
    if cut_jpeg and (decodes is None or not decodes(path)):
        return _CUT_JPEG
    return None


def check_files(files, decodes=None):
    """Raises `ValueError` naming the first damaged image in `files`.

    `decodes` is passed on to `damage`.
    """
    for path in files:
        why = damage(str(path), decodes)
        if why is not None:
            raise ValueError(
                f"Cannot decode the image file {path}: {why}. Fix or remove it."
            )
