"""Parses the absl flags once so the command modules can be driven by
`flagsaver` in tests."""

import pytest
from absl import flags

from tf_compact.cli import benchmark_tflite  # noqa: F401
from tf_compact.cli import compress  # noqa: F401
from tf_compact.cli import export_tflite  # noqa: F401
from tf_compact.cli import train_teacher  # noqa: F401


@pytest.fixture(autouse=True, scope="session")
def parsed_flags():
    if not flags.FLAGS.is_parsed():
        flags.FLAGS(["pytest"])
    yield flags.FLAGS
