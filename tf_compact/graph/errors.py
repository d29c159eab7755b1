"""Errors raised by the channel graph, the slimming surgery and pruning."""


class GraphError(ValueError):
    """A model cannot be analysed as a channel graph.

    Raised for models whose structure is not a static layer graph
    (subclassed models), for layers used more than once, and for tensors
    whose channel axis is unknown.

    Example:

    ```python
    try:
        tfc.ChannelGraph(my_subclassed_model)
    except tfc.GraphError as e:
        print(e)
    ```
    """


class UnsupportedLayerError(GraphError):
    """A layer has no registered channel handler.

    The message names the layer and its class, and tells how to register
    a handler with `tfc.register_handler`.

    Example:

    ```python
    try:
        tfc.ChannelGraph(model_with_custom_layer)
    except tfc.UnsupportedLayerError:
        tfc.register_handler(MyLayer, "passthrough")
    ```
    """


class MaskError(ValueError):
    """A channel mask does not fit the channel groups of a graph.

    Raised for unknown group names, masks of the wrong length or type,
    and masks that would remove every channel of a group.

    Example:

    ```python
    try:
        tfc.slim(model, {"conv2d": np.zeros(8, bool)})
    except tfc.MaskError as e:
        print(e)
    ```
    """
