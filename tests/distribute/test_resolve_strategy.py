"""resolve_strategy: names, strategy objects and errors."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.distribute import checks
from tf_compact.internal import distribute


def test_none_is_the_strategy_in_effect():
    for name in (None, "none", "off", "NONE"):
        strategy = distribute.resolve_strategy(name)
        assert strategy is tf.distribute.get_strategy()
        assert distribute.strategy_name(strategy) == "none (1 replica)"
        assert distribute.is_chief(strategy)


def test_mirrored_over_given_devices():
    strategy = distribute.resolve_strategy("Mirrored", devices=["/cpu:0"])
    assert isinstance(strategy, tf.distribute.MirroredStrategy)
    assert strategy.extended.worker_devices == (
        "/job:localhost/replica:0/task:0/device:CPU:0",
    )
    assert distribute.strategy_name(strategy) == "mirrored (1 replica)"
    assert distribute.is_chief(strategy)


def test_strategy_object_passes_through():
    strategy = tf.distribute.OneDeviceStrategy("/cpu:0")
    assert distribute.resolve_strategy(strategy) is strategy
    assert distribute.strategy_name(strategy) == (
        "OneDeviceStrategy (1 replica)"
    )


@pytest.mark.parametrize(
    "name, key",
    [
        ("multi-worker", "multi_worker"),
        ("multi_worker_mirrored", "multi_worker"),
        ("MIRRORED", "mirrored"),
        ("off", "none"),
        (None, "none"),
    ],
)
def test_strategy_key_spellings(name, key):
    assert distribute.strategy_key(name) == key


def test_unknown_name_names_the_choices():
    with pytest.raises(ValueError, match=r"strategy=.tpu.") as info:
        distribute.resolve_strategy("tpu")
    assert "['none', 'mirrored', 'multi_worker']" in str(info.value)


def test_wrong_type_is_a_type_error():
    with pytest.raises(TypeError, match="strategy=2 of type int"):
        distribute.resolve_strategy(2)


def test_devices_only_with_mirrored():
    with pytest.raises(ValueError, match="devices"):
        distribute.resolve_strategy("none", devices=["/cpu:0"])
    with pytest.raises(TypeError, match="devices='/cpu:0'"):
        distribute.resolve_strategy("mirrored", devices="/cpu:0")
    with pytest.raises(TypeError, match="devices"):
        distribute.resolve_strategy("mirrored", devices=[])


def test_bad_tf_config_is_reported(monkeypatch):
    monkeypatch.setenv("TF_CONFIG", "{not json")
    with pytest.raises(ValueError, match="TF_CONFIG"):
        distribute.resolve_strategy("multi_worker")


def test_one_device_helpers_change_nothing():
    value = tf.constant([1.0, 2.0])
    assert distribute.num_replicas() == 1
    assert distribute.scale_for_replicas(value) is value
    assert distribute.gather_replicas(value) is value


def test_scale_and_gather_inside_replicas():
    strategy = distribute.resolve_strategy("mirrored", devices=["/cpu:0"])

    def step():
        value = tf.constant([[1.0, 2.0]])
        return (
            distribute.scale_for_replicas(tf.constant(3.0)),
            distribute.gather_replicas(value),
        )

    scaled, gathered = strategy.run(tf.function(step))
    assert float(scaled) == 3.0
    np.testing.assert_array_equal(gathered.numpy(), [[1.0, 2.0]])


def test_scope_of_follows_the_model():
    strategy = distribute.resolve_strategy("mirrored", devices=["/cpu:0"])
    with strategy.scope():
        model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    with distribute.scope_of(model):
        variable = keras.Variable(np.zeros(2, "float32"))
    assert isinstance(variable.value, tf.distribute.DistributedValues)
    plain = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    with distribute.scope_of(plain):
        other = keras.Variable(np.zeros(2, "float32"))
    assert not isinstance(other.value, tf.distribute.DistributedValues)


_LATE_MULTI_WORKER = """
import json, os
os.environ["TF_CONFIG"] = json.dumps({
    "cluster": {"worker": ["localhost:1", "localhost:2"]},
    "task": {"type": "worker", "index": 0},
})
import tensorflow as tf
tf.constant([1.0]) + 1.0
from tf_compact.internal import distribute
try:
    distribute.resolve_strategy("multi_worker")
except RuntimeError as error:
    print("ERROR", error)
"""


def test_multi_worker_made_after_other_work_says_what_to_do():
    done = checks.run_snippet(_LATE_MULTI_WORKER, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "ERROR MultiWorkerMirroredStrategy must be made before" in (
        done.stdout
    )
    assert "compress(..., strategy=strategy)" in done.stdout
