"""Human-readable numbers and plain-text tables for profiles."""

_COUNT_UNITS = ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "K"))
_BYTE_UNITS = ((2**40, "TiB"), (2**30, "GiB"), (2**20, "MiB"), (2**10, "KiB"))


def format_count(value):
    """Formats a count with three significant digits: 1.23M, 4.1G, 950.

    Args:
        value: A number, or `None`.

    Returns:
        The formatted string; "-" for `None`.
    """
    if value is None:
        return "-"
    for scale, unit in _COUNT_UNITS:
        if abs(value) >= scale:
            return f"{value / scale:.3g}{unit}"
    if isinstance(value, float) and not value.is_integer():
        return f"{value:.3g}"
    return str(int(value))


def format_bytes(value):
    """Formats a byte count in binary units: 12 B, 1.5 KiB, 3.06 MiB.

    Args:
        value: A number of bytes, or `None`.

    Returns:
        The formatted string; "-" for `None`.
    """
    if value is None:
        return "-"
    for scale, unit in _BYTE_UNITS:
        if abs(value) >= scale:
            return f"{value / scale:.3g} {unit}"
    return f"{int(value)} B"


def format_ratio(value):
    """Formats a ratio such as 0.25 as "0.25x"; "-" for `None`."""
    if value is None:
        return "-"
    return f"{value:.3g}x"


def format_shape(shape):
    """Formats a shape, or a tuple of shapes for several outputs."""
    if shape is None:
        return "?"
    if shape and all(isinstance(s, tuple | list) for s in shape):
        return ", ".join(format_shape(s) for s in shape)
    dims = ", ".join("None" if d is None else str(d) for d in shape)
    if len(shape) == 1:
        dims += ","
    return f"({dims})"


def render_table(title, headers, rows, right_aligned, footer):
    """Renders an aligned text table in the style of `model.summary()`.

    Args:
        title: First line of the table.
        headers: Column names.
        rows: Lists of cell strings, one list per row.
        right_aligned: Set of column indices aligned to the right.
        footer: Lines printed after the rows.

    Returns:
        The table as one string.
    """
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(cell)) for w, cell in zip(widths, row)]

    def line(cells):
        parts = []
        for i, (cell, width) in enumerate(zip(cells, widths)):
            if i in right_aligned:
                parts.append(cell.rjust(width))
            else:
                parts.append(cell.ljust(width))
        return "  ".join(parts).rstrip()

    total_width = sum(widths) + 2 * (len(widths) - 1)
    heavy, light = "=" * total_width, "-" * total_width
    out = [title, heavy, line(headers), light]
    out.extend(line(row) for row in rows)
    out.append(heavy)
    out.extend(footer)
    return "\n".join(out)
