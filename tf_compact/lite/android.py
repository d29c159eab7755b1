"""What an Android app reads in a converted model: signature and metadata."""

from tf_compact.lite.metadata_writer import add_metadata
from tf_compact.lite.metadata_writer import check_label_count
from tf_compact.lite.metadata_writer import read_labels
from tf_compact.lite.scopes import natural_key
from tf_compact.lite.signature import set_signature

DEFAULT_SIGNATURE_KEY = "serving_default"


def _in_order(names, order):
    """A list of new names in `order` becomes an old-to-new dict."""
    if isinstance(names, (list, tuple)) and len(names) == len(order):
        return dict(zip(order, names))
    return names


def order_notes(output_names, outputs=()):
    """Notes for new output names whose sorted order is not the Keras order.

    `tfc.lite.predict` and `run_interpreter` return several outputs in the
    order of their names (numbers compared as numbers), not in the Keras
    order. Names given as a dict (current name to new name) are read in
    the Keras order of the current names `outputs`. Inputs need no note:
    the file records their Keras order under the new names (see
    `tf_compact.lite.input_order`), and a list of input arrays follows it.
    """
    names = output_names
    if isinstance(names, dict):
        names = [names.get(n, n) for n in outputs]
    if not isinstance(names, (list, tuple)) or len(names) < 2:
        return []
    by_name = sorted(names, key=natural_key)
    if by_name == list(names):
        return []
    return [
        f"signature outputs {list(names)} are ordered by name as "
        f"{by_name} in tfc.lite.predict/benchmark: pass their arrays as a "
        "dict keyed by name"
    ]


def wants_android(signature_key, input_names, output_names, labels, norm):
    """Whether any signature or metadata argument asks for a change."""
    return signature_key != DEFAULT_SIGNATURE_KEY or any(
        v is not None for v in (input_names, output_names, labels, norm)
    )


def single_output_width(model):
    """The last dimension of a Keras model's only output, or `None`."""
    try:
        outputs = list(model.outputs or [])
    except (AttributeError, ValueError):
        return None
    if len(outputs) != 1 or len(outputs[0].shape) < 2:
        return None
    return outputs[0].shape[-1]


def validate_labels(model, labels):
    """Checks `labels` against a single-output model before converting.

    A list or a label file for a model with one output must hold one label
    per unit of its last dimension (`add_metadata` checks every output
    again, by its signature name, once converted).

    Raises:
        ValueError: If the number of labels is not the output width.
        TypeError: If `labels` is neither a list of strings nor a path.
    """
    if labels is None or isinstance(labels, dict):
        return
    width = single_output_width(model)
    if width is None:
        return
    found, _ = read_labels(labels)
    check_label_count(found, width, "the model's output")


def prepare_for_android(
    content,
    name,
    input_order,
    output_order,
    signature_key=DEFAULT_SIGNATURE_KEY,
    input_names=None,
    output_names=None,
    labels=None,
    normalization=None,
):
    """Names the signature, then writes the metadata.

    Args:
        content: The converted `.tflite` bytes (one signature).
        name: Model name for the metadata.
        input_order: Current signature input names in the Keras model's
            input order, which a list of `input_names` follows.
        output_order: Current signature output names in Keras output order.
        signature_key: See `tfc.lite.convert`.
        input_names: See `tfc.lite.convert`.
        output_names: See `tfc.lite.convert`.
        labels: See `tfc.lite.convert`.
        normalization: See `tfc.lite.convert`.

    Returns:
        The new `.tflite` bytes.
    """
    content = bytes(content)
    renames = (input_names, output_names)
    if signature_key != DEFAULT_SIGNATURE_KEY or renames != (None, None):
        content = set_signature(
            content,
            signature_key,
            _in_order(input_names, input_order),
            _in_order(output_names, output_order),
        )
    if labels is not None or normalization is not None:
        content = add_metadata(
            content, labels=labels, normalization=normalization, name=name
        )
    return content
