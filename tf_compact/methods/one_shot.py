"""`OneShot`: structured pruning to a budget in one step, then KD."""

from tf_compact.internal.validation import invalid
from tf_compact.internal.validation import validate_choice
from tf_compact.internal.validation import validate_int
from tf_compact.methods.method import Method
from tf_compact.methods.method import parse_budget
from tf_compact.pruning.validation import CRITERIA
from tf_compact.pruning.validation import validate_target_latency

#: How `OneShot` splits the budget among the channel groups.
ALLOCATIONS = ("global", "sensitivity")


class OneShot(Method):
    """Prunes the teacher copy to the budget at once, then distills.

    The student is pruned once (`tfc.prune`) to the MACs, parameter or
    latency budget, or to hand-chosen `widths`, and trained with knowledge
    distillation from the teacher at its final widths for `compress`'s
    `epochs`, then fine-tuned (`tfc.methods.Training.finetune_epochs`).

    Args:
        target_macs: MACs budget: a fraction of the teacher's MACs (a float
            in (0, 1]) or an absolute count (an int >= 2). Defaults to
            `None`.
        target_params: parameter budget, same convention. Defaults to
            `None`.
        target_latency: latency budget in milliseconds of the float32
            TFLite student at batch 1, with `tfc.methods.Export`'s
            `num_threads` threads (`tfc.prune(target_latency=...)`): a
            per-group latency table measured on this machine's interpreter
            (cached), or read from `latency_table`. The report records the
            student's measured latency next to the target. Combines with
            `target_macs`/`target_params` (every budget is met) and with
            either allocation, not with `widths`. Refused by `compress`
            for a teacher whose input takes any size (its latency
            depends on that size), as `target_macs` is. Defaults to
            `None`.
        latency_table: with `target_latency`, the path of times taken
            on the target device with `benchmark_model`: the folder of its
            logs, one per probe of `tfc.pruning.export_probes`, or a CSV /
            JSON summary (`tfc.pruning.LatencyTable.from_benchmark_model`);
            `None` to measure here. Defaults to `None`.
        widths: the student's widths chosen by hand instead of searched:
            `{group or producer layer name: kept channels}`
            (`tfc.prune(widths=...)`); each named group keeps its best
            channels by `importance`, the others all theirs. With a MACs or
            parameter target too, the widths must meet it (checked before
            any training when nothing is lightened). Defaults to `None`.
        allocation: how the budget is split among the channel groups:
            `"global"` (one ranking of every channel by its
            group-normalized score) or `"sensitivity"` (each group cut
            alone to a few widths on 8 training batches; widths taken where
            the predictions change least per unit of budget,
            `tfc.prune(scope="sensitivity")`). Defaults to `"global"`.
        importance: channel criterion: `"l2"`, `"l1"`, `"bn_gamma"` or
            `"taylor"` (gradients on 8 training batches). Defaults to
            `"l2"`.
        round_to: keep pruned widths multiples of this; 8 or 16 match the
            channel tiles of XNNPACK's kernels. Defaults to `None`.

    Raises:
        ValueError: for an invalid budget, no budget and no `widths`, or
            settings that do not combine.

    Example:

    ```python
    method = tfc.methods.OneShot(target_macs=0.25, round_to=8)
    result = tfc.compress(teacher, bundle, method=method, epochs=6)
    fast = tfc.methods.OneShot(target_latency=1.5, round_to=8)
    ```
    """

    name = "oneshot"

    def __init__(
        self,
        target_macs=None,
        target_params=None,
        target_latency=None,
        latency_table=None,
        widths=None,
        allocation="global",
        importance="l2",
        round_to=None,
    ):
        widths = validate_widths(widths)
        latency = None
        if target_latency is not None:
            latency = validate_target_latency(target_latency)
        budget = parse_budget(
            "OneShot",
            target_macs,
            target_params,
            required=latency is None and widths is None,
        )
        validate_choice("allocation", allocation, ALLOCATIONS)
        validate_choice("importance", importance, CRITERIA)
        if round_to is not None:
            round_to = validate_int("round_to", round_to, minimum=1)
        _check_latency(latency, latency_table, widths)
        self._init(
            **budget,
            target_latency=latency,
            latency_table=latency_table,
            widths=widths,
            allocation=allocation,
            importance=importance,
            round_to=round_to,
        )


def _check_latency(latency, table, widths):
    if table is not None and not isinstance(table, str):
        raise invalid(
            "latency_table",
            "None or the path of a latency table (a folder of "
            "benchmark_model logs, or a CSV or JSON file); a `LatencyTable` "
            "object goes to `tfc.prune(latency_table=...)`",
            table,
        )
    if latency is None:
        if table is not None:
            raise invalid(
                "latency_table",
                "None when no `target_latency` is given",
                table,
            )
        return
    if widths is not None:
        raise invalid(
            "target_latency",
            "None with `widths` (hand-chosen widths are not searched)",
            latency,
        )


def validate_widths(widths):
    """Returns `widths` sorted by name, or `None`.

    Raises:
        ValueError: unless `widths` is `None` or a non-empty dict
            `{name: int >= 1}`.
    """
    if widths is None:
        return None
    ok = isinstance(widths, dict) and len(widths) > 0
    ok = ok and all(
        isinstance(k, str)
        and isinstance(v, int)
        and not isinstance(v, bool)
        and v >= 1
        for k, v in widths.items()
    )
    if not ok:
        raise invalid(
            "widths",
            "a non-empty dict {layer or group name: int >= 1}",
            widths,
        )
    return dict(sorted(widths.items()))
