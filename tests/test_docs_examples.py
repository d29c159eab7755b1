"""The guides' promises: every ```python block of docs/guides/*.md and
docs/concepts.md runs as written.

A page's blocks run in order in one namespace (later blocks use what
earlier ones define), after a short prelude that makes what the page
takes for granted: your trained `teacher` (also `model`), its data
(`train_data`, `val_data`, `test_data`, `bundle`) and a smaller `small`
(also `slim`) of it, on a few hundred built-in Fashion-MNIST images. A
block that cannot run here (a phone, an Edge TPU, a download) follows a
line `<!-- docs-test: skip (why) -->` that readers see in the source.
"""

import functools
import os
import re
import types
import warnings

import pytest

import tf_compact as tfc

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOCS = os.path.join(ROOT, "docs")
BLOCK = re.compile(
    r"^(?:<!-- docs-test: (?P<marker>.*?) -->\n)?```python\n(?P<code>.*?)^```",
    re.M | re.S,
)
SKIP = re.compile(r"skip \((?P<reason>[^)]+)\)")


class SkippedExample(UserWarning):
    """A docs block that the test leaves out, with the page's reason."""


# What every page takes for granted. Modules are not handed on: a page
# imports what it uses, as a reader's script must.
PRELUDE = """
import keras
import tf_compact as tfc

bundle = tfc.data.builtin(batch_size=64, validation_split=0.25)
train_data, val_data, test_data = bundle.train, bundle.val, bundle.test
teacher = tfc.models.small_cnn()
teacher.compile(
    "adam",
    keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    metrics=["accuracy"],
)
teacher.fit(train_data, epochs=1, verbose=0)
teacher.save("teacher.keras")
model = teacher


def make_student():
    student = keras.models.clone_model(teacher)
    student.set_weights(teacher.get_weights())
    return student


student = make_student()
small = slim = tfc.prune(teacher, target_macs=0.5, round_to=8)
"""


def _pages():
    names = sorted(os.listdir(os.path.join(DOCS, "guides")))
    return [f"guides/{n}" for n in names if n.endswith(".md")] + ["concepts.md"]


def blocks(text):
    """Returns `(code, skip_reason or None)` for each python block."""
    found = []
    for match in BLOCK.finditer(text):
        marker = match.group("marker")
        reason = None
        if marker is not None:
            skip = SKIP.fullmatch(marker.strip())
            if not skip:
                raise ValueError(
                    "A docs-test marker must read `<!-- docs-test: skip "
                    f"(reason) -->`. Received: <!-- docs-test: {marker} -->"
                )
            reason = skip.group("reason")
        found.append((match.group("code"), reason))
    markers = text.count("<!-- docs-test:")
    if markers != sum(reason is not None for _, reason in found):
        raise ValueError(
            "A docs-test marker must stand on the line right before a "
            f"```python block. Received: {markers} markers for "
            f"{sum(r is not None for _, r in found)} marked blocks"
        )
    return found


def test_blocks_reads_markers():
    text = (
        "```python\na = 1\n```\n"
        "<!-- docs-test: skip (needs a phone over adb) -->\n"
        "```python\nb = 2\n```\n"
    )
    assert blocks(text) == [
        ("a = 1\n", None),
        ("b = 2\n", "needs a phone over adb"),
    ]
    with pytest.raises(ValueError, match="skip"):
        blocks("<!-- docs-test: skip -->\n```python\nc = 3\n```\n")
    with pytest.raises(ValueError, match="right before"):
        blocks("<!-- docs-test: skip (x) -->\n\n```python\nd = 4\n```\n")


def _prelude():
    namespace = {}
    exec(compile(PRELUDE, "prelude", "exec"), namespace)  # noqa: S102
    return {
        k: v
        for k, v in namespace.items()
        if not isinstance(v, types.ModuleType) and not k.startswith("__")
    }


@pytest.mark.parametrize("page", _pages())
def test_page_runs(page, monkeypatch, tmp_path):
    with open(os.path.join(DOCS, page), encoding="utf-8") as f:
        found = blocks(f.read())
    assert found, f"{page} has no python blocks"
    monkeypatch.setattr(
        tfc.data, "builtin", functools.partial(tfc.data.builtin, limit=384)
    )
    monkeypatch.setenv("TF_COMPACT_CACHE", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    namespace = _prelude()
    for number, (code, reason) in enumerate(found, 1):
        where = f"{page} block {number}"
        if reason is not None:
            # Listed in the warnings summary, also under pytest-xdist.
            warnings.warn(
                f"skipped {where}: {reason}", SkippedExample, stacklevel=1
            )
            continue
        exec(compile(code, where, "exec"), namespace)  # noqa: S102
