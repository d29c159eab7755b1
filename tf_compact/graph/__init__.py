"""tf_compact.graph: which channels of a model are coupled.

`ChannelGraph` traces a Functional model and splits its channels into
groups that must be pruned together; one `LayerHandler` per layer class
says how a layer couples its input and output channels, and
`register_handler` adds one for a custom layer.

Example:

```python
graph = tfc.graph.ChannelGraph(model)
print(graph.summary())
for group in graph.groups:
    print(group.name, group.size, [m.layer for m in group.members])
```
"""

from tf_compact.graph.builtin import register_builtin_handlers
from tf_compact.graph.channel_graph import ChannelGraph
from tf_compact.graph.channel_group import ChannelGroup
from tf_compact.graph.channel_group import GroupMember
from tf_compact.graph.channel_group import WeightRef
from tf_compact.graph.errors import GraphError
from tf_compact.graph.errors import MaskError
from tf_compact.graph.errors import UnsupportedLayerError
from tf_compact.graph.handler import LayerHandler
from tf_compact.graph.handler import NodeContext
from tf_compact.graph.handlers_shape import FixedHandler
from tf_compact.graph.handlers_shape import PassThroughHandler
from tf_compact.graph.handlers_shape import PreprocessingHandler
from tf_compact.graph.registry import get_handler
from tf_compact.graph.registry import register_handler

__all__ = [
    "ChannelGraph",
    "ChannelGroup",
    "FixedHandler",
    "GraphError",
    "GroupMember",
    "LayerHandler",
    "MaskError",
    "NodeContext",
    "PassThroughHandler",
    "PreprocessingHandler",
    "UnsupportedLayerError",
    "WeightRef",
    "get_handler",
    "register_handler",
]

register_builtin_handlers()
