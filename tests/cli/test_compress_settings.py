"""`tf-compact compress` flags mapped onto `tfc.methods` objects."""

import pytest
import tensorflow as tf
from absl import app
from absl.testing import flagsaver

from tf_compact import methods
from tf_compact.cli import compress
from tf_compact.cli import compress_settings

build = compress_settings.build_method


@pytest.mark.parametrize(
    "name, options, given, expected",
    [
        ("auto", {"target_macs": 0.25}, (), methods.OneShot(0.25)),
        ("auto", {"target_macs": None}, (), methods.Controller()),
        (
            "auto",
            {"target_macs": 0.25, "widths": {"fc": 4}},
            (),
            methods.OneShot(widths={"fc": 4}),
        ),
        (
            "oneshot",
            {"target_macs": 0.25, "widths": {"fc": 4}},
            ("target_macs", "widths"),
            methods.OneShot(0.25, widths={"fc": 4}),
        ),
        (
            "oneshot",
            {"target_macs": None, "target_latency": 1.5, "round_to": 8},
            ("target_latency", "round_to"),
            methods.OneShot(target_latency=1.5, round_to=8),
        ),
        (
            # The default --target_macs does not ride along a latency budget
            "oneshot",
            {"target_macs": 0.25, "target_latency": 1.5},
            ("target_latency",),
            methods.OneShot(target_latency=1.5),
        ),
        (
            "oneshot",
            {"target_macs": 0.5, "target_latency": 1.5},
            ("target_latency", "target_macs"),
            methods.OneShot(0.5, target_latency=1.5),
        ),
        (
            "auto",
            {"target_latency": 1.5, "latency_table": "phone.json"},
            ("target_latency", "latency_table"),
            methods.OneShot(target_latency=1.5, latency_table="phone.json"),
        ),
        (
            "budget",
            {"target_macs": 0.25, "strength": 1e-3, "round_to": None},
            ("strength",),
            methods.Budget(0.25, strength=1e-3),
        ),
        ("controller", {"target_macs": 0.25}, (), methods.Controller()),
        (
            "width",
            {"target_macs": 0.25, "width_multiplier": 0.5},
            ("width_multiplier",),
            methods.Width(0.5),
        ),
        (
            "iterative",
            {"target_params": 0.3, "importance": "l1"},
            ("importance",),
            methods.Iterative(target_params=0.3, importance="l1"),
        ),
        (
            "gradual",
            {"target_macs": 0.4, "round_to": 4, "widths": []},
            ("round_to",),
            methods.Gradual(0.4, round_to=4),
        ),
    ],
)
def test_flags_become_the_method_object(name, options, given, expected):
    assert build(name, options, given) == expected


def test_a_flag_the_method_does_not_use_is_refused():
    with pytest.raises(ValueError, match="--round_to does not apply"):
        build("budget", {"target_macs": 0.5, "round_to": 8}, ("round_to",))
    words = "--target_latency does not apply to --method=budget; it is a "
    with pytest.raises(ValueError, match=words + "setting of --method=oneshot"):
        options = {"target_macs": 0.5, "target_latency": 2.0}
        build("budget", options, ("target_latency",))


@pytest.mark.parametrize("method", ["controller", "width"])
@pytest.mark.parametrize("flag", ["target_macs", "target_params"])
def test_a_budget_given_to_a_method_without_one_is_refused(method, flag):
    own = {"width_multiplier": 0.5} if method == "width" else {}
    options = {"target_macs": 0.25, flag: 0.5, **own}
    # Only the defaults pass silently (see the cases above)...
    build(method, options, tuple(own))
    # ...given explicitly, a budget the method ignores is refused.
    with pytest.raises(ValueError, match=f"--{flag} does not apply to "):
        build(method, options, (flag, *own))


def test_a_required_flag_left_unset_is_named():
    with pytest.raises(ValueError) as error:
        build("width", {"target_macs": 0.25}, ())
    assert str(error.value).startswith(
        "--method=width needs --width_multiplier"
    )
    assert "required" in str(error.value)


def test_strategy_flag_names_the_strategy():
    assert compress_settings.build_strategy("none") is None
    strategy = compress_settings.build_strategy("mirrored")
    assert isinstance(strategy, tf.distribute.MirroredStrategy)
    with pytest.raises(ValueError, match="'ring'"):
        compress_settings.build_strategy("ring")


@pytest.mark.parametrize(
    "given, read",
    [
        ("Mirrored", "mirrored"),
        ("OFF", "none"),
        ("multi-worker", "multi_worker"),
    ],
)
def test_strategy_flag_reads_what_the_python_api_reads(given, read):
    assert compress_settings.StrategyParser().parse(given) == read


def test_an_unknown_strategy_flag_lists_the_choices():
    with pytest.raises(
        ValueError, match="none, mirrored, multi_worker.*'ring'"
    ):
        compress_settings.StrategyParser().parse("ring")


def test_training_and_export_flags():
    training = compress_settings.build_training(
        {"finetune_epochs": 0, "temperature": None, "lighten": ("gap_head",)}
    )
    assert training == methods.Training(
        finetune_epochs=0, lighten=("gap_head",)
    )
    export = compress_settings.build_export(["int8"])
    assert export == methods.Export(tflite_modes=("int8",))


def test_target_flags_read_counts_and_zero():
    parse = compress_settings.parse_target_flag
    assert parse("target_macs", "0") is None
    assert parse("target_macs", None) is None
    assert parse("target_macs", "1.2M") == 1_200_000
    assert parse("target_params", "0.25") == 0.25


@pytest.mark.parametrize(
    "changes, match",
    [
        ({"method": "budget", "round_to": "8"}, "--round_to does not apply"),
        (
            {"method": "gradual", "target_latency": "2.0"},
            "--target_latency does not apply to --method=gradual",
        ),
        ({"method": "width"}, "--method=width needs --width_multiplier: "),
        (
            {"method": "controller", "target_macs": "0.5"},
            "--target_macs does not apply to --method=controller",
        ),
        (
            {
                "method": "width",
                "width_multiplier": "0.5",
                "target_params": "0.3",
            },
            "--target_params does not apply to --method=width",
        ),
    ],
)
def test_method_flags_fail_as_usage_errors_before_any_data(
    changes, match, tmp_path
):
    parsed = flagsaver.as_parsed(output_dir=str(tmp_path), **changes)
    with parsed, pytest.raises(app.UsageError, match=match):
        compress.main(["compress"])
    assert not list(tmp_path.iterdir())


def test_dataset_flag_takes_any_tfds_name(monkeypatch):
    from tf_compact import data
    from tf_compact.cli import common_flags

    seen = []
    monkeypatch.setattr(
        data, "load", lambda name, **kwargs: seen.append(name) or "bundle"
    )
    with flagsaver.flagsaver(dataset="mnist_corrupted/shot_noise"):
        assert common_flags.load_data() == "bundle"
    assert seen == ["mnist_corrupted/shot_noise"]


def test_dataset_that_cannot_load_is_a_usage_error():
    from tf_compact.cli import common_flags

    with (
        flagsaver.flagsaver(dataset="no_such_dataset_x"),
        pytest.raises(app.UsageError, match="--dataset=no_such_dataset_x"),
    ):
        common_flags.load_data()


def test_dataset_flag_takes_a_folder_of_class_folders(tmp_path):
    from tests.data import helpers
    from tf_compact.cli import common_flags

    x, y = helpers.real_fashion_images(12)
    for i, (image, label) in enumerate(zip(x, y % 2)):
        folder = tmp_path / ["shirt", "shoe"][label]
        folder.mkdir(exist_ok=True)
        png = tf.io.encode_png(image[..., None]).numpy()
        (folder / f"{i}.png").write_bytes(png)
    with flagsaver.flagsaver(dataset=str(tmp_path), batch_size=4):
        bundle = common_flags.load_data()
    assert bundle.class_names == ["shirt", "shoe"]
    assert bundle.num_examples("train") + bundle.num_examples("test") == 12
    with (
        flagsaver.flagsaver(dataset=str(tmp_path), data_dir="elsewhere"),
        pytest.raises(app.UsageError, match="--data_dir applies"),
    ):
        common_flags.load_data()


def test_a_dataset_path_that_does_not_exist_is_named():
    from tf_compact.cli import common_flags

    with (
        flagsaver.flagsaver(dataset="./no_such_photos/"),
        pytest.raises(app.UsageError, match="no folder or file"),
    ):
        common_flags.load_data()
