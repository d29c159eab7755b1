"""A tiny private stand-in for `tfc.ChannelGraph` on plain conv stacks.

Handles Sequential models made of Conv2D, BatchNormalization, activations,
pooling, GlobalAveragePooling2D and Dense. Each Conv2D (and each Dense but
the last) produces one channel group; its BN, and the next layer's input
axis as the consumer, are members of that group.
"""

import keras
import numpy as np


class Ref:
    def __init__(self, variable, axis, indices, role, weight):
        self.variable = variable
        self.axis = axis
        self.positions = np.asarray(indices)
        self.channels = np.arange(len(indices))
        self.role = role
        self.weight = weight


class Group:
    def __init__(self, name, size):
        self.name = name
        self.size = size
        self.members = []


class StandInGraph:
    def __init__(self, model):
        self.model = model
        self.groups = []
        self._refs = {}
        layers = list(model.layers)
        current = None
        for i, layer in enumerate(layers):
            is_last_dense = isinstance(layer, keras.layers.Dense) and not any(
                isinstance(x, keras.layers.Dense) for x in layers[i + 1 :]
            )
            if isinstance(layer, (keras.layers.Conv2D, keras.layers.Dense)):
                if current is not None:
                    self._add(current, layer.kernel, -2, "consumer")
                if is_last_dense:
                    current = None
                    continue
                current = Group(layer.name, int(layer.kernel.shape[-1]))
                self.groups.append(current)
                self._refs[current.name] = []
                current.members.append(layer.name)
                self._add(current, layer.kernel, -1, "producer")
                if layer.use_bias:
                    self._add(current, layer.bias, 0, "producer")
            elif isinstance(layer, keras.layers.BatchNormalization):
                current.members.append(layer.name)
                for v in layer.weights:
                    role = "norm" if v.name in ("gamma", "beta") else "stat"
                    self._add(current, v, 0, role)

    def _add(self, group, variable, axis, role):
        self._refs[group.name].append(
            Ref(variable, axis, np.arange(group.size), role, variable.name)
        )

    def weight_refs(self, group, roles=("producer",)):
        return [r for r in self._refs[group.name] if r.role in roles]


def conv_model(filters=(4, 6), bn=True, classes=3, size=8):
    """A small Sequential CNN the stand-in understands."""
    layers = [keras.Input((size, size, 1))]
    for f in filters:
        layers.append(keras.layers.Conv2D(f, 3, padding="same"))
        if bn:
            layers.append(keras.layers.BatchNormalization())
        layers.append(keras.layers.ReLU())
    layers += [
        keras.layers.GlobalAveragePooling2D(),
        keras.layers.Dense(classes),
    ]
    return keras.Sequential(layers)
