"""Shared test setup: quiet TensorFlow, deterministic seeds, one thread per
xdist worker so two workers share the two cores instead of fighting."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import pytest  # noqa: E402

if os.environ.get("PYTEST_XDIST_WORKER"):
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(2)


@pytest.fixture(autouse=True)
def _seed():
    keras.utils.set_random_seed(1234)
    yield
    # Reset layer-name counters between tests; skip the costly gc pass.
    keras.backend.clear_session(free_memory=False)


@pytest.fixture
def parsed_flags():
    """absl flag values readable outside `app.run` (for the benchmark
    scripts' functions; set the flags a test reads with `flagsaver`)."""
    from absl import flags

    if not flags.FLAGS.is_parsed():
        flags.FLAGS.mark_as_parsed()
