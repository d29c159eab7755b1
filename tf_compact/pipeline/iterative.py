"""Global iterative pruning with (distilled) fine-tuning between rounds."""

import keras

from tf_compact.distillation.distiller import Distiller
from tf_compact.distillation.logits_kd import LogitsKD
from tf_compact.graph.channel_graph import ChannelGraph
from tf_compact.internal import batch_norm
from tf_compact.internal import labels as label_lib
from tf_compact.internal.targets import parse_targets
from tf_compact.internal.targets import target_fraction
from tf_compact.internal.validation import validate_bool
from tf_compact.internal.validation import validate_fraction
from tf_compact.internal.validation import validate_int
from tf_compact.pruning.prune import prune_masks
from tf_compact.surgery.cost import estimate_slim_cost
from tf_compact.surgery.slim import slim

#: Training batches of each BN recalibration (forward passes only).
RECALIBRATION_BATCHES = 100


def iterative_prune(
    model,
    train_data,
    *,
    target_macs=None,
    target_params=None,
    fraction=0.2,
    epochs_per_round=1,
    teacher=None,
    distillation_losses=None,
    optimizer="adam",
    loss=None,
    metrics=None,
    importance="l2",
    validation_data=None,
    max_rounds=50,
    fit_kwargs=None,
    verbose=0,
    recalibrate=True,
):
    """Prunes the globally weakest channels round by round, fine-tuning
    between rounds, until a MACs or parameter target (or both) is met.

    Each round removes `fraction` of the remaining prunable channels, the
    least important ones of the whole model (`tfc.prune(..., ratio=...,
    scope="global")`: scores normalized by their group's mean), slims the
    model and fine-tunes it for `epochs_per_round` epochs: with knowledge
    distillation from `teacher` when given (`tfc.Distiller`), else with the
    plain loss. The last round prunes exactly down to the target
    (`tfc.prune(..., target_macs=...)`; with both targets, the smallest
    removal that meets both), and so does round `max_rounds` whatever
    `fraction` has reached. The input model is not changed.

    Args:
        model: The `keras.Model` to prune (Sequential or Functional).
        train_data: Training data for `fit`: a `tf.data.Dataset` or an
            `(x, y)` tuple.
        target_macs: MACs to keep: a fraction of the input model's (a
            float in (0, 1]) or an absolute count (an int >= 2).
            Defaults to `None`.
        target_params: Parameters to keep, likewise. Give one target or
            both. Defaults to `None`.
        fraction: Fraction of the remaining channels removed per round,
            in (0, 1). Defaults to `0.2`.
        epochs_per_round: Fine-tuning epochs after each round. Defaults to
            `1`.
        teacher: Optional teacher for distillation. Defaults to `None`.
        distillation_losses: Distillation terms for `tfc.Distiller`.
            Defaults to `None`: `[tfc.LogitsKD()]`.
        optimizer: Optimizer identifier or instance; each round gets a
            fresh copy. Defaults to `"adam"`.
        loss: The student loss. Defaults to `None`: sparse categorical
            cross-entropy on logits.
        metrics: Metrics to compile. Defaults to `None`.
        importance: Criterion of `tfc.group_importance`. Defaults to
            `"l2"`.
        validation_data: Passed to `fit`. Defaults to `None`.
        max_rounds: Most rounds; the last one prunes to the target.
            Defaults to `50`.
        fit_kwargs: Extra `fit` arguments (e.g. `batch_size`). Defaults to
            `None`.
        verbose: Passed to `fit`; `>0` also prints each round. Defaults to
            `0`.
        recalibrate: Recompute the BN statistics of the slim model from
            `RECALIBRATION_BATCHES` batches of `train_data` after each
            slimming (its BN layers now see other inputs, so the fine-tune
            and its validation start from statistics that match the
            weights) and after each fine-tune (moving statistics lag the
            trained weights), forward passes only. Defaults to `True`.

    Returns:
        A tuple `(slim_model, rounds)`; `rounds` is a list of dicts with the
        round's `macs`, `params`, `macs_fraction`, `params_fraction`,
        the last epoch's logs and, when BN statistics were recalibrated,
        `bn_recalibration` (`batches` and `seconds` of the round's
        recalibrations).

    Raises:
        ValueError: If the targets or `fraction` are invalid.

    Example:

    ```python
    slim, rounds = tfc.iterative_prune(
        student, (x, y), target_macs=0.25, fraction=0.2,
        teacher=teacher, metrics=["accuracy"],
    )
    ```
    """

    targets = parse_targets(target_macs, target_params, "iterative_prune")
    validate_fraction("fraction", fraction, include_one=False)
    validate_int("epochs_per_round", epochs_per_round, minimum=0)
    max_rounds = validate_int("max_rounds", max_rounds, minimum=1)
    recalibrate = validate_bool("recalibrate", recalibrate)
    graph = ChannelGraph(model)
    dense = estimate_slim_cost(model, graph=graph)
    budget = {
        which: target_fraction(targets[kind], dense[which]) * dense[which]
        for which, kind in enumerate(("macs", "params"))
        if kind in targets
    }

    def within(cost):
        return all(cost[w] <= b for w, b in budget.items())

    current, rounds, cost = model, [], dense
    for _ in range(int(max_rounds)):
        if within(cost):
            break
        # One graph per round: ranking, costing and slimming share it.
        masks = prune_masks(
            current, ratio=fraction, importance=importance, graph=graph
        )
        after = estimate_slim_cost(current, masks, graph=graph)
        if len(rounds) + 1 >= int(max_rounds) or within(after):
            goal = {_NAMES[w]: min(1.0, b / cost[w]) for w, b in budget.items()}
            masks = prune_masks(
                current, importance=importance, graph=graph, **goal
            )
        current = slim(current, masks, graph=graph)
        graph = ChannelGraph(current)
        cost = estimate_slim_cost(current, graph=graph)
        synced = [_recalibrate(current, train_data, recalibrate)]
        logs = _fine_tune(
            current,
            train_data,
            teacher,
            distillation_losses,
            optimizer,
            loss,
            metrics,
            epochs_per_round,
            validation_data,
            fit_kwargs,
            verbose,
        )
        if epochs_per_round:
            synced.append(_recalibrate(current, train_data, recalibrate))
        rounds.append(_round_record(len(rounds) + 1, cost, dense, logs))
        if synced[0] is not None:
            rounds[-1]["bn_recalibration"] = {
                "batches": sum(run.batches for run in synced),
                "seconds": sum(run.seconds for run in synced),
            }
        if verbose:
            print(f"iterative_prune: {rounds[-1]}")
    return current, rounds


def _recalibrate(model, data, recalibrate):
    """Recalibrates `model` (the function's own slim model) when asked and
    it has BN layers; returns the `Recalibration` or `None`."""
    if not recalibrate or not batch_norm.batch_norm_layers(model):
        return None
    return batch_norm.recalibrate(
        model, data, max_batches=RECALIBRATION_BATCHES
    )


def _round_record(number, cost, dense, logs):
    macs, params = cost
    return {
        "round": number,
        "macs": macs,
        "params": params,
        "macs_fraction": macs / dense[0] if dense[0] else 1.0,
        "params_fraction": params / dense[1] if dense[1] else 1.0,
        **logs,
    }


def _fine_tune(
    model,
    data,
    teacher,
    distillation_losses,
    optimizer,
    loss,
    metrics,
    epochs,
    validation_data,
    fit_kwargs,
    verbose,
):
    if loss is None:
        loss = label_lib.label_loss(model)
    trainer = model
    if teacher is not None:

        trainer = Distiller(
            teacher,
            model,
            distillation_losses=distillation_losses or [LogitsKD()],
        )
    trainer.compile(
        optimizer=_fresh_optimizer(optimizer), loss=loss, metrics=metrics
    )
    if epochs < 1:
        return {}
    kwargs = dict(fit_kwargs or {})
    if isinstance(data, tuple):
        kwargs["x"], kwargs["y"] = data
    else:
        kwargs["x"] = data
    history = trainer.fit(
        epochs=epochs,
        validation_data=validation_data,
        verbose=verbose,
        **kwargs,
    )
    return {k: float(v[-1]) for k, v in history.history.items()}


def _fresh_optimizer(optimizer):
    if isinstance(optimizer, keras.optimizers.Optimizer):
        return optimizer.__class__.from_config(optimizer.get_config())
    return keras.optimizers.get(optimizer)


_NAMES = {0: "target_macs", 1: "target_params"}
