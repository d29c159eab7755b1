"""TFLite conversion, benchmark and runtime on real models and bad inputs."""

import os
import sys
import textwrap
import types

import keras
import numpy as np
import pytest
import tensorflow as tf

import tf_compact as tfc
from tests.python_child import run_python
from tests.robustness import helpers
from tf_compact.lite import diagnostics


def _trunk(inputs, seed):
    keras.utils.set_random_seed(seed)
    h = keras.layers.Conv2D(4, 3, activation="relu", name="c1")(inputs)
    h = keras.layers.Conv2D(4, 3, name="c2")(h)
    return keras.layers.GlobalAveragePooling2D(name="gap")(h)


def _list_heads(seed=0):
    """Two heads of different widths: TFLite stores them swapped."""
    inputs = keras.Input((8, 8, 1), name="img")
    g = _trunk(inputs, seed)
    a = keras.layers.Dense(3, name="zeta")(g)
    b = keras.layers.Dense(5, name="alpha")(g)
    return keras.Model(inputs, [a, b], name="list_heads")


def _same_size_heads(seed=0):
    inputs = keras.Input((8, 8, 1), name="img")
    g = _trunk(inputs, seed)
    a = keras.layers.Dense(3, name="zeta")(g)
    b = keras.layers.Dense(3, name="alpha")(g)
    return keras.Model(inputs, [a, b], name="same_size_heads")


def _dict_heads(seed=0):
    inputs = keras.Input((8, 8, 1), name="img")
    g = _trunk(inputs, seed)
    outputs = {
        "zcls": keras.layers.Dense(3, name="zc")(g),
        "abox": keras.layers.Dense(4, name="ab")(g),
    }
    return keras.Model(inputs, outputs, name="dict_heads")


def _two_inputs(seed=0, heads=1):
    """Image and vector inputs; TFLite stores them in name order."""
    image = keras.Input((8, 8, 1), name="zimg")
    vector = keras.Input((4,), name="avec")
    g = _trunk(image, seed)
    v = keras.layers.Dense(4, name="dv")(vector)
    h = keras.layers.Concatenate(name="cat")([g, v])
    outputs = [
        keras.layers.Dense(3 + i, name=f"out{i}")(h) for i in range(heads)
    ]
    return keras.Model([image, vector], outputs, name=f"two_inputs_{heads}")


class _Subclassed(keras.Model):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.c1 = keras.layers.Conv2D(4, 3, activation="relu")
        self.c2 = keras.layers.Conv2D(4, 3)
        self.gap = keras.layers.GlobalAveragePooling2D()
        self.head = keras.layers.Dense(3)

    def call(self, x, training=False):
        return self.head(self.gap(self.c2(self.c1(x))))


class _DictInputs(keras.Model):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.head = keras.layers.Dense(3)

    def call(self, inputs):
        x = keras.ops.concatenate([inputs["a"], inputs["b"]], axis=-1)
        return self.head(x)


def _subclassed(seed=0):
    keras.utils.set_random_seed(seed)
    model = _Subclassed(name="subclassed")
    model(np.zeros((1, 8, 8, 1), "float32"))
    return model


def _dict_inputs(seed=0):
    keras.utils.set_random_seed(seed)
    model = _DictInputs(name="dict_inputs")
    model({"a": np.zeros((1, 3), "float32"), "b": np.zeros((1, 2), "float32")})
    return model


def _images(n=32, size=8, channels=1, seed=0):
    rng = np.random.default_rng(seed)
    return rng.uniform(size=(n, size, size, channels)).astype(np.float32)


def _convert_checked(model, **kwargs):
    before = helpers.snapshot(model)
    result = tfc.lite.convert(model, **kwargs)
    helpers.assert_unchanged(model, before)
    return result


# Item 6 and 11: outputs are matched by signature name, inputs by name.
@pytest.mark.parametrize(
    "build",
    [
        _list_heads,
        _same_size_heads,
        _dict_heads,
        lambda: _two_inputs(heads=1),
        lambda: _two_inputs(heads=2),
        _subclassed,
        _dict_inputs,
    ],
    ids=[
        "list_heads",
        "same_size_heads",
        "dict_heads",
        "two_inputs",
        "two_inputs_two_heads",
        "subclassed",
        "subclassed_dict_inputs",
    ],
)
def test_float32_convert_verifies_every_output(build):
    model = build()
    result = _convert_checked(model)
    assert result.notes == []
    assert result.max_abs_diff is not None
    assert result.max_abs_diff < 1e-4
    assert result.argmax_agreement == 1.0


def test_unbuilt_subclassed_model_is_refused():
    model = _Subclassed(name="fresh")
    with pytest.raises(ValueError, match="unbuilt model 'fresh'"):
        tfc.lite.convert(model)


# Item 6: the benchmark scores the head it is asked for.
@pytest.fixture(scope="module")
def heads():
    model = _list_heads(seed=1)
    x = _images(32, seed=1)
    out0, out1 = (np.asarray(o) for o in model(x, training=False))
    tflite = tfc.lite.convert(model, verify=False)
    return tflite, x, out0.argmax(-1), out1.argmax(-1)


@pytest.mark.parametrize(
    "output, head, name",
    [
        (None, 0, "output_0"),
        (0, 0, "output_0"),
        (1, 1, "output_1"),
        ("output_1", 1, "output_1"),
    ],
)
def test_benchmark_scores_the_asked_head(heads, output, head, name):
    tflite, x, y0, y1 = heads
    labels = (y0, y1)[head]
    result = tfc.lite.benchmark(
        tflite, runs=1, warmup=0, dataset=(x, labels), output=output
    )
    assert result.accuracy == 1.0
    assert result.scored_output == name


def test_benchmark_on_dict_heads_and_two_inputs():
    model = _dict_heads(seed=2)
    x = _images(16, seed=2)
    labels = np.asarray(model(x, training=False)["abox"]).argmax(-1)
    result = tfc.lite.benchmark(
        tfc.lite.convert(model),
        runs=1,
        dataset=(x, labels),
        output="abox",
    )
    assert (result.accuracy, result.scored_output) == (1.0, "abox")
    model = _two_inputs(seed=3)
    v = np.random.default_rng(3).normal(size=(16, 4)).astype(np.float32)
    labels = np.asarray(model([x, v], training=False)).argmax(-1)
    dataset = tf.data.Dataset.from_tensor_slices(
        ({"zimg": x, "avec": v}, labels)
    ).batch(5)
    result = tfc.lite.benchmark(
        tfc.lite.convert(model), runs=1, dataset=dataset
    )
    assert result.accuracy == 1.0


def test_benchmark_refuses_an_unknown_head(heads):
    tflite, x, y0, _ = heads
    with pytest.raises(ValueError, match=r"output_0.*Received: output=2"):
        tfc.lite.benchmark(tflite, runs=1, dataset=(x, y0), output=2)


def test_labels_keyed_by_layer_name_say_how_list_outputs_are_named(heads):
    tflite, x, y0, _ = heads
    with pytest.raises(ValueError, match=r"keys \['zeta'\].*`output_0`"):
        tfc.lite.benchmark(tflite, runs=1, dataset=(x, {"zeta": y0}))


# Item 7: inputs must fit the model, and there must be some.
@pytest.fixture(scope="module")
def tiny_tflite():
    inputs = keras.Input((8, 8, 1))
    g = _trunk(inputs, 4)
    model = keras.Model(inputs, keras.layers.Dense(3, name="out")(g))
    return tfc.lite.convert(model)


@pytest.mark.parametrize(
    "x, match",
    [
        (_images(4, size=16), r"\(None, 8, 8, 1\).*shape=\(4, 16, 16, 1\)"),
        (_images(4, channels=3), r"\(None, 8, 8, 1\).*shape=\(4, 8, 8, 3\)"),
        (_images(4)[..., 0], r"\(None, 8, 8, 1\).*shape=\(4, 8, 8\)"),
        (_images(0), r"at least one sample.*shape=\(0, 8, 8, 1\)"),
    ],
    ids=["larger_images", "more_channels", "no_channel_axis", "no_rows"],
)
def test_benchmark_refuses_inputs_that_do_not_fit(tiny_tflite, x, match):
    y = np.zeros(len(x), np.int32)
    with pytest.raises(ValueError, match=match):
        tfc.lite.benchmark(tiny_tflite, runs=1, dataset=(x, y))
    with pytest.raises(ValueError, match=match):
        tfc.lite.predict(tiny_tflite, x)


def test_benchmark_refuses_an_empty_dataset(tiny_tflite):
    empty = tf.data.Dataset.from_tensor_slices(
        (_images(4), np.zeros(4, np.int32))
    ).take(0)
    with pytest.raises(ValueError, match="holds no sample"):
        tfc.lite.benchmark(tiny_tflite, runs=1, dataset=empty.batch(2))


# Item 9: a malformed file is refused, in this process and in the CLI.
def _broken_files(content, folder):
    content = bytes(content)
    flipped = bytearray(content)
    for i in range(40, len(flipped), 7):
        flipped[i] ^= 0x5A
    bad_root = bytearray(content)
    bad_root[0:4] = (10**8).to_bytes(4, "little")
    files = {
        "truncated": content[: len(content) // 2],
        "flipped": bytes(flipped),
        "bad_root": bytes(bad_root),
    }
    paths = {}
    for name, data in files.items():
        paths[name] = os.path.join(folder, f"{name}.tflite")
        with open(paths[name], "wb") as f:
            f.write(data)
    return paths


def _crashing_tflite_runtime(folder):
    """A `tflite_runtime` that dies like one handed an unverified file."""
    package = os.path.join(folder, "fake", "tflite_runtime")
    os.makedirs(package)
    open(os.path.join(package, "__init__.py"), "w").close()
    with open(os.path.join(package, "interpreter.py"), "w") as f:
        f.write(
            textwrap.dedent(
                """
                import os
                import signal
                import types

                OpResolverType = types.SimpleNamespace(
                    AUTO=0, BUILTIN_WITHOUT_DEFAULT_DELEGATES=1
                )

                class Interpreter:
                    def __init__(self, **kwargs):
                        os.kill(os.getpid(), signal.SIGSEGV)
                """
            )
        )
    return os.path.dirname(package)


def _run(args, fake):
    return run_python(args, PYTHONPATH=fake)


@pytest.fixture(scope="module")
def broken(tiny_tflite, tmp_path_factory):
    folder = str(tmp_path_factory.mktemp("broken"))
    return _broken_files(tiny_tflite, folder), _crashing_tflite_runtime(folder)


def test_malformed_tflite_is_refused_by_the_api(broken):
    paths, fake = broken
    script = textwrap.dedent(
        f"""
        import tf_compact as tfc
        for path in {sorted(paths.values())!r}:
            for runtime in ("auto", "tflite_runtime"):
                try:
                    tfc.lite.benchmark(path, runtime=runtime, runs=1)
                except ValueError as e:
                    print("REFUSED", runtime, str(e).replace("\\n", " "))
        """
    )
    out = _run(["-c", script], fake)
    assert out.returncode == 0, out.stderr[-2000:]
    lines = [line for line in out.stdout.splitlines() if "REFUSED" in line]
    assert len(lines) == 2 * len(paths), out.stdout
    for line in lines:
        assert "is not a usable TFLite model" in line
        assert "well-formed TFLite flatbuffer" in line


@pytest.mark.parametrize("name", ["truncated", "flipped", "bad_root"])
def test_malformed_tflite_is_refused_by_the_cli(broken, name):
    paths, fake = broken
    out = _run(
        [
            "-m",
            "tf_compact.cli.main",
            "benchmark-tflite",
            f"--tflite={paths[name]}",
            "--runs=1",
        ],
        fake,
    )
    assert out.returncode == 1, out.stderr[-2000:]
    assert f"--tflite={paths[name]}" in out.stderr
    assert "well-formed TFLite flatbuffer" in out.stderr


@pytest.mark.skipif(
    int(np.__version__.split(".")[0]) < 2,
    reason="tflite_runtime can work under numpy 1",
)
def test_tflite_runtime_is_not_handed_models_under_numpy_2(
    tiny_tflite, monkeypatch
):
    created = []

    class Recording:
        def __init__(self, **kwargs):
            created.append(kwargs)
            raise RuntimeError("_ARRAY_API not found")

    fake = types.ModuleType("tflite_runtime.interpreter")
    fake.Interpreter = Recording
    fake.OpResolverType = types.SimpleNamespace(
        AUTO=0, BUILTIN_WITHOUT_DEFAULT_DELEGATES=1
    )
    monkeypatch.setitem(sys.modules, "tflite_runtime", types.ModuleType("t"))
    monkeypatch.setitem(sys.modules, "tflite_runtime.interpreter", fake)
    with pytest.raises(
        tfc.lite.RuntimeUnavailableError, match=r"skipped .*numpy 2"
    ):
        tfc.lite.make_interpreter(tiny_tflite, runtime="tflite_runtime")
    monkeypatch.setitem(sys.modules, "ai_edge_litert", None)
    monkeypatch.setitem(sys.modules, "ai_edge_litert.interpreter", None)
    _, info = tfc.lite.make_interpreter(tiny_tflite)
    assert info.runtime == "tensorflow"
    assert info.attempts["tflite_runtime"].startswith("skipped")
    assert created == []


# Item 14: calibration of several inputs of any rank, and of nothing.
def _three_inputs():
    keras.utils.set_random_seed(5)
    image = keras.Input((8, 8, 1), name="image")
    vector = keras.Input((4,), name="vector")
    sequence = keras.Input((6, 2), name="sequence")
    g = _trunk(image, 5)
    s = keras.layers.Conv1D(3, 3, name="c1d")(sequence)
    s = keras.layers.GlobalAveragePooling1D(name="gap1d")(s)
    v = keras.layers.Dense(3, name="dv")(vector)
    h = keras.layers.Concatenate(name="cat")([g, v, s])
    out = keras.layers.Dense(3, name="out")(h)
    return keras.Model([image, vector, sequence], out, name="three_inputs")


def _three_arrays(n=24):
    rng = np.random.default_rng(5)
    return [
        rng.uniform(size=(n, 8, 8, 1)).astype(np.float32),
        rng.uniform(size=(n, 4)).astype(np.float32),
        rng.uniform(size=(n, 6, 2)).astype(np.float32),
    ]


@pytest.mark.parametrize(
    "source",
    ["arrays", "dict", "generator", "dataset_xy"],
)
def test_int8_calibrates_several_inputs_of_any_rank(source):
    model = _three_inputs()
    xs = _three_arrays()
    names = ["image", "vector", "sequence"]
    data = {
        "arrays": xs,
        "dict": dict(zip(names, xs)),
        "generator": lambda: (tuple(a[i] for a in xs) for i in range(24)),
        "dataset_xy": tf.data.Dataset.from_tensor_slices(
            (tuple(xs), np.zeros(24, np.int32))
        ).batch(4),
    }[source]
    result = _convert_checked(
        model, mode="int8", representative_data=data, num_calibration_steps=8
    )
    assert result.notes == []
    assert result.argmax_agreement is not None
    assert result.argmax_agreement >= 0.5


@pytest.mark.parametrize(
    "data",
    [
        _images(0),
        [],
        lambda: iter(()),
        tf.data.Dataset.from_tensor_slices(_images(4)).take(0),
    ],
    ids=["empty_array", "empty_list", "empty_callable", "empty_dataset"],
)
def test_int8_refuses_empty_calibration_data(data):
    inputs = keras.Input((8, 8, 1))
    model = keras.Model(inputs, keras.layers.Dense(2)(_trunk(inputs, 6)))
    with pytest.raises(ValueError, match="representative_data holds no sample"):
        _convert_checked(model, mode="int8", representative_data=data)


def test_int8_error_names_each_layer_of_its_own():
    keras.utils.set_random_seed(7)
    inputs = keras.Input((8, 8, 1))
    h = keras.layers.Conv2D(4, 3, name="conv")(inputs)
    # SIN has no int8 kernel in LiteRT, so both layers stay in float.
    h = keras.layers.Lambda(keras.ops.sin, name="norm")(h)
    h = keras.layers.Conv2D(4, 3, name="conv_1")(h)
    h = keras.layers.Lambda(keras.ops.sin, name="norm_1")(h)
    h = keras.layers.GlobalAveragePooling2D(name="gap")(h)
    model = keras.Model(inputs, keras.layers.Dense(3, name="out")(h))
    with pytest.raises(tfc.lite.QuantizationError) as info:
        _convert_checked(model, mode="int8", representative_data=_images(8))
    layers = {layer for _, layer in info.value.ops}
    assert layers == {"norm", "norm_1"}
    assert "(layer `norm`)" in str(info.value)
    assert "(layer `norm_1`)" in str(info.value)


@pytest.mark.parametrize(
    "locations, expected",
    [
        (
            ["model/norm_1/Foo", "model/norm_1_2/Foo"],
            [("Foo", "norm"), ("Foo", "norm_1")],
        ),
        (
            ["model/norm/Foo", "model/norm_1/Foo"],
            [("Foo", "norm"), ("Foo", "norm_1")],
        ),
    ],
    ids=["export_suffixes", "plain_scopes"],
)
def test_converter_error_names_each_layer_of_its_own(locations, expected):
    message = "'tf.Foo' op is neither a custom op nor a flex op\n" + "\n".join(
        f'loc(fused["Foo:", "{path}@__inference_serve_1"])'
        for path in locations
    )
    assert diagnostics.failing_ops(message, ["conv", "norm", "norm_1"]) == (
        expected
    )


@pytest.mark.parametrize("activation", ["sigmoid", None])
def test_interpreter_accuracy_of_a_binary_head(activation):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 4)).astype("float32")
    y = (x[:, 0] > 0).astype("int64")
    inputs = keras.Input((4,))
    model = keras.Model(
        inputs, keras.layers.Dense(1, activation=activation)(inputs)
    )
    model.layers[-1].set_weights(
        [np.array([[8.0], [0], [0], [0]], "float32"), np.zeros(1, "float32")]
    )
    interpreter, _ = tfc.lite.make_interpreter(
        bytes(tfc.lite.convert(model, verify=False))
    )
    assert tfc.lite.accuracy_of(interpreter, (x, y)) == 1.0
