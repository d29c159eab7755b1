"""Profiles survive a JSON round trip through get_config/from_config."""

import json

import keras

import tf_compact as tfc
from tf_compact.profile import ProfileComparison

L = keras.layers


def _model():
    a = keras.Input((6,))
    b = keras.Input((6,))
    x = L.Concatenate()([L.Dense(4)(a), L.Dense(4)(b)])
    return keras.Model([a, b], [L.Dense(2)(x), x])


def test_layer_profile_round_trip():
    row = tfc.profile(_model()).layers[0]
    config = json.loads(json.dumps(row.get_config()))
    assert tfc.LayerProfile.from_config(config) == row


def test_model_profile_round_trip():
    prof = tfc.profile(_model(), batch_size=3)
    data = json.loads(json.dumps(prof.to_dict()))
    assert data["macs"] == prof.macs
    assert data["params"] == prof.params
    again = tfc.ModelProfile.from_config(data)
    assert again.layers == prof.layers
    assert again.get_config() == prof.get_config()
    assert again.table() == prof.table()


def test_comparison_round_trip():
    prof = tfc.profile(_model())
    cmp = tfc.compare_profiles(prof, prof)
    config = json.loads(json.dumps(cmp.get_config()))
    again = ProfileComparison.from_config(config)
    assert again.to_dict() == cmp.to_dict()
    assert again.macs_reduction == 1.0
