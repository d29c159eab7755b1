"""Android-ready files: named signatures and LiteRT metadata."""

import importlib.util
import io
import json
import os
import zipfile

import keras
import numpy as np
import pytest

import tf_compact as tfc
from tests.lite import helpers
from tf_compact.lite import converter
from tf_compact.lite import metadata as metadata_lib

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures")
LABELS = ["t-shirt", "trouser", "pullover"]


def _signature_outputs(content, key, feed):
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=bytes(content))
    return interpreter.get_signature_runner(key)(**feed)


@pytest.fixture(scope="module")
def model():
    keras.utils.set_random_seed(0)
    return helpers.tiny_cnn(classes=3)


@pytest.fixture(scope="module")
def android(model):
    return tfc.lite.convert(
        model,
        signature_key="classify",
        input_names=["image"],
        output_names=["probabilities"],
        labels=LABELS,
        normalization=(127.5, 127.5),
    )


def test_signature_carries_the_chosen_names(model, android):
    assert tfc.lite.signature_names(android) == {
        "classify": {"inputs": ["image"], "outputs": ["probabilities"]}
    }
    x = helpers.images(1)
    got = _signature_outputs(android, "classify", {"image": x})
    assert list(got) == ["probabilities"]
    expected = np.asarray(model(x, training=False))
    np.testing.assert_allclose(got["probabilities"], expected, atol=1e-5)


def test_default_signature_key_is_serving_default(model):
    content = tfc.lite.convert(model, input_names=["pixels"], verify=False)
    assert tfc.lite.signature_names(content) == {
        "serving_default": {"inputs": ["pixels"], "outputs": ["output_0"]}
    }
    assert tfc.lite.read_metadata(content) is None


def test_metadata_reads_back(android, model):
    meta = tfc.lite.read_metadata(android)
    assert meta.name == model.name
    assert meta.min_parser_version == "1.0.0"
    assert meta.packed_files == ["labels.txt"]
    (image,) = meta.inputs
    assert (image.name, image.kind, image.color_space) == (
        "image",
        "image",
        "grayscale",
    )
    assert (image.mean, image.std) == ([127.5], [127.5])
    (probs,) = meta.outputs
    assert (probs.name, probs.kind) == ("probabilities", "feature")
    assert (probs.label_file, probs.labels) == ("labels.txt", LABELS)
    assert android.mode == "float32" and android.max_abs_diff is not None


def test_files_follow_the_tflite_support_layout(android):
    content = bytes(android)
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        (info,) = archive.infolist()
        assert info.filename == "labels.txt"
        assert info.compress_type == zipfile.ZIP_STORED
        assert archive.read("labels.txt") == b"t-shirt\ntrouser\npullover\n"
    buffer = metadata_lib.metadata_buffer(content)
    assert buffer[4:8] == b"M001"
    model = tfc.lite.signature.unpack_model(content[: info.header_offset])
    names = [m.name.decode() for m in model.metadata]
    assert names.count("TFLITE_METADATA") == 1
    assert "min_runtime_version" in names  # the converter's entries stay


def test_metadata_leaves_the_graph_alone(model):
    plain = tfc.lite.convert(model, verify=False)
    with_meta = tfc.lite.add_metadata(plain, labels=LABELS)
    x = helpers.images(1)
    key = list(tfc.lite.signature_names(plain))[0]
    name = tfc.lite.signature_names(plain)[key]["inputs"][0]
    before = _signature_outputs(plain, key, {name: x})
    after = _signature_outputs(with_meta, key, {name: x})
    np.testing.assert_array_equal(before["output_0"], after["output_0"])


def test_rewriting_metadata_replaces_it(android, tmp_path):
    path = tmp_path / "names.txt"
    path.write_text("a\nb\nc\n")
    again = tfc.lite.add_metadata(
        android, labels=str(path), normalization=(0.0, [1.0])
    )
    meta = tfc.lite.read_metadata(again)
    assert meta.packed_files == ["names.txt"]
    assert meta.outputs[0].labels == ["a", "b", "c"]
    assert (meta.inputs[0].mean, meta.inputs[0].std) == ([0.0], [1.0])
    assert again.count(b"TFLITE_METADATA") == 1


def test_names_given_as_a_dict_get_the_same_order_note():
    x = keras.Input((4,), name="x")
    model = keras.Model(x, [keras.layers.Dense(3)(x), keras.layers.Dense(2)(x)])
    content = tfc.lite.convert(
        model, output_names={"output_0": "zeta", "output_1": "alpha"}
    )
    notes = [n for n in content.notes if n.startswith("signature ")]
    assert notes == [
        "signature outputs ['zeta', 'alpha'] are ordered by name as "
        "['alpha', 'zeta'] in tfc.lite.predict/benchmark: pass their arrays "
        "as a dict keyed by name"
    ]
    # Renaming only the second output keeps the order: no note.
    same = tfc.lite.convert(model, output_names={"output_1": "output_9"})
    assert not [n for n in same.notes if n.startswith("signature ")]


def test_int8_model_with_several_outputs():
    a = keras.Input((4,), name="a")
    b = keras.Input((6,), name="b")
    h = keras.layers.Concatenate()([a, b])
    small = keras.layers.Dense(2, name="small")(h)
    big = keras.layers.Dense(5, name="big")(h)
    model = keras.Model([a, b], [small, big])
    rng = np.random.default_rng(0)
    data = [rng.normal(size=(16, 4)), rng.normal(size=(16, 6))]
    data = [d.astype(np.float32) for d in data]
    content = tfc.lite.convert(
        model,
        mode="int8",
        representative_data=data,
        input_names=["first", "second"],
        output_names=["two", "five"],
        labels={"five": list("vwxyz")},
        normalization={"second": (0.0, 1.0)},
    )
    notes = [n for n in content.notes if n.startswith("signature ")]
    assert notes == [
        "signature outputs ['two', 'five'] are ordered by name as "
        "['five', 'two'] in tfc.lite.predict/benchmark: pass their arrays "
        "as a dict keyed by name"
    ]
    names = tfc.lite.signature_names(content)["serving_default"]
    assert names == {"inputs": ["first", "second"], "outputs": ["five", "two"]}
    got = _signature_outputs(
        content,
        "serving_default",
        {"first": data[0][:1], "second": data[1][:1]},
    )
    assert {k: v.shape for k, v in got.items()} == {
        "two": (1, 2),
        "five": (1, 5),
    }
    meta = tfc.lite.read_metadata(content)
    labels = {t.name: t.labels for t in meta.outputs}
    assert labels == {"two": None, "five": list("vwxyz")}
    norms = {t.name: t.mean for t in meta.inputs}
    assert norms == {"first": None, "second": [0.0]}
    # A list for two outputs is refused, naming them in a stable order
    # (the converter lists these outputs last first).
    plain = tfc.lite.convert(model, verify=False)
    with pytest.raises(ValueError, match=r"\['output_0', 'output_1'\]"):
        tfc.lite.add_metadata(plain, labels=list("ab"))


def test_reads_a_file_written_by_tflite_support():
    # Written by TFLite Support's ImageClassifierWriter (see fixtures/).
    path = os.path.join(FIXTURES, "official_image_classifier.tflite")
    meta = tfc.lite.read_metadata(path)
    assert meta.name == "ImageClassifier"
    assert meta.packed_files == ["labels_official.txt"]
    (image,) = meta.inputs
    assert (image.kind, image.color_space) == ("image", "rgb")
    assert (image.mean, image.std) == ([127.5], [127.5])
    (probability,) = meta.outputs
    assert probability.name == "probability"
    assert probability.labels == ["sandal", "shirt", "sneaker", "bag", "boot"]


@pytest.mark.skipif(
    importlib.util.find_spec("tensorflow_lite_support") is None,
    reason="TFLite Support's metadata reader is not installed (`.ci/run` "
    "installs tflite-support==0.4.4 with --no-deps: its wheel pins "
    "protobuf<4, which TensorFlow 2.21 cannot share, and the reader does "
    "not need it)",
)
def test_official_reader_reads_our_metadata(android):
    from tensorflow_lite_support.metadata.python import metadata as official

    displayer = official.MetadataDisplayer.with_model_buffer(bytes(android))
    assert displayer.get_packed_associated_file_list() == ["labels.txt"]
    text = displayer.get_associated_file_buffer("labels.txt").decode()
    assert text.splitlines() == LABELS
    meta = json.loads(displayer.get_metadata_json())
    (subgraph,) = meta["subgraph_metadata"]
    (image,) = subgraph["input_tensor_metadata"]
    options = image["process_units"][0]["options"]
    assert options == {"mean": [127.5], "std": [127.5]}
    (probs,) = subgraph["output_tensor_metadata"]
    assert probs["associated_files"][0]["type"] == "TENSOR_AXIS_LABELS"


def test_metadata_config_round_trips(android):
    meta = tfc.lite.read_metadata(android)
    again = tfc.lite.ModelMetadata.from_config(meta.get_config())
    assert again == meta
    tensor = meta.outputs[0]
    assert tfc.lite.TensorMetadata.from_config(tensor.get_config()) == tensor


def test_invalid_arguments_are_named(model, android, monkeypatch):
    plain = tfc.lite.convert(model, verify=False)
    # Names given as lists are checked before the conversion runs.
    with monkeypatch.context() as patched:
        patched.setattr(converter, "convert_with_fallback", _not_reached)
        with pytest.raises(ValueError, match="`input_names`. Expected 1 na"):
            tfc.lite.convert(model, input_names=["a", "b"], verify=False)
        with pytest.raises(ValueError, match="`input_names`. Expected names"):
            tfc.lite.convert(model, input_names=["has space"])
        with pytest.raises(ValueError, match="`signature_key`"):
            tfc.lite.convert(model, signature_key="has space")
    with pytest.raises(ValueError, match="`signature_key`"):
        tfc.lite.set_signature(plain, signature_key="has space")
    with pytest.raises(ValueError, match="`output_names`. Expected keys"):
        tfc.lite.set_signature(plain, output_names={"logits": "scores"})
    with pytest.raises(TypeError, match="`output_names`"):
        tfc.lite.set_signature(plain, output_names="scores")
    with pytest.raises(ValueError, match="`normalization`"):
        tfc.lite.add_metadata(plain, normalization=(0.0, 0.0))
    with pytest.raises(ValueError, match="`normalization`"):
        tfc.lite.add_metadata(plain, normalization=(0.0, [1.0, 2.0]))
    with pytest.raises(TypeError, match="`labels`"):
        tfc.lite.add_metadata(plain, labels=[1, 2, 3])
    with pytest.raises(ValueError, match="`labels`. Expected keys"):
        tfc.lite.add_metadata(plain, labels={"nope": LABELS})


def _not_reached(*args, **kwargs):
    raise AssertionError("converted before the names were checked")


def test_label_count_must_match_the_output_width(model, tmp_path):
    labels_file = tmp_path / "labels.txt"
    labels_file.write_text("a\nb\n")
    pattern = r"`labels`. Expected one label per unit .*: 3 labels. Received: 2"
    for labels in (["a", "b"], str(labels_file), labels_file):
        with pytest.raises(ValueError, match=pattern):
            tfc.lite.convert(model, labels=labels, verify=False)
    plain = tfc.lite.convert(model, output_names=["scores"], verify=False)
    with pytest.raises(
        ValueError, match=r"output 'scores': 3 labels. Received: 4"
    ):
        tfc.lite.add_metadata(plain, labels=["a", "b", "c", "d"])
    with pytest.raises(ValueError, match=r": 3 labels. Received: 2 labels"):
        tfc.lite.add_metadata(plain, labels={"scores": ["a", "b"]})


def test_path_arguments_are_read_like_bytes(android, tmp_path):
    path = tmp_path / "model.tflite"
    path.write_bytes(bytes(android))
    names = tfc.lite.signature_names(bytes(android))
    assert tfc.lite.signature_names(str(path)) == names
    assert tfc.lite.signature_names(path) == names
    for tflite in (str(path), path):
        renamed = tfc.lite.set_signature(
            tflite, signature_key="run", output_names=["scores"]
        )
        assert isinstance(renamed, bytes)
        assert renamed == tfc.lite.set_signature(
            bytes(android), signature_key="run", output_names=["scores"]
        )
        written = tfc.lite.add_metadata(tflite, labels=LABELS)
        assert isinstance(written, bytes)
        assert tfc.lite.read_metadata(written).outputs[0].labels == LABELS
    assert path.read_bytes() == bytes(android)
    with pytest.raises(TypeError, match="`model_content`"):
        tfc.lite.signature_names(42)
