"""`benchmarks/bench_latency_landing.py` records where a latency-pruned
model lands against its target."""

import json

import keras
import pytest
from absl.testing import flagsaver

from tests.bench_scripts import import_script

bench_latency_landing = import_script("bench_latency_landing")
import common  # noqa: E402


def _tiny():
    inputs = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(32, 3, padding="same", use_bias=False)(inputs)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.ReLU()(x)
    x = keras.layers.Conv2D(64, 3, padding="same", activation="relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(10)(x))


@pytest.mark.slow
def test_each_fraction_is_pruned_measured_and_judged(
    tmp_path, monkeypatch, parsed_flags
):
    monkeypatch.setenv("TF_COMPACT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(common, "load_teacher", lambda name: _tiny())
    with flagsaver.flagsaver(
        teachers=["tiny"],
        fractions=["0.6", "0.01"],
        runs=5,
        repeats=1,
        round_to=8,
        threads=1,
        goal=0.1,
        name="landing",
        results_dir=str(tmp_path),
    ):
        bench_latency_landing.main([])
    with open(tmp_path / "landing.json", encoding="utf-8") as f:
        payload = json.load(f)
    row, out_of_reach = payload["teachers"]["tiny"]
    # A target no width reaches is recorded as refused, not a crash.
    assert "cannot be pruned" in out_of_reach["refused"]
    assert row["fraction"] == 0.6
    assert row["macs_fraction"] < 1.0
    # The ratio is against the teacher timed in the same rounds.
    expected = row["measured_ms"] / (0.6 * row["teacher_ms"])
    assert abs(row["ratio"] - expected) < 1e-9
    assert row["landed"] == (abs(row["ratio"] - 1.0) <= 0.1)
    text = (tmp_path / "landing.md").read_text(encoding="utf-8")
    assert "| tiny | 0.60 |" in text
    assert "| tiny | 0.01 |" in text and "refused: out of reach" in text
    assert "Landed within the goal:" in text
