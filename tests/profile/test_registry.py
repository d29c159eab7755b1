"""The cost-function registry and its failure modes."""

import keras
import pytest

import tf_compact as tfc
from tf_compact.profile import get_macs_fn
from tf_compact.profile import register_macs
from tf_compact.profile import unregister_macs

L = keras.layers


class Twice(L.Layer):
    def call(self, x):
        return 2.0 * x


class TwiceMore(Twice):
    pass


def _model(layer):
    inputs = keras.Input((3,))
    return keras.Model(inputs, layer(inputs))


@pytest.fixture
def registered():
    added = []

    def add(cls, fn):
        register_macs(cls, fn)
        added.append(cls)

    yield add
    for cls in added:
        unregister_macs(cls)


def test_lookup_follows_the_class_hierarchy(registered):
    assert get_macs_fn(Twice) is None
    registered(Twice, lambda layer, ins, outs: 7)
    assert get_macs_fn(TwiceMore) is get_macs_fn(Twice)
    prof = tfc.profile(_model(TwiceMore(name="t")))
    assert prof.layer("t").macs == 7
    assert prof.layer("t").other_ops == 0


def test_unregister_returns_the_removed_function(registered):
    def fn(layer, ins, outs):
        return 1

    register_macs(Twice, fn)
    assert unregister_macs(Twice) is fn
    assert unregister_macs(Twice) is None
    assert get_macs_fn(Twice) is None


@pytest.mark.parametrize(
    "bad",
    [lambda layer, ins, outs: "many", lambda layer, ins, outs: (1, 2, 3)],
)
def test_invalid_cost_result_is_reported_not_raised(registered, bad):
    registered(Twice, bad)
    with pytest.warns(UserWarning, match="'t'.*counted as 0 MACs"):
        prof = tfc.profile(_model(Twice(name="t")))
    assert prof.layer("t").macs == 0


def test_failing_cost_function_is_reported_not_raised(registered):
    def broken(layer, ins, outs):
        raise RuntimeError("boom")

    registered(Twice, broken)
    with pytest.warns(UserWarning, match="RuntimeError: boom"):
        prof = tfc.profile(_model(Twice(name="t")))
    assert prof.macs == 0


def test_register_validates_its_arguments():
    with pytest.raises(TypeError, match="Received: layer_cls="):
        register_macs(L.Dense(2), lambda *a: 0)
    with pytest.raises(TypeError, match="Received: fn="):
        register_macs(Twice, 3)
    with pytest.raises(TypeError, match="Received: layer_cls="):
        get_macs_fn("Dense")


def test_registry_is_reachable_from_the_profile_function():
    assert tfc.profile.register_macs is register_macs
    assert tfc.profile.get_macs_fn(L.Conv2D) is not None


class Block(keras.Model):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.dense = L.Dense(3)

    def call(self, x):
        return self.dense(x)


def test_registered_cost_wins_over_sublayers(registered):
    registered(Block, lambda layer, ins, outs: 1000)
    inputs = keras.Input((3,))
    model = keras.Model(inputs, Block(name="blk")(inputs))
    prof = tfc.profile(model)
    assert [row.path for row in prof.layers] == ["blk"]
    assert prof.macs == 1000
    assert prof.params == model.count_params()
