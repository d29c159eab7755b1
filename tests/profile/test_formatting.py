"""Human units and table layout."""

import keras
import pytest

import tf_compact as tfc
from tf_compact.profile import formatting


@pytest.mark.parametrize(
    "value, text",
    [
        (0, "0"),
        (950, "950"),
        (1234, "1.23K"),
        (1_234_567, "1.23M"),
        (569_000_000, "569M"),
        (4_100_000_000, "4.1G"),
        (None, "-"),
    ],
)
def test_format_count(value, text):
    assert formatting.format_count(value) == text


@pytest.mark.parametrize(
    "value, text",
    [(12, "12 B"), (1536, "1.5 KiB"), (3 * 2**20, "3 MiB"), (None, "-")],
)
def test_format_bytes(value, text):
    assert formatting.format_bytes(value) == text


def test_format_shape_single_and_multiple():
    assert formatting.format_shape((1, 4)) == "(1, 4)"
    assert formatting.format_shape((7,)) == "(7,)"
    assert formatting.format_shape(((1, 2), (1, 3))) == "(1, 2), (1, 3)"


def test_render_table_aligns_columns():
    text = formatting.render_table(
        "T", ["name", "n"], [["a", "1"], ["long name", "123"]], {1}, ["end"]
    )
    lines = text.splitlines()
    assert lines[0] == "T"
    assert lines[2] == "name         n"
    assert lines[4] == "a            1"
    assert lines[5] == "long name  123"
    assert lines[-1] == "end"


def test_layer_lookup_by_path_or_unique_name():
    inner_in = keras.Input((3,))
    x = keras.layers.Dense(3, name="x")(inner_in)
    inner = keras.Model(inner_in, x, name="inner")
    inputs = keras.Input((3,))
    head = keras.layers.Dense(2, name="head")
    model = keras.Model(inputs, head(inner(inner(inputs))))
    prof = tfc.profile(model)
    assert prof.layer("inner:1/x:1").call_index == 1
    assert prof.layer("head").path == "head"
    with pytest.raises(KeyError, match="No single layer row matches 'x'"):
        prof.layer("x")
    with pytest.raises(KeyError, match="'missing'"):
        prof.layer("missing")


def test_augmentation_layers_cost_nothing_and_are_known():
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.RandomFlip()(inputs)
    x = keras.layers.RandomRotation(0.1)(x)
    model = keras.Model(inputs, keras.layers.Conv2D(2, 1)(x))
    prof = tfc.profile(model)
    assert prof.unknown_layers == []
    assert prof.macs == 8 * 8 * 2 * 3
