"""Before/after comparisons."""

import json

import keras
import pytest

import tf_compact as tfc

L = keras.layers


def _net(width, name):
    inputs = keras.Input((8, 8, 3))
    x = L.Conv2D(width, 3, padding="same", name="conv")(inputs)
    x = L.GlobalAveragePooling2D(name="gap")(x)
    outputs = L.Dense(4, name="head")(x)
    return keras.Model(inputs, outputs, name=name)


def test_compare_rows_and_reductions():
    before, after = _net(16, "wide"), _net(4, "narrow")
    cmp = tfc.compare_profiles(before, after)
    rows = {row["path"]: row for row in cmp.rows()}
    assert rows["conv"]["macs_before"] == 64 * 16 * 27
    assert rows["conv"]["macs_after"] == 64 * 4 * 27
    assert rows["conv"]["macs_ratio"] == pytest.approx(0.25)
    assert rows["gap"]["macs_ratio"] is None
    prof_before, prof_after = tfc.profile(before), tfc.profile(after)
    assert cmp.macs_reduction == pytest.approx(
        prof_before.macs / prof_after.macs
    )
    assert cmp.params_reduction == pytest.approx(
        before.count_params() / after.count_params()
    )
    totals = cmp.totals()
    assert totals["params"]["before"] == before.count_params()
    assert totals["params"]["after"] == after.count_params()


def test_compare_accepts_profiles_and_unmatched_layers():
    before = tfc.profile(_net(8, "a"))
    inputs = keras.Input((8, 8, 3))
    x = L.SeparableConv2D(8, 3, padding="same", name="sep")(inputs)
    x = L.GlobalAveragePooling2D(name="gap")(x)
    after = tfc.profile(keras.Model(inputs, L.Dense(4, name="head")(x)))
    cmp = tfc.compare_profiles(before, after)
    rows = {row["path"]: row for row in cmp.rows()}
    assert rows["conv"]["macs_after"] is None
    assert rows["sep"]["macs_before"] is None
    assert rows["head"]["params_ratio"] == pytest.approx(1.0)


def test_compare_table_lists_layers_and_reduction():
    cmp = tfc.compare_profiles(_net(16, "wide"), _net(4, "narrow"))
    text = cmp.table()
    for name in ("conv", "gap", "head", "wide", "narrow"):
        assert name in text
    assert "Reduction factors" in text
    assert f"{cmp.macs_reduction:.3g}x" in text


def test_compare_to_dict_is_json_and_round_trips():
    cmp = tfc.compare_profiles(_net(16, "wide"), _net(4, "narrow"))
    data = json.loads(json.dumps(cmp.to_dict()))
    assert data["macs_reduction"] == pytest.approx(cmp.macs_reduction)
    again = type(cmp).from_config(data)
    assert again.rows() == cmp.rows()
    assert again.totals() == cmp.totals()


def test_compare_rejects_other_types():
    with pytest.raises(TypeError, match="Received: after="):
        tfc.compare_profiles(_net(4, "a"), "model.keras")
