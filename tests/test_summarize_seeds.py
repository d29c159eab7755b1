"""`benchmarks/summarize_seeds.py`: arms grouped over seeds, paired."""

import importlib.util
import os
import sys

import pytest

_DIR = os.path.join(os.path.dirname(__file__), "..", "benchmarks")
_PATH = os.path.join(_DIR, "summarize_seeds.py")
sys.path.insert(0, os.path.abspath(_DIR))  # its sibling `common`
_SPEC = importlib.util.spec_from_file_location("summarize_seeds", _PATH)
summarize = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(summarize)


def _run(ours, l1, teacher=0.9):
    return {
        "teacher": {"arm": "teacher", "accuracy": teacher},
        "arms": [
            {"arm": "tf_compact (auto: oneshot)", "accuracy": ours},
            {"arm": "L1", "accuracy": l1},
        ],
    }


def test_seed_is_read_from_the_command_line():
    text = "# x\n\nCommand: `python b.py --epochs=4 --seed=3 --name=a`\n"
    assert summarize.seed_of(text) == 3
    assert summarize.seed_of("Command: `python b.py --epochs=4`") == 0
    with pytest.raises(ValueError, match="Command"):
        summarize.seed_of("no command here")


def test_paired_difference_over_common_seeds():
    runs = [(0, _run(0.92, 0.91), "a"), (1, _run(0.90, 0.92), "b")]
    table, warnings = summarize.collect(runs)
    assert warnings == []
    assert set(table) == {"teacher", "tf_compact", "L1"}
    mean, se, n = summarize.paired(table, "L1")
    assert n == 2
    assert mean == pytest.approx(-0.5)  # (+1 - 2) / 2 pp
    assert se == pytest.approx(1.5)  # sd 2.12 / sqrt(2)
    text = summarize.markdown(table, warnings)
    assert "-0.50 ± 1.50 pp (n=2)" in text
    assert "| tf_compact | 92.00% | 90.00% | 91.00 ± 1.41% | – |" in text


def test_a_repeated_seed_that_disagrees_is_reported():
    runs = [(0, _run(0.92, 0.91), "a"), (0, _run(0.93, 0.91), "b")]
    table, warnings = summarize.collect(runs)
    assert table["tf_compact"] == {0: 0.92}
    assert len(warnings) == 1 and "seed 0" in warnings[0]


def test_relabel_keeps_a_run_with_other_settings_apart():
    runs = [(0, _run(0.93, 0.91), "new"), (0, _run(0.92, 0.91), "old")]
    relabel = summarize.parse_relabel(["old:tf_compact=tf_compact a=0.5"])
    table, warnings = summarize.collect(runs, relabel)
    assert warnings == []
    assert table["tf_compact"] == {0: 0.93}
    assert table["tf_compact a=0.5"] == {0: 0.92}
    assert table["L1"] == {0: 0.91}


@pytest.mark.parametrize("entry", ["old", "old:tf_compact", ":a=b", "r:=b"])
def test_relabel_rejects_a_malformed_entry(entry):
    with pytest.raises(ValueError, match="run:arm=label"):
        summarize.parse_relabel([entry])


def test_reference_arm_is_paired_with_every_other_arm():
    runs = [
        (0, _run(0.92, 0.91), "a"),
        (1, _run(0.90, 0.92), "b"),
        (0, _run(0.95, 0.91), "c"),
        (1, _run(0.94, 0.92), "d"),
    ]
    relabel = summarize.parse_relabel(
        ["c:tf_compact=tf_compact new", "d:tf_compact=tf_compact new"]
    )
    table, warnings = summarize.collect(runs, relabel)
    assert warnings == []
    mean, se, n = summarize.paired(table, "L1", "tf_compact new")
    assert n == 2
    assert mean == pytest.approx(3.0)  # (+4 + 2) / 2 pp
    text = summarize.markdown(table, warnings, "tf_compact new")
    assert "tf_compact new − arm (paired, ± se)" in text
    assert "| tf_compact new | 95.00% | 94.00% | 94.50 ± 0.71% | – |" in text
    # tf_compact itself is now one of the paired arms: 95-92, 94-90.
    assert "+3.50 ± 0.50 pp (n=2)" in text
    with pytest.raises(ValueError, match="reference arm"):
        summarize.markdown(table, warnings, "missing")
