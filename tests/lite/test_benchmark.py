"""tfc.lite.benchmark and compare."""

import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf

import tf_compact as tfc
from tests.lite import helpers


@pytest.fixture(scope="module")
def trained():
    x = helpers.images(64)
    y = helpers.labels_for(x)
    model = helpers.tiny_cnn(classes=2)
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(x, y, epochs=2, batch_size=16, verbose=0)
    return model, x, y


def test_result_fields(trained):
    model, _, _ = trained
    tflite = tfc.lite.convert(model)
    result = tfc.lite.benchmark(tflite, warmup=2, runs=20)
    assert result.runtime in tfc.lite.RUNTIMES
    assert result.delegate in ("xnnpack", "none")
    assert result.size_bytes == len(tflite)
    assert result.num_threads == 1
    assert result.runs == 20
    assert 0 < result.median_ms <= result.p90_ms
    assert result.mean_ms > 0
    assert result.accuracy is None
    assert result.name == "float32"


def test_accuracy_matches_keras(trained):
    model, x, y = trained
    tflite = tfc.lite.convert(model)
    keras_acc = np.mean(np.argmax(model.predict(x, verbose=0), -1) == y)
    as_tuple = tfc.lite.benchmark(tflite, runs=1, dataset=(x, y))
    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(7)
    as_dataset = tfc.lite.benchmark(tflite, runs=1, dataset=ds)
    assert as_tuple.accuracy == pytest.approx(keras_acc)
    assert as_dataset.accuracy == pytest.approx(keras_acc)


def test_dataset_batches_larger_than_the_invoke_batch_are_split(trained):
    # Batches of 12 run as 8 + 4 rows: the second batch starts at 8 rows
    # after the interpreter was left at 4, then must shrink back to 4.
    model, x, y = trained
    tflite = tfc.lite.convert(model)
    keras_acc = np.mean(np.argmax(model.predict(x, verbose=0), -1) == y)
    interpreter, _ = tfc.lite.make_interpreter(tflite)
    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(12)
    accuracy = tfc.lite.accuracy_of(interpreter, ds, batch_size=8)
    assert accuracy == pytest.approx(keras_acc)


def test_keras_model_and_path_inputs(trained, tmp_path):
    model, _, _ = trained
    from_model = tfc.lite.benchmark(model, runs=2, warmup=0)
    assert from_model.name == model.name
    path = tmp_path / "m.tflite"
    path.write_bytes(tfc.lite.convert(model))
    from_path = tfc.lite.benchmark(str(path), runs=2, name="file")
    assert from_path.name == "file"
    assert from_path.size_bytes == path.stat().st_size


def test_runtime_choice_is_reported(trained):
    model, _, _ = trained
    tflite = tfc.lite.convert(model)
    result = tfc.lite.benchmark(
        tflite, runtime="tensorflow", runs=2, use_xnnpack=False
    )
    assert result.runtime == "tensorflow"
    assert result.delegate == "none"
    with pytest.raises(ValueError, match="runs"):
        tfc.lite.benchmark(tflite, runs=0)
    with pytest.raises(TypeError, match="warmup"):
        tfc.lite.benchmark(tflite, warmup=1.0)


def test_compare_table_and_round_trip(trained):
    model, x, _ = trained
    float_result = tfc.lite.benchmark(tfc.lite.convert(model), runs=5)
    int8 = tfc.lite.convert(model, "int8", representative_data=x)
    int8_result = tfc.lite.benchmark(int8, runs=5, name="int8")
    table = tfc.lite.compare([float_result, int8_result])
    lines = table.splitlines()
    assert len(lines) == 4
    assert lines[2].startswith("| float32 |") and "| 1.000 |" in lines[2]
    assert lines[3].startswith("| int8 |")
    config = int8_result.get_config()
    assert tfc.lite.BenchmarkResult.from_config(config) == int8_result
    assert int8_result.to_dict() == config
    with pytest.raises(ValueError, match="baseline"):
        tfc.lite.compare([float_result], baseline=3)


def test_predict_takes_a_dataset_or_an_iterator_like_arrays(trained):
    model, x, y = trained
    tflite = tfc.lite.convert(model)
    want = tfc.lite.predict(tflite, x)
    pairs = tf.data.Dataset.from_tensor_slices((x, y)).batch(16)
    inputs = tf.data.Dataset.from_tensor_slices(x).batch(16)
    generator = (x[i : i + 16] for i in range(0, len(x), 16))
    for data in (pairs, inputs, generator):
        np.testing.assert_allclose(tfc.lite.predict(tflite, data), want)
    with pytest.raises(ValueError, match="`x`.*at least one batch"):
        tfc.lite.predict(tflite, pairs.take(0))


@pytest.fixture(scope="module")
def two_heads():
    """Dict outputs {"cls": 4 classes, "aux": 1 unit}: Keras sorts them, so
    the first output is "aux"."""
    inputs = keras.Input((8, 8, 1))
    g = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(4, 3)(inputs))
    cls = keras.layers.Dense(4, activation="softmax", name="cls")(g)
    aux = keras.layers.Dense(1, name="aux")(g)
    model = keras.Model(inputs, {"cls": cls, "aux": aux})
    x = helpers.images(32, seed=5)
    y = np.argmax(model.predict(x, verbose=0)["cls"], -1)
    return tfc.lite.convert(model, verify=False), x, y


def test_labels_that_do_not_fit_the_scored_output_are_named(two_heads):
    tflite, x, y = two_heads
    one_hot = np.eye(4, dtype=np.float32)[y]
    ds = tf.data.Dataset.from_tensor_slices((x, one_hot)).batch(8)
    for data, shape in (((x, one_hot), r"\(32, 4\)"), (ds, r"\(None, 4\)")):
        with pytest.raises(
            ValueError,
            match=r"scored output 'aux' of width 1.*\{'aux': 1, 'cls': 4\}"
            rf".*`output=`.*output='cls'.*shape {shape}",
        ):
            tfc.lite.benchmark(tflite, runs=1, dataset=data)
    with pytest.raises(ValueError, match=r"'aux'.*values in \[0, 3\]"):
        tfc.lite.benchmark(tflite, runs=1, dataset=(x, np.arange(32) % 4))
    with pytest.raises(ValueError, match=r"'cls' of width 4.*\(32, 3\)"):
        tfc.lite.benchmark(
            tflite, runs=1, dataset=(x, one_hot[:, :3]), output="cls"
        )
    result = tfc.lite.benchmark(tflite, runs=1, dataset=ds, output="cls")
    assert (result.accuracy, result.scored_output) == (1.0, "cls")


def test_dict_labels_are_read_by_the_scored_output_name(two_heads):
    tflite, x, y = two_heads
    aux = np.zeros((len(x), 1), np.float32)
    both = {"cls": y, "aux": aux}
    with pytest.raises(ValueError, match=r"\['aux', 'cls'\].*`output=`"):
        tfc.lite.benchmark(tflite, runs=1, dataset=(x, both))
    with pytest.raises(ValueError, match=r"key 'aux'.*keys \['cls'\]"):
        tfc.lite.benchmark(tflite, runs=1, dataset=(x, {"cls": y}), output=0)
    picked = tfc.lite.benchmark(tflite, runs=1, dataset=(x, both), output=1)
    assert (picked.accuracy, picked.scored_output) == (1.0, "cls")
    ds = tf.data.Dataset.from_tensor_slices((x, {"cls": y})).batch(8)
    named = tfc.lite.benchmark(tflite, runs=1, dataset=ds)
    assert (named.accuracy, named.scored_output) == (1.0, "cls")


def test_an_unbatched_dataset_is_refused_as_compress_refuses_it(trained):
    model, x, y = trained
    tflite = tfc.lite.convert(model)
    unbatched = tf.data.Dataset.from_tensor_slices((x, y))
    for call in (
        lambda: tfc.lite.benchmark(tflite, runs=1, dataset=unbatched),
        lambda: tfc.lite.accuracy_of(tflite, unbatched),
    ):
        with pytest.raises(ValueError, match="Expected a batched dataset"):
            call()
    with pytest.raises(ValueError, match=r"call `\.batch\(batch_size\)`"):
        tfc.lite.benchmark(tflite, runs=1, dataset=unbatched)


def test_endless_or_unreadable_data_is_refused_before_any_batch(trained):
    model, x, y = trained
    tflite = tfc.lite.convert(model)
    endless = tf.data.Dataset.from_tensor_slices((x, y)).batch(8).repeat()
    for call in (
        lambda: tfc.lite.benchmark(tflite, runs=1, dataset=endless),
        lambda: tfc.lite.accuracy_of(tflite, endless),
    ):
        with pytest.raises(ValueError, match="repeats forever"):
            call()

    def batches():
        yield x[:8], y[:8]

    for data in (batches(), [(x[:8], y[:8])]):
        with pytest.raises(TypeError, match="from_generator"):
            tfc.lite.accuracy_of(tflite, data)


def test_sample_weights_weight_the_accuracy_as_keras_does(trained):
    model, x, y = trained
    tflite = tfc.lite.convert(model)
    w = np.random.default_rng(1).uniform(size=len(x)).astype(np.float32)
    metric = keras.metrics.SparseCategoricalAccuracy()
    metric.update_state(y, model.predict(x, verbose=0), sample_weight=w)
    keras_acc = float(metric.result())
    as_tuple = tfc.lite.benchmark(tflite, runs=1, dataset=(x, y, w))
    ds = tf.data.Dataset.from_tensor_slices((x, y, w)).batch(7)
    as_dataset = tfc.lite.benchmark(tflite, runs=1, dataset=ds)
    assert as_tuple.accuracy == pytest.approx(keras_acc, abs=1e-6)
    assert as_dataset.accuracy == pytest.approx(keras_acc, abs=1e-6)
    only_first = np.zeros_like(w)
    only_first[0] = 1.0
    hit = float(np.argmax(model.predict(x[:1], verbose=0)) == y[0])
    first = tfc.lite.accuracy_of(tflite, (x, y, only_first))
    assert first == pytest.approx(hit)
    with pytest.raises(ValueError, match="one sample weight per sample"):
        tfc.lite.accuracy_of(tflite, (x, y, w[:-1].reshape(1, -1)))


def test_accuracy_of_takes_the_model_forms_benchmark_takes(trained, tmp_path):
    model, x, y = trained
    tflite = tfc.lite.convert(model)
    path = tmp_path / "m.tflite"
    path.write_bytes(tflite)
    interpreter, _ = tfc.lite.make_interpreter(tflite)
    expected = tfc.lite.accuracy_of(interpreter, (x, y))
    for form in (tflite, bytes(tflite), str(path), path):
        assert tfc.lite.accuracy_of(form, (x, y)) == pytest.approx(expected)


def _text_classifier(vocabulary=50, length=12):
    tokens = keras.Input((length,), dtype="int32", name="tokens")
    x = keras.layers.Embedding(vocabulary, 8)(tokens)
    x = keras.layers.Conv1D(8, 3, activation="relu")(x)
    x = keras.layers.GlobalMaxPooling1D()(x)
    return keras.Model(tokens, keras.layers.Dense(3)(x))


def test_a_token_id_model_is_timed_on_valid_ids():
    # Random integers over int32's range are out of the embedding's range:
    # the interpreter's gather failed before any time was taken.
    model = _text_classifier()
    tflite = tfc.lite.convert(model)
    ids = np.random.default_rng(0).integers(0, 50, (16, 12)).astype("int32")
    y = np.argmax(model.predict(ids, verbose=0), -1)
    assert tfc.lite.benchmark(tflite, runs=2).median_ms > 0
    timed = tfc.lite.benchmark(tflite, runs=2, dataset=(ids, y))
    assert timed.accuracy == 1.0


def test_an_integer_input_refuses_floats_with_fractions():
    pixels = keras.Input((8, 8, 1), dtype="uint8", name="pixels")
    x = keras.layers.Rescaling(1 / 255.0)(pixels)
    x = keras.layers.Conv2D(4, 3, activation="relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(pixels, keras.layers.Dense(2)(x))
    raw = np.random.default_rng(0).integers(0, 256, (16, 8, 8, 1))
    scaled = raw.astype("float32") / 255.0
    # Cast to uint8, pixels scaled to [0, 1] are all 0 or 1: calibrating on
    # them gave an input range of [0, 1] that real pixels overflow, and a
    # verification on the same data that saw no difference.
    with pytest.raises(ValueError, match="'pixels' takes uint8 values"):
        tfc.lite.convert(model, "int8", representative_data=scaled)
    converted = tfc.lite.convert(
        model, "int8", representative_data=raw.astype("float32")
    )
    assert converted.argmax_agreement is not None
    floats = tfc.lite.convert(model)
    y = np.argmax(model.predict(raw.astype("uint8"), verbose=0), -1)
    with pytest.raises(ValueError, match="multiply by 255"):
        tfc.lite.benchmark(floats, runs=1, dataset=(scaled, y))
    assert tfc.lite.benchmark(floats, runs=1, dataset=(raw, y)).accuracy == 1.0


def test_scoring_the_first_of_several_outputs_by_default_is_said(two_heads):
    tflite, x, y = two_heads
    with pytest.warns(UserWarning, match=r"2 outputs \(aux, cls\).*'aux'"):
        tfc.lite.accuracy_of(tflite, (x, np.zeros(len(x))))
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        tfc.lite.accuracy_of(tflite, (x, y), output="cls")
        tfc.lite.accuracy_of(tflite, (x, {"cls": y}))
