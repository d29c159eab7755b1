"""The pruning stages of `compress`, one per method.

- `Iterative`: global iterative pruning of the teacher copy to the target,
  a KD fine-tune between rounds (`tfc.iterative_prune`); the epochs are
  shared among the rounds.
- `Gradual`: KD training while `GradualPruning` masks the channels down
  to the target on a cubic schedule; slim by its final mask.
- `OneShot`: structured pruning of the teacher copy to the target (MACs,
  parameters or latency) or to given widths, then KD at the final widths.
- `Width`: the student is the teacher at `width_multiplier` (lighten's
  `width`); it is trained with KD, nothing is pruned.
"""

import contextlib

import keras

from tf_compact.callbacks import gradual_pruning
from tf_compact.callbacks.gradual_pruning import GradualPruning
from tf_compact.internal import labels as label_lib
from tf_compact.pipeline import recalibration
from tf_compact.pipeline import stages
from tf_compact.pipeline import training
from tf_compact.pipeline.iterative import iterative_prune
from tf_compact.pipeline.model_costs import model_costs
from tf_compact.pipeline.training import steps_per_epoch
from tf_compact.profile import profile
from tf_compact.pruning.latency import measure_latency
from tf_compact.pruning.prune import prune
from tf_compact.pruning.prune import prune_masks
from tf_compact.pruning.validation import UnreachableTarget
from tf_compact.surgery.cost import estimate_slim_cost
from tf_compact.surgery.slim import slim as slim_model

#: Planned rounds of the `iterative` method when it does not say.
ROUNDS = 4
#: Mask updates of the `gradual` method over that share.
GRADUAL_UPDATES = 60
#: Cost ~ (kept channel fraction) ** CHANNEL_EXPONENT, an under-estimate of
#: the conv-to-conv exponent 2, so the planned rounds reach the target.
CHANNEL_EXPONENT = 1.5


def oneshot_slim_stage(ctx):
    """One-shot structured pruning to the budget or `widths`, then KD.

    With a latency budget the record also holds `target_latency_ms` and
    `latency_ms`, the slim model's latency measured on this machine's
    interpreter with the run's `num_threads`.
    """
    student = ctx.store.model("student_init")
    kwargs = _oneshot_kwargs(ctx, student)
    importance = ctx.settings.get("importance", "l2")
    if importance == "taylor":
        kwargs["data"] = ctx.train_data.take(8)
        training.compile_classifier(student)
    with _targets_as_given(ctx):
        slim = prune(student, importance=importance, **kwargs)
    history = {}
    epochs = ctx.settings["epochs"]
    # Pruning left the statistics behind; training moves them again.
    entry = recalibration.recalibrate_student(ctx, slim, measure=not epochs)
    if epochs:
        decay = stages.decay_steps(ctx, epochs)
        trainer = stages.distiller(ctx, slim, decay_steps=decay)
        history = stages.fit(ctx, trainer, "oneshot")
        entry = recalibration.recalibrate_student(ctx, slim)
    ctx.store.put_model("slim", slim)
    record = stages.model_summary(slim, ctx)
    record["history"] = history
    if "target_latency" in kwargs:
        record["target_latency_ms"] = kwargs["target_latency"]
        record["latency_ms"] = measure_latency(slim, kwargs["num_threads"])
    return recalibration.finish(record, entry)


def _oneshot_kwargs(ctx, student):
    """The `tfc.prune` arguments of the one-shot stage."""
    settings = ctx.settings
    widths = settings.get("widths")
    if widths:
        targets = {
            f"target_{kind}": settings.get(f"target_{kind}")
            for kind in ("macs", "params")
        }
        check_widths(student, ctx.teacher, widths, targets)
        return {"widths": widths}
    goals = student_goals(ctx, student)
    kwargs = {f"target_{kind}": t for kind, t in goals.items()}
    kwargs["verbose"] = 1 if ctx.verbose else 0
    if settings.get("round_to"):
        kwargs["round_to"] = settings["round_to"]
    if settings.get("allocation", "global") == "sensitivity":
        kwargs["scope"] = "sensitivity"
        kwargs["data"] = ctx.train_data.take(8)
    if settings.get("target_latency") is not None:
        kwargs["target_latency"] = settings["target_latency"]
        kwargs["num_threads"] = settings["num_threads"]
        kwargs["latency_table"] = settings.get("latency_table")
    return kwargs


def gradual_stage(ctx):
    """KD training while the channels shrink to the target, then slim.

    `GradualPruning` reaches the budget after `gradual_pruning.SHARE` of the
    `epochs` (cubic schedule, `GRADUAL_UPDATES` mask updates); the rest
    trains at the final widths. The learning rate follows the run's
    schedule over the whole stage.
    """

    student = ctx.store.model("student_init")
    goals = student_goals(ctx, student)
    epochs = ctx.settings["epochs"]
    steps = steps_per_epoch(ctx.train_data) or _count_batches(ctx.train_data)
    end_step = max(1, int(steps * max(epochs, 1) * gradual_pruning.SHARE))
    pruning = GradualPruning(
        **{f"target_{kind}": value for kind, value in goals.items()},
        end_step=end_step,
        frequency=max(1, end_step // GRADUAL_UPDATES),
        importance=ctx.settings["importance"],
        round_to=ctx.settings.get("round_to"),
    )
    history = {}
    distiller = stages.distiller(
        ctx, student, decay_steps=stages.decay_steps(ctx, epochs)
    )
    if epochs:
        history = stages.fit(ctx, distiller, "gradual", [pruning])
    else:
        pruning.set_model(distiller)
        pruning.update(end_step)
    slim = slim_model(student, pruning.masks, graph=pruning.plan.graph)
    entry = recalibration.recalibrate_student(ctx, slim)
    ctx.store.put_model("slim", slim)
    record = stages.model_summary(slim, ctx)
    record["history"] = history
    record["schedule"] = pruning.updates
    return recalibration.finish(record, entry)


def _count_batches(dataset):
    return sum(1 for _ in dataset)


def iterative_stage(ctx):
    """Global iterative pruning with KD between rounds, to the target.

    Plans the method's `rounds` (`ROUNDS` when unset): the per-round
    fraction is chosen so the target is reached in about that many (the
    last round prunes exactly to it), and each round fine-tunes for
    `epochs / rounds` of an epoch, so the whole stage costs about `epochs`
    epochs.
    """
    settings = ctx.settings
    planned = settings.get("rounds", ROUNDS)
    student = ctx.store.model("student_init")
    # Rounds are planned on the binding target; the last one meets all.
    goals = student_goals(ctx, student)
    with _targets_as_given(ctx):
        _, target = _binding_of(student, goals)
    fraction = 1.0 - target ** (1.0 / (CHANNEL_EXPONENT * planned))
    steps = steps_per_epoch(ctx.train_data)
    # The data is a dataset, which orders itself: `fit` does not shuffle.
    fit_kwargs, epochs_per_round = {"shuffle": False}, 1
    if steps is not None and settings["epochs"]:
        per_round = max(1, round(steps * settings["epochs"] / planned))
        epochs_per_round = max(1, per_round // steps)
        if per_round < steps:
            fit_kwargs["steps_per_epoch"] = per_round
    elif not settings["epochs"]:
        epochs_per_round = 0
    data = _repeat(ctx.train_data, fit_kwargs)
    if ctx.callbacks:
        fit_kwargs = dict(fit_kwargs, callbacks=list(ctx.callbacks))
    with _targets_as_given(ctx):
        slim, rounds = iterative_prune(
            student,
            data,
            **{f"target_{kind}": value for kind, value in goals.items()},
            fraction=min(max(fraction, 0.01), 0.9),
            epochs_per_round=epochs_per_round,
            teacher=ctx.teacher,
            distillation_losses=stages.kd_losses(ctx),
            optimizer=keras.optimizers.Adam(settings["learning_rate"]),
            loss=label_lib.label_loss(student),
            metrics=[label_lib.label_metric(student)],
            importance=settings.get("importance", "l2"),
            fit_kwargs=fit_kwargs,
            verbose=ctx.fit_verbose() * 2,
        )
    entry = recalibration.recalibrate_student(ctx, slim)
    ctx.store.put_model("slim", slim)
    record = stages.model_summary(slim, ctx)
    record["rounds"] = [
        {k: v for k, v in r.items() if isinstance(v, (int, float))}
        for r in rounds
    ]
    return recalibration.finish(record, entry)


def _repeat(dataset, fit_kwargs):
    """Repeats the data when rounds stop mid-epoch, so no round runs dry."""
    if fit_kwargs.get("steps_per_epoch") and hasattr(dataset, "repeat"):
        return dataset.repeat()
    return dataset


def student_goals(ctx, student):
    """`{kind: fraction of the student's cost}` of every target.

    Targets are fractions of the *teacher's* cost (≤ 1) or absolute counts
    (> 1); both are turned into a fraction of the student's cost, which
    differs from the teacher's when the student was lightened. MACs
    are those of `stages.model_summary` (a MACs target is refused up
    front when they are unknown, `run_settings.run_settings`).
    """
    datasets = (ctx.eval_data, ctx.train_data)
    dense = model_costs(student, datasets)
    teacher = model_costs(ctx.teacher, datasets)
    goals = {}
    for kind in ("macs", "params"):
        target = ctx.settings.get(f"target_{kind}")
        if target is None:
            continue
        absolute = _absolute(target, teacher[kind])
        goals[kind] = min(1.0, absolute / max(dense[kind], 1))
    return goals


@contextlib.contextmanager
def _targets_as_given(ctx):
    """Says an unreachable target in the user's terms: the stage prunes
    the student to a fraction of *its* cost, the user gave a fraction of
    the teacher's or a count."""
    try:
        yield
    except UnreachableTarget as err:
        given = ctx.settings.get(err.name)
        if given is None:
            raise
        kind = "macs" if err.what == "MACs" else "params"
        teacher = getattr(profile(ctx.teacher), kind)
        reached = round(err.reached * err.total)
        goal = f"{given:.1%} of the teacher's {err.what}"
        if given > 1:
            goal = f"{given:,} of the teacher's {teacher:,} {err.what}"
        raise ValueError(
            f"Invalid value for argument `{err.name}`: the student cannot be "
            f"pruned to {goal}; with the given constraints the smallest "
            f"reachable is {reached:,} ({reached / teacher:.1%} of the "
            f"teacher's). Received: {err.name}={given!r}"
        ) from err


def _absolute(target, teacher_cost):
    """A target as a count: a fraction of the teacher's cost (<= 1) or one."""
    return target * teacher_cost if target <= 1 else target


def check_widths(model, teacher, widths, targets):
    """Checks hand-chosen `widths` against `model` and the targets.

    Args:
        model: the student before pruning (the teacher copy, possibly
            lightened).
        teacher: the teacher, whose cost the targets refer to.
        widths: `{group or producer layer name: kept channels}`.
        targets: `{"target_macs": ..., "target_params": ...}`, each a
            fraction of the teacher's cost (<= 1), a count (> 1) or `None`.

    Raises:
        ValueError: for a name or width that does not fit `model`, or
            widths whose slim model misses a target.
    """
    reached = estimate_slim_cost(model, prune_masks(model, widths=widths))
    full = estimate_slim_cost(teacher)
    for index, kind in enumerate(("macs", "params")):
        target = targets.get(f"target_{kind}")
        if target is None or reached[index] <= _absolute(target, full[index]):
            continue
        raise ValueError(
            f"Invalid value for argument `widths`: the slim model keeps "
            f"{reached[index]:,} {kind} ({reached[index] / full[index]:.1%} "
            f"of the teacher), over `target_{kind}`={target}. Received: "
            f"widths={widths}"
        )


def _binding_of(student, goals):
    """`(kind, fraction of the student's cost)` of the binding target.

    With both a MACs and a parameter target, a one-shot prune that meets
    both tells which one binds: the one its result is closest to.
    """
    if len(goals) == 1:
        return next(iter(goals.items()))
    return _binding(student, goals)


def _binding(student, goals):
    trial = prune(
        student, target_macs=goals["macs"], target_params=goals["params"]
    )
    reached = estimate_slim_cost(trial)
    dense = estimate_slim_cost(student)
    ratio = {
        kind: reached[i] / max(dense[i], 1) / goals[kind]
        for i, kind in enumerate(("macs", "params"))
    }
    kind = max(ratio, key=ratio.get)
    return kind, goals[kind]


def kd_train_stage(ctx):
    """Trains the (already narrow) student with KD, no sparsity."""
    student = ctx.store.model("student_init")
    decay = stages.decay_steps(ctx, ctx.settings["epochs"])
    distiller = stages.distiller(ctx, student, decay_steps=decay)
    history = stages.fit(ctx, distiller, "kd_train")
    entry = recalibration.recalibrate_student(ctx, student)
    ctx.store.put_model("slim", student)
    record = stages.model_summary(student, ctx)
    record["history"] = history
    return recalibration.finish(record, entry)
