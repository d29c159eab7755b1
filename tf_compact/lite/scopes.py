"""Which Keras layer a converted op's name scope stands for.

Tracing for export adds `_<n>` to name scopes already taken, so the scope
`layer_normalization_1` can be the layer `layer_normalization` (with a
suffix) or the layer `layer_normalization_1` (without). Read one name at a
time, that is ambiguous; read over the whole model it is not: scopes are
suffixed alike, so sorting the scopes of a family (the names that differ
only by `_<n>` suffixes) with numbers compared as numbers gives the order of
their layers: the k-th scope belongs to a layer after the one of the
(k-1)-th.
"""

import re

_SUFFIX = re.compile(r"_\d+$")


def natural_key(name):
    """Sort key comparing the numbers in names as numbers.

    Example:

    ```python
    sorted(["output_10", "output_2"], key=natural_key)  # 2 first
    ```
    """
    return [
        (0, int(part), "") if part.isdigit() else (1, 0, part)
        for part in re.split(r"(\d+)", name)
    ]


def _candidates(token, known):
    """Layer names `token` may stand for: itself, then with suffixes cut."""
    found = []
    while True:
        if token in known and token not in found:
            found.append(token)
        stripped = _SUFFIX.sub("", token)
        if stripped == token:
            return found
        token = stripped


def _family(token):
    while True:
        stripped = _SUFFIX.sub("", token)
        if stripped == token:
            return token
        token = stripped


class ScopeResolver:
    """Maps the scopes of op names to Keras layer names.

    Args:
        paths: Op or tensor names such as `model/conv2d_1/Conv2D`, in
            execution order.
        layer_names: The Keras model's layer names.
        skip_first: Whether the first part of a path is the model's own
            scope, never a layer. Defaults to `True`.

    Example:

    ```python
    resolver = ScopeResolver(tensor_names, [l.name for l in model.layers])
    resolver.layer_of("functional/layer_normalization_1/Neg")
    ```
    """

    def __init__(self, paths, layer_names, skip_first=True):
        self.skip_first = skip_first
        known = set(layer_names)
        families = {}
        for path in paths:
            for token in self._tokens(path):
                if _candidates(token, known):
                    families.setdefault(_family(token), set()).add(token)
        self.mapping = {}
        for tokens in families.values():
            last = None
            for token in sorted(tokens, key=natural_key):
                names = _candidates(token, known)
                later = [
                    n
                    for n in names
                    if last is None or natural_key(n) > natural_key(last)
                ]
                layer = min(later, key=natural_key) if later else names[0]
                self.mapping[token] = layer
                if last is None or natural_key(layer) > natural_key(last):
                    last = layer

    def _tokens(self, path):
        parts = path.split("/")[:-1]
        return parts[1:] if self.skip_first else parts

    def layer_of(self, path):
        """The layer a single op path belongs to, or `None`."""
        for token in self._tokens(path):
            if token in self.mapping:
                return self.mapping[token]
        return None
