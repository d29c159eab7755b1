"""`benchmarks/teachers.py`: the recipe's schedule, augmentation and
plateau check, and a tiny run that is killed, resumed and then cached."""

import json
import os
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))

import common  # noqa: E402

from tests.bench_scripts import import_script  # noqa: E402

teachers = import_script("teachers")


def test_learning_rate_cosine_then_floor():
    spec = teachers.recipe("vgg", epochs=4, tail_epochs=2)
    peak = spec["learning_rate"]
    floor = peak * spec["min_learning_rate_fraction"]
    assert teachers.learning_rate(spec, 0) == pytest.approx(peak)
    assert teachers.learning_rate(spec, 2) == pytest.approx((peak + floor) / 2)
    assert teachers.learning_rate(spec, 4) == pytest.approx(floor)
    assert teachers.learning_rate(spec, 5) == pytest.approx(floor)


def test_augment_is_a_function_of_seed_and_epoch():
    spec = teachers.recipe("vgg")
    x = np.arange(6 * 5 * 5, dtype="float32").reshape(6, 5, 5, 1)
    a, order_a = teachers.augment(x, spec, 3)
    b, order_b = teachers.augment(x, spec, 3)
    c, _ = teachers.augment(x, spec, 4)
    assert a.shape == x.shape
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(order_a, order_b)
    assert sorted(order_a) == list(range(6))
    assert not np.array_equal(a, c)
    # A crop of the zero-padded image: every value is 0 or one of the image's.
    for i in range(6):
        assert set(a[i].ravel()) <= set(x[i].ravel()) | {0.0}


def test_augment_without_crop_or_flip_keeps_the_images():
    spec = dict(teachers.recipe("vgg"), pad_crop=0, flip=False)
    x = np.random.default_rng(0).random((4, 5, 5, 1)).astype("float32")
    out, _ = teachers.augment(x, spec, 0)
    np.testing.assert_array_equal(out, x)


def test_plateau_check():
    flat = [0.5] * 3 + [0.9] * 3 + [0.9] * 10
    assert teachers.plateau_check(flat) == (0.0, True)
    rising = [0.90, 0.90, 0.90] + [0.901] * 7 + [0.905] * 3
    gain, plateau = teachers.plateau_check(rising)
    assert gain == pytest.approx(0.5)
    assert plateau is False
    # Only the last ten epochs count: an early climb does not fail it.
    late_flat = [0.5] * 10 + [0.9] * 13
    assert teachers.plateau_check(late_flat) == (0.0, True)
    assert teachers.plateau_check([0.9] * 5) == (None, None)


def test_unknown_teacher_is_refused():
    with pytest.raises(ValueError, match="'lenet'"):
        teachers.recipe("lenet")


def test_summary_lists_teachers_under_way(tmp_path):
    folder = tmp_path / "vgg-abc"
    folder.mkdir()
    record = {
        "teacher": "vgg",
        "finished": False,
        "epochs_done": 3,
        "epochs_total": 20,
        "test_accuracy": 0.9123,
        "tail_gain_pp": None,
        "plateau": None,
        "params": 437546,
        "macs": 22199296,
        "recipe": {"limit": None},
        "run": {"command": "python benchmarks/teachers.py --teacher=vgg"},
    }
    (folder / "teacher.json").write_text(json.dumps(record))
    text = teachers.summary(str(tmp_path))
    assert (
        "| vgg | `vgg-abc` | 3/20 (under way) | 91.23% | – | – | 437.5K | "
        "22.20M | `python benchmarks/teachers.py --teacher=vgg` |"
    ) in text
    with pytest.raises(FileNotFoundError, match="3 of 20 epochs"):
        common.load_teacher("vgg", str(tmp_path))


@pytest.mark.slow
def test_killed_run_resumes_then_is_cached(tmp_path):
    spec = teachers.recipe("vgg", epochs=1, tail_epochs=1, limit=256)
    spec["model"] = {
        "builder": "vgg",
        "kwargs": {"blocks": ((8,),), "dense_units": 8},
    }
    logs = []
    folder = teachers.train("vgg", spec, str(tmp_path), 1, logs.append)
    with open(os.path.join(folder, "teacher.json")) as f:
        first = json.load(f)
    assert first["epochs_done"] == 1 and first["finished"] is False
    assert os.path.exists(os.path.join(folder, "checkpoint.keras"))
    assert teachers.train("vgg", spec, str(tmp_path), None, logs.append) == (
        folder
    )
    assert "vgg: resuming after epoch 1" in logs
    with open(os.path.join(folder, "teacher.json")) as f:
        done = json.load(f)
    assert done["finished"] is True
    assert [h["epoch"] for h in done["history"]] == [1, 2]
    assert done["history"][0] == first["history"][0]
    assert not os.path.exists(os.path.join(folder, "checkpoint.keras"))
    model = common.load_teacher("vgg", str(tmp_path))
    assert model.count_params() == done["params"]
    teachers.train("vgg", spec, str(tmp_path), None, logs.append)
    assert logs[-1] == f"vgg: cached in {folder}"


@pytest.mark.slow
def test_longer_tail_goes_on_from_the_finished_shorter_run(tmp_path):
    model = {"builder": "vgg", "kwargs": {"blocks": ((8,),), "dense_units": 8}}
    short = dict(teachers.recipe("vgg", 1, 1, limit=256), model=model)
    logs = []
    first = teachers.train("vgg", short, str(tmp_path), None, logs.append)
    longer = dict(short, tail_epochs=2)
    folder = teachers.train("vgg", longer, str(tmp_path), None, logs.append)
    assert folder != first
    assert f"vgg: extending {os.path.basename(first)} after epoch 2" in logs
    with open(os.path.join(first, "teacher.json")) as f:
        before = json.load(f)
    with open(os.path.join(folder, "teacher.json")) as f:
        after = json.load(f)
    assert after["finished"] is True
    assert after["extended_from"] == os.path.basename(first)
    assert after["history"][:2] == before["history"]
    assert [h["epoch"] for h in after["history"]] == [1, 2, 3]
    # A different recipe (another seed) is not extended from it.
    other = dict(longer, seed=1)
    logs.clear()
    teachers.train("vgg", other, str(tmp_path), None, logs.append)
    assert not any("extending" in line for line in logs)


def test_the_teacher_finished_last_is_loaded_whatever_the_file_times(
    tmp_path,
):
    for entry, finished_at in (
        ("vgg-new", "2026-02-01T00:00:00Z"),
        ("vgg-old", "2026-01-01T00:00:00Z"),
        ("vgg-older", None),
    ):
        folder = tmp_path / entry
        folder.mkdir()
        (folder / "teacher.keras").write_text("")
        record = {"finished": True, "finished_at": finished_at}
        (folder / "teacher.json").write_text(json.dumps(record))
    # The oldest record is written last: its file is the newest.
    _, folder = common.teacher_record("vgg", str(tmp_path))
    assert os.path.basename(folder) == "vgg-new"
