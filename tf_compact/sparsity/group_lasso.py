"""Group-lasso penalty over the channel groups of a `ChannelGraph`."""

import keras
import numpy as np
from keras import ops

from tf_compact.graph.channel_graph import ChannelGraph
from tf_compact.sparsity import group_plan
from tf_compact.sparsity import penalty_state
from tf_compact.sparsity import proximal as proximal_step
from tf_compact.sparsity import validation

_NORMALIZATIONS = ("sqrt_size", "none")


@keras.saving.register_keras_serializable(package="tf_compact")
class GroupLasso(keras.layers.Layer):
    """Group-lasso penalty: `strength * sum_c k_c * ||W_c||_2`.

    The sum runs over every prunable channel `c` of every group of the
    model's `tfc.ChannelGraph`. `W_c` holds every weight slice coupled to
    that channel: the producers' kernel and bias slices and the BN
    gamma/beta of the channel, and with `include_consumers=True` also the
    input slices of the layers that consume it. A channel whose norm reaches
    zero can be removed physically by `tfc.slim`/`tfc.prune`.

    Size normalization: with `normalization="sqrt_size"` (Yuan & Lin),
    `k_c = sqrt(p_c)` where `p_c` is the number of weights in `W_c`, so the
    gradient on each weight is about `strength` whatever the layer's width
    and `strength` reads like an L1 coefficient per weight. With
    `normalization="none"`, `k_c = 1`.

    The strength is a non-trainable `keras.Variable` (`self.strength`):
    callbacks such as `tfc.callbacks.SparsityController` change it with
    `.assign()` without retracing, and it is saved with the model that
    trains, so `keras.callbacks.BackupAndRestore` resumes it.

    Calling the penalty on a model returns the scalar penalty, already
    multiplied by the strength. It is the `sparsity=` argument of
    `tfc.Distiller` and of `tfc.Sparsifier` (training without a teacher).

    Args:
        strength: Initial strength `lambda`. Defaults to `1e-4`.
        normalization: `"sqrt_size"` or `"none"`, see above. Defaults to
            `"sqrt_size"`.
        include_consumers: Whether a channel also covers the input slices of
            the layers that consume its channels. Defaults to `False`.
        proximal: When `True`, the penalty's value carries no gradient and
            the optimizer step is followed by a proximal group
            soft-thresholding, `W_c <- W_c * max(0, 1 - lr * lambda * k_c /
            ||W_c||)`, which sets whole channels to exact zeros.
            `tfc.Sparsifier` and `tfc.Distiller` apply it in their train
            step (another training model can use
            `tfc.callbacks.ProximalStep()`). Defaults to `False`.
        epsilon: Floor under the squared channel norm, so the gradient stays
            finite at zero. Defaults to `1e-12`.
        state_layout: `[[name, shape], ...]` of the variables controllers
            added, as `get_config` records it, so that a saved penalty
            loads back with them. Defaults to `None` (none).
        **kwargs: Base `keras.layers.Layer` arguments (`name`, ...).

    Raises:
        ValueError: If an argument is out of range.

    Example:

    ```python
    penalty = tfc.GroupLasso(strength=1e-4, proximal=True)
    trainer = tfc.Sparsifier(model, sparsity=penalty)
    trainer.compile("adam", "sparse_categorical_crossentropy")
    trainer.fit(x, y, epochs=3)
    slim = tfc.prune(model, threshold=1e-3)
    ```
    """

    reduction = "l2"
    roles = group_plan.PRODUCER_ROLES
    weight_names = None

    def __init__(
        self,
        strength=1e-4,
        normalization="sqrt_size",
        include_consumers=False,
        proximal=False,
        epsilon=1e-12,
        state_layout=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        strength = validation.validate_non_negative("strength", strength)
        self.normalization = validation.validate_choice(
            "normalization", normalization, _NORMALIZATIONS
        )
        self.include_consumers = bool(include_consumers)
        self.proximal = bool(proximal)
        self.epsilon = validation.validate_positive("epsilon", epsilon)
        self.strength = self.add_weight(
            shape=(),
            initializer=keras.initializers.Constant(strength),
            trainable=False,
            name="strength",
            dtype="float32",
        )
        self.channel_scales = None
        self.channel_weights = None
        self._plan = None
        self._states = penalty_state.PenaltyState(self)
        # A loaded penalty gets back the variables controllers added.
        self._states.restore(state_layout)
        #: Set by whatever applies the proximal step (`tfc.Sparsifier`,
        #: `tfc.Distiller`, `tfc.callbacks.ProximalStep`); controllers warn
        #: when a proximal penalty trains without it.
        self.proximal_applied = False
        self.built = True

    def build(self, input_shape=None):
        """Does nothing: the state is created in `__init__` and `bind`."""

    def bind(self, model, graph=None):
        """Precomputes the group index plan for `model` (cached).

        Args:
            model: The Keras model the penalty is applied to.
            graph: Optional `tfc.ChannelGraph` of `model`. Defaults to
                `None`, which builds one.

        Returns:
            The `GroupPlan` of `model`.
        """
        plan = self._plan
        same_model = plan is not None and plan.model is model
        if same_model and (graph is None or plan.graph is graph):
            return plan
        if graph is None:
            graph = _channel_graph(model)
        roles = self.roles
        if self.include_consumers and self.reduction == "l2":
            roles = roles + group_plan.CONSUMER_ROLES
        plan = group_plan.GroupPlan.from_graph(
            graph, roles=roles, weight_names=self.weight_names
        )
        plan.model = model
        plan.graph = graph
        plan.coefficients = self._coefficients(plan)
        for variable in (self.channel_scales, self.channel_weights):
            if variable is not None:
                self._check_scales(plan, variable)
        self._plan = plan
        return plan

    @property
    def plan(self):
        """The `GroupPlan` of the bound model, or `None` before `bind`."""
        return self._plan

    def enable_channel_scales(self, model):
        """Creates `channel_scales`, one multiplier of the strength per channel.

        Controllers that steer one strength per block (e.g.
        `tfc.callbacks.BudgetController`) write them; the effective strength
        of channel `c` is `strength * channel_scales[c]`. Call it before
        training starts, so that `BackupAndRestore` finds the variable.

        Args:
            model: The Keras model the penalty is applied to.

        Returns:
            The `channel_scales` variable.
        """
        plan = self.bind(model)
        if self.channel_scales is None:
            self.channel_scales = self._per_channel_variable(
                plan, "channel_scales"
            )
        self._check_scales(plan, self.channel_scales)
        return self.channel_scales

    def enable_channel_weights(self, model):
        """Creates `channel_weights`, which channels the penalty acts on.

        A weight of 1 penalizes the channel, 0 spares it (values in
        between scale its term). Controllers that target the channels a
        budget requires (`tfc.callbacks.BudgetController(targeted=True)`)
        write them; the effective strength of channel `c` is `strength *
        channel_scales[c] * channel_weights[c]`. All ones at creation.
        Call it before training starts, so that `BackupAndRestore` finds
        the variable.

        Args:
            model: The Keras model the penalty is applied to.

        Returns:
            The `channel_weights` variable.
        """
        plan = self.bind(model)
        if self.channel_weights is None:
            self.channel_weights = self._per_channel_variable(
                plan, "channel_weights"
            )
        self._check_scales(plan, self.channel_weights)
        return self.channel_weights

    def _per_channel_variable(self, plan, name):
        return self._states.variable(name, 1.0, (plan.num_channels,))

    def _channel_multipliers(self, values):
        for variable in (self.channel_scales, self.channel_weights):
            if variable is not None:
                values = values * variable
        return values

    def state_variable(self, name, initial=0.0, shape=None):
        """Returns a float32 state variable, created on first use.

        Controllers keep their state here (for example a reference score),
        so it is saved with the model that trains and restored by
        `keras.callbacks.BackupAndRestore`. Create it before training
        starts (in `Callback.set_model`).

        Args:
            name: Name of the state.
            initial: Initial value of every entry. Defaults to `0.0`.
            shape: Shape of the variable; an existing one must have it.
                Defaults to `None`: a scalar when created, else as it is.

        Returns:
            The `keras.Variable`.
        """
        return self._states.variable(name, initial, shape)

    def channel_values(self, model):
        """Returns the per-channel norms (`l2`) or L1 sums as a tensor.

        Unlike the penalty, these carry no `epsilon` floor: an all-zero
        channel has norm 0, as in `tfc.group_importance`.
        """
        plan = self.bind(model)
        return plan.reduce(self.reduction, 0.0)

    def __call__(self, model):
        """Returns the penalty of `model`, multiplied by `strength`."""
        plan = self.bind(model)
        values = plan.reduce(self.reduction, self.epsilon)
        values = values * ops.convert_to_tensor(plan.coefficients)
        values = self._channel_multipliers(values)
        total = ops.sum(values)
        if self.proximal:
            total = ops.stop_gradient(total)
        return ops.cast(self.strength, "float32") * total

    def channel_thresholds(self, learning_rate):
        """Returns `lr * strength * k_c * scale_c * weight_c` per channel."""
        plan = self._require_plan()
        thresholds = ops.convert_to_tensor(plan.coefficients)
        thresholds = thresholds * ops.cast(self.strength, "float32")
        thresholds = self._channel_multipliers(thresholds)
        return thresholds * ops.cast(learning_rate, "float32")

    def apply_proximal(self, learning_rate):
        """Applies one proximal step to the bound model's weights, in place.

        Group soft-thresholding: `W_c <- W_c * max(0, 1 - t_c / ||W_c||)`
        with `t_c = lr * strength * k_c * scale_c * weight_c`.

        Args:
            learning_rate: The optimizer's current learning rate.
        """
        plan = self._require_plan()
        norms = plan.reduce("l2", self.epsilon)
        factors = ops.maximum(
            1.0 - self.channel_thresholds(learning_rate) / norms, 0.0
        )
        plan.scale_channels(factors)

    def after_optimizer_step(self, learning_rate):
        """The penalty's own hook, run by a trainer after each update.

        With `proximal=True` it applies the proximal step (once, in
        cross-replica context under a `tf.distribute` strategy); otherwise
        it does nothing. `tfc.Distiller` and `tfc.Sparsifier` call it, so a
        trainer needs to know nothing about proximal steps.

        Args:
            learning_rate: The optimizer's current learning rate.

        Example:

        ```python
        optimizer.apply_gradients(zip(grads, variables))
        penalty.after_optimizer_step(optimizer.learning_rate)
        ```
        """
        if proximal_step.is_proximal(self):
            proximal_step.apply_proximal_step(self, learning_rate)

    def load_own_variables(self, store):
        penalty_state.check_saved_count(self, store)
        super().load_own_variables(store)

    def get_config(self):
        config = super().get_config()
        config.update(
            strength=float(ops.convert_to_numpy(self.strength)),
            normalization=self.normalization,
            include_consumers=self.include_consumers,
            proximal=self.proximal,
            epsilon=self.epsilon,
            state_layout=[list(item) for item in self._states.layout],
        )
        return config

    def _coefficients(self, plan):
        if self.normalization == "sqrt_size":
            return np.sqrt(plan.channel_sizes).astype("float32")
        return (plan.channel_sizes > 0).astype("float32")

    def _check_scales(self, plan, variable):
        size = int(variable.shape[0])
        if size != plan.num_channels:
            name = variable.name.rsplit("/", 1)[-1]
            raise ValueError(
                f"`{self.name}.{name}` has "
                f"{size} entries but the bound "
                f"model has {plan.num_channels} prunable channels. Use one "
                "penalty per model."
            )

    def _require_plan(self):
        if self._plan is None:
            raise RuntimeError(
                f"The penalty `{self.name}` is not bound to a model yet. Call "
                "`penalty.bind(model)` (or the penalty on the model) first."
            )
        return self._plan


def _channel_graph(model):
    return ChannelGraph(model)
