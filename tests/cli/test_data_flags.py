"""The data flags shared by the commands: --image_size, --color_mode and
the messages of a --dataset that cannot be loaded."""

import pytest
import tensorflow as tf
from absl import app
from absl.testing import flagsaver

from tests.data import helpers
from tf_compact.cli import common_flags


def _mixed_size_folder(root):
    """Two class folders of 28x28 and 20x20 grayscale PNGs."""
    x, _ = helpers.real_fashion_images(8)
    for i, image in enumerate(x):
        folder = root / ("big" if i % 2 else "small")
        folder.mkdir(exist_ok=True)
        image = image if i % 2 else image[:20, :20]
        png = tf.io.encode_png(image[..., None]).numpy()
        (folder / f"{i}.png").write_bytes(png)
    return str(root)


def test_image_size_and_color_mode_reach_the_folder_loader(tmp_path):
    path = _mixed_size_folder(tmp_path)
    with (
        flagsaver.flagsaver(dataset=path),
        pytest.raises(app.UsageError, match="--image_size=HEIGHTxWIDTH"),
    ):
        common_flags.load_data()
    with flagsaver.flagsaver(
        dataset=path, image_size="14x12", color_mode="rgb", batch_size=4
    ):
        bundle = common_flags.load_data()
        settings = common_flags.data_settings()
    assert bundle.input_shape == (14, 12, 3)
    assert next(iter(bundle.train))[0].shape[1:] == (14, 12, 3)
    # Recorded with a saved teacher, so a changed size is noticed.
    assert settings["image_size"] == [14, 12]
    assert settings["color_mode"] == "rgb"
    with flagsaver.flagsaver(dataset=path):
        assert "image_size" not in common_flags.data_settings()


@pytest.mark.parametrize("value", ["28", "28x", "0x28", "28x28x3", "ax b"])
def test_a_malformed_image_size_is_a_usage_error(value):
    with (
        flagsaver.flagsaver(image_size=value),
        pytest.raises(app.UsageError) as error,
    ):
        common_flags.load_data()
    assert str(error.value).startswith(f"--image_size={value}: expected")


def test_image_size_with_a_named_dataset_is_a_usage_error():
    with (
        flagsaver.flagsaver(dataset="builtin", image_size="28x28"),
        pytest.raises(app.UsageError, match="apply to a folder"),
    ):
        common_flags.load_data()


@pytest.mark.parametrize("name", ["beans", "mnist"])
def test_offline_dataset_errors_name_the_command_line_ways(
    name, tmp_path, monkeypatch
):
    pytest.importorskip("tensorflow_datasets")
    monkeypatch.delenv("TF_COMPACT_DOWNLOAD", raising=False)
    with (
        flagsaver.flagsaver(dataset=name, data_dir=str(tmp_path)),
        pytest.raises(app.UsageError) as error,
    ):
        common_flags.load_data()
    message = str(error.value)
    assert "TF_COMPACT_DOWNLOAD=1" in message and "--data_dir" in message
    for python in ("download=True", "source=", "data_dir=", "tf_compact."):
        assert python not in message, message


@pytest.mark.parametrize("name", ["no_such_photos_x/", "no_such/photos_x"])
def test_a_missing_folder_is_not_called_a_bad_tfds_name(name):
    with (
        flagsaver.flagsaver(dataset=name),
        pytest.raises(app.UsageError, match="no folder or file"),
    ):
        common_flags.load_data()


@pytest.mark.parametrize("first_folder", [True, False])
def test_a_missing_folder_gets_one_message_in_flag_words(
    first_folder, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    if first_folder:
        (tmp_path / "photos").mkdir()
    with (
        flagsaver.flagsaver(dataset="photos/does_not_exist"),
        pytest.raises(app.UsageError) as error,
    ):
        common_flags.load_data()
    message = str(error.value)
    assert message.startswith(
        "--dataset=photos/does_not_exist: no folder or file "
        "'photos/does_not_exist'"
    )
    assert "argument" not in message and "name=" not in message
    # An existing first folder makes it a path: no word of tfds then.
    assert ("tensorflow-datasets" in message) != first_folder


def test_an_empty_class_folder_is_named_in_flag_words(tmp_path):
    x, _ = helpers.real_fashion_images(4)
    for i, image in enumerate(x):
        folder = tmp_path / ["cat", "dog"][i % 2]
        folder.mkdir(exist_ok=True)
        png = tf.io.encode_png(image[..., None]).numpy()
        (folder / f"{i}.png").write_bytes(png)
    (tmp_path / "empty_class").mkdir()
    with (
        flagsaver.flagsaver(dataset=str(tmp_path)),
        pytest.raises(app.UsageError) as error,
    ):
        common_flags.load_data()
    message = str(error.value)
    assert message.startswith(
        f"--dataset={tmp_path}: the class folder {tmp_path}/empty_class "
        "holds no image files"
    )
    assert "Remove that folder, or add images to it." in message
    assert "argument" not in message and "Received" not in message
