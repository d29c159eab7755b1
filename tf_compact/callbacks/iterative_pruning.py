"""`IterativePruning`: global iterative pruning as a training callback."""

import math

import keras
import numpy as np
import tensorflow as tf

from tf_compact.callbacks import channel_masks
from tf_compact.graph.channel_graph import ChannelGraph
from tf_compact.internal import distribute
from tf_compact.internal.targets import KINDS
from tf_compact.internal.targets import parse_targets
from tf_compact.internal.targets import target_fraction
from tf_compact.internal.user_warning import warn
from tf_compact.internal.validation import validate_choice
from tf_compact.internal.validation import validate_fraction
from tf_compact.internal.validation import validate_int
from tf_compact.pruning.importance import group_importance
from tf_compact.pruning.validation import validate_known_macs
from tf_compact.sparsity import group_plan
from tf_compact.surgery.cost import cost_from_keep


@keras.saving.register_keras_serializable(package="tf_compact")
class IterativePruning(keras.callbacks.Callback):
    """Masks the globally weakest channels every few epochs, to a budget.

    Every `every` epochs (from `start_epoch`), the callback scores the
    channels still alive with `tfc.group_importance` (normalized by their
    group's mean, so groups of different scale rank together), and masks
    the weakest `fraction` of them across the whole model, fewer when
    that already meets the target; a group, and each producer layer in
    it, always keeps one channel.
    Masked channels have every coupled weight (producer kernel and bias
    slices, BN gamma and beta) set to zero after each training step, so
    the training in between (with a `tfc.Distiller`, knowledge
    distillation) fine-tunes the rest. After training,
    `tfc.slim(model, callback.masks)` (or `tfc.prune(model,
    threshold=1e-12)`) gives the slim model.

    Use it on the model that is pruned, or on a `tfc.Distiller` or
    `tfc.Sparsifier` wrapping it. When the wrapper carries a penalty, the
    mask is kept in one of the penalty's state variables and
    `keras.callbacks.BackupAndRestore` resumes it; otherwise the mask lives
    in the callback only. Logs `slim_macs_fraction`,
    `slim_params_fraction` and `group_sparsity` (fraction of channels
    masked).

    Calling `fit` again with the same callback (and the same model)
    continues from the mask reached, as `keras.callbacks.ReduceLROnPlateau`
    keeps its state: masked channels stay masked. When another callback
    restores weights (`keras.callbacks.EarlyStopping(
    restore_best_weights=True)`), the mask is applied again at the end of
    training (or when `masks` is read), with a warning.

    When training starts with too few epochs for the rounds to reach the
    budget (projected from the current scores), and when it ends with the
    budget missed, the callback warns, saying by how much.

    Args:
        target_macs: MACs to keep: a fraction of the model's (a float in
            (0, 1]) or an absolute count (an int >= 2).
            Defaults to `None`.
        target_params: Parameters to keep, likewise. At least one target;
            with both, rounds run until the slim model meets both.
            Defaults to `None`.
        fraction: Fraction of the alive channels masked per round, in
            (0, 1). Defaults to `0.2`.
        every: Epochs between rounds. Defaults to `1`.
        start_epoch: First epoch (0-based) at whose end a round may run.
            Defaults to `0`.
        importance: Criterion of `tfc.group_importance` (`"l2"`, `"l1"`,
            `"bn_gamma"`). Defaults to `"l2"`.
        verbose: `1` prints each round. Defaults to `0`.

    Raises:
        ValueError: If an argument is invalid, or (when the model is set)
            `target_macs` is given and an input of the model takes any size
            (`keras.Input((None, None, 3))`: its MACs are unknown).

    Example:

    ```python
    pruning = tfc.callbacks.IterativePruning(target_macs=0.25)
    # or both: rounds until 25% of the MACs and 10% of the params
    both = tfc.callbacks.IterativePruning(target_macs=0.25, target_params=0.1)
    distiller.fit(x, y, epochs=8, callbacks=[pruning])
    slim = tfc.slim(distiller.student, pruning.masks)
    ```
    """

    #: Criteria that rank channels by their weights (masked ones score 0).
    CRITERIA = ("l2", "l1", "bn_gamma")

    def __init__(
        self,
        target_macs=None,
        target_params=None,
        fraction=0.2,
        every=1,
        start_epoch=0,
        importance="l2",
        verbose=0,
    ):
        super().__init__()
        #: The targets as given: `{kind: fraction or absolute count}`.
        self.given_targets = parse_targets(
            target_macs, target_params, caller=type(self).__name__
        )
        #: `{"macs" or "params": fraction to keep}` (counts are turned
        #: into fractions of the model's cost when the model is set).
        self.targets = dict(self.given_targets)
        self.fraction = validate_fraction(
            "fraction", fraction, include_one=False
        )
        self.every = validate_int("every", every, minimum=1)
        self.start_epoch = validate_int("start_epoch", start_epoch, minimum=0)
        self.importance = validate_choice(
            "importance", importance, self.CRITERIA
        )
        self.verbose = int(verbose)
        self.mask = None

    def set_model(self, model):
        super().set_model(model)
        pruned = channel_masks.pruned_model_of(model)
        # A later fit of the same model continues from the masks reached.
        kept = None
        if (
            self.mask is not None
            and getattr(self, "pruned_model", None) is pruned
        ):
            kept = keras.ops.convert_to_numpy(self.mask)
        else:
            validate_known_macs(pruned, self.given_targets.get("macs"))
            self.pruned_model = pruned
            graph = ChannelGraph(pruned)
            channel_masks.require_groups(self, pruned, graph)
            self.plan = group_plan.GroupPlan.from_graph(graph)
            self.plan.graph = graph
            self._dense = cost_from_keep(graph, None)
            self.targets = {
                kind: target_fraction(target, self._dense[KINDS.index(kind)])
                for kind, target in self.given_targets.items()
            }
            self._reset_schedule()
        n = self.plan.num_channels
        penalty = getattr(model, "sparsity", None)
        with distribute.scope_of(model):
            if hasattr(penalty, "state_variable"):
                self.mask = penalty.state_variable("prune_mask", 1.0, (n,))
            else:
                self.mask = keras.Variable(np.ones((n,), "float32"))
        if kept is not None:
            current = keras.ops.convert_to_numpy(self.mask)
            self.mask.assign(np.minimum(current, kept).astype("float32"))
        plan, mask = self.plan, self.mask
        self._apply = tf.function(lambda: plan.scale_channels(mask))

    def _reset_schedule(self):
        """Forgets the progress of a previous model (a new model is set)."""

    @property
    def masks(self):
        """`{group name: bool array}`: the channels kept so far.

        The first read after training first zeroes any masked channel
        whose weights a callback that ran after this one set back (with a
        warning), so `tfc.slim(model, masks)` equals the masked model;
        later reads change nothing.
        """
        if getattr(self, "_check_on_read", False):
            self._check_on_read = False
            channel_masks.reapply_stale_masks(self, "when `masks` was read")
        return self.plan.split(keras.ops.convert_to_numpy(self.mask) > 0)

    def cost(self, keep=None):
        """Returns `(macs, params)` of the slim model for a keep vector."""
        if keep is None:
            keep = keras.ops.convert_to_numpy(self.mask) > 0
        elements = self.plan.graph.keep_elements(self.plan.split(keep))
        return cost_from_keep(self.plan.graph, elements)

    def _fraction_of(self, cost, kind):
        i = 0 if kind == "macs" else 1
        return cost[i] / self._dense[i] if self._dense[i] else 1.0

    def meets(self, cost):
        """Whether a `(macs, params)` cost meets every target."""
        return all(
            self._fraction_of(cost, kind) <= target
            for kind, target in self.targets.items()
        )

    def on_train_batch_end(self, batch, logs=None):
        if np.any(keras.ops.convert_to_numpy(self.mask) == 0):
            self._apply()

    def on_train_begin(self, logs=None):
        # A later fit starts from the masks of the previous one.
        if np.any(keras.ops.convert_to_numpy(self.mask) == 0):
            self._apply()
        epochs = (self.params or {}).get("epochs")
        if not epochs:
            return
        rounds = sum(
            1
            for epoch in range(self.start_epoch, int(epochs))
            if (epoch - self.start_epoch + 1) % self.every == 0
        )
        keep = self._projected_keep(rounds)
        if not self.meets(self.cost(keep)):
            warn(
                f"{type(self).__name__}: {int(epochs)} epochs allow "
                f"{rounds} round(s) of fraction={self.fraction:g} "
                f"(start_epoch={self.start_epoch}, every={self.every}), "
                "which reach about "
                f"{self._distance(self.cost(keep))} at the current scores "
                "(each round ranks the channels again after training, so "
                "the end may differ a little); the budget will likely not "
                "be met. Train for more epochs or raise `fraction`.",
            )

    def on_train_end(self, logs=None):
        channel_masks.reapply_stale_masks(self, "at the end of training")
        # A callback after this one (EarlyStopping) may still set weights.
        self._check_on_read = True
        if (self.params or {}).get("epochs") == 0:
            return  # nothing trained: no budget to miss
        cost = self.cost()
        if not self.meets(cost):
            warn(
                f"{type(self).__name__}: training ended before the budget "
                f"was reached: {self._distance(cost)}.",
            )

    def _distance(self, cost):
        """Says, per target, how far `cost` is from it."""
        return ", ".join(
            f"{self._fraction_of(cost, kind):.1%} of the {_NOUNS[kind]} "
            f"against target_{kind}={target:.1%} "
            f"({(self._fraction_of(cost, kind) - target) * 100:.1f} "
            "points over)"
            for kind, target in self.targets.items()
        )

    def _projected_keep(self, rounds):
        """The mask after `rounds` rounds at the current scores."""
        keep = keras.ops.convert_to_numpy(self.mask) > 0
        if rounds < 1 or self.meets(self.cost(keep)):
            return keep
        flat = self._flat_scores()
        for _ in range(rounds):
            order = self._candidates(keep, flat)
            if not order.size:
                break
            keep[order[: math.ceil(self.fraction * int(keep.sum()))]] = False
            if self.meets(self.cost(keep)):
                break
        return keep

    def on_epoch_end(self, epoch, logs=None):
        due = epoch >= self.start_epoch
        due = due and (epoch - self.start_epoch + 1) % self.every == 0
        if due and not self.meets(self.cost()):
            self.prune_round()
        self._log_cost(logs)

    def _log_cost(self, logs):
        keep = keras.ops.convert_to_numpy(self.mask) > 0
        cost = self.cost(keep)
        if logs is not None:
            logs["slim_macs_fraction"] = cost[0] / max(self._dense[0], 1)
            logs["slim_params_fraction"] = cost[1] / max(self._dense[1], 1)
            logs["group_sparsity"] = 1.0 - keep.mean() if keep.size else 0.0

    def prune_round(self):
        """Masks the next weakest channels now and zeroes their weights."""
        keep = keras.ops.convert_to_numpy(self.mask) > 0
        order = self._candidates(keep)
        limit = math.ceil(self.fraction * int(keep.sum()))
        order = order[:limit]
        lo, hi = 0, len(order)
        while lo < hi:
            mid = (lo + hi) // 2
            trial = keep.copy()
            trial[order[:mid]] = False
            if self.meets(self.cost(trial)):
                hi = mid
            else:
                lo = mid + 1
        keep[order[:lo]] = False
        self.mask.assign(keep.astype("float32"))
        self._apply()
        if self.verbose:
            cost = self.cost(keep)
            reached = ", ".join(
                f"{kind} fraction {self._fraction_of(cost, kind):.3f}"
                for kind in self.targets
            )
            print(f"IterativePruning: masked {lo} channels, {reached}")

    def _flat_scores(self):
        scores = group_importance(
            self.pruned_model,
            self.plan.graph,
            criterion=self.importance,
            normalize="mean",
        )
        return np.concatenate([scores[n] for n in self.plan.group_names])

    def _candidates(self, keep, flat=None):
        if flat is None:
            flat = self._flat_scores()
        members = channel_masks.segments_of_channels(self.plan)
        alive = [int(keep[m].sum()) for m in members]
        owner = [[] for _ in range(self.plan.num_channels)]
        for i, m in enumerate(members):
            for c in m:
                owner[c].append(i)
        out = []
        for c in np.argsort(flat, kind="stable"):
            if keep[c] and all(alive[i] > 1 for i in owner[c]):
                for i in owner[c]:
                    alive[i] -= 1
                out.append(c)
        return np.asarray(out, dtype="int64")

    def get_config(self):
        return {
            "target_macs": self.given_targets.get("macs"),
            "target_params": self.given_targets.get("params"),
            "fraction": self.fraction,
            "every": self.every,
            "start_epoch": self.start_epoch,
            "importance": self.importance,
            "verbose": self.verbose,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)


_NOUNS = {"macs": "MACs", "params": "parameters"}
