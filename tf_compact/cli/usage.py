"""Plain-text help of the `tf-compact` commands and their flags.

The commands' docstrings and flag help are written in markdown for the
documentation; a terminal gets them as plain text: no code fences or
backticks, paragraphs and line breaks kept, lines wrapped at 80 columns.
`--help` lists tf_compact's own flags and the absl flags a user needs;
`--helpshort` only the command's own; `--helpfull` adds every other flag
the process defines (absl's, and those of TensorFlow's modules), as absl
does.
"""

import ast
import importlib.util
import re
import textwrap

from absl import flags

WIDTH = 80

#: absl flags worth showing, with what they do for a tf-compact command.
ABSL_FLAGS = {
    "verbosity": (
        "Logging verbosity. -1 (default): tf_compact's progress only; "
        "TensorFlow, TFLite converter and CUDA logs are hidden. 0: also "
        "TensorFlow's warnings. 1: every log, TensorFlow's included "
        "(debug)."
    ),
    "log_dir": "Also write the logs to files in this directory.",
}

#: Titles of the flag groups defined outside the command module.
GROUP_TITLES = {
    "tf_compact.cli.common_flags": "data, model and output flags",
    "tf_compact.cli.app_flags": "Android app metadata flags",
}


def plain_text(text):
    """Markdown help text as plain text, line breaks kept.

    Code fences are dropped and the code inside them indented by two
    spaces; inline backticks are removed.

    Args:
        text: a docstring or flag help string.

    Returns:
        The text without markdown markup, surrounding blank lines removed.

    Example:

    ```python
    plain_text("Run `tf-compact`.")  # "Run tf-compact."
    ```
    """
    lines = []
    in_code = False
    for line in textwrap.dedent(text or "").splitlines():
        if line.strip().startswith("```"):
            in_code = not in_code
            continue
        if in_code:
            lines.append("  " + line if line.strip() else "")
        else:
            lines.append(re.sub(r"`([^`]*)`", r"\1", line.rstrip()))
    return "\n".join(lines).strip("\n")


def wrap(text, indent=""):
    """Fills each paragraph of `text` to `WIDTH` columns, keeping breaks.

    Paragraphs are separated by blank lines; one with an indented line (a
    code example or a list) keeps its lines as they are.

    Args:
        text: plain text.
        indent: the prefix of every output line. Defaults to `""`.

    Returns:
        The wrapped text.

    Example:

    ```python
    print(wrap(plain_text(flag.help), indent="      "))
    ```
    """
    out = []
    for paragraph in re.split(r"\n\s*\n", text.strip("\n")):
        lines = paragraph.splitlines()
        if any(line.startswith(" ") for line in lines):
            out.append("\n".join(indent + line for line in lines))
        else:
            out.append(
                textwrap.fill(
                    " ".join(line.strip() for line in lines),
                    width=WIDTH,
                    initial_indent=indent,
                    subsequent_indent=indent,
                    break_on_hyphens=False,
                    break_long_words=False,
                )
            )
    return "\n\n".join(out)


def module_summary(module_name):
    """The plain first line of a module's docstring, without importing it.

    Args:
        module_name: a dotted module name, e.g. `"tf_compact.cli.compress"`.

    Returns:
        The summary line without the leading command name, or `""` when
        the module has no docstring.

    Example:

    ```python
    module_summary("tf_compact.cli.compress")
    # "The whole pipeline from the command line."
    ```
    """
    spec = importlib.util.find_spec(module_name)
    with open(spec.origin, encoding="utf-8") as f:
        doc = ast.get_docstring(ast.parse(f.read())) or ""
    return _summary(plain_text(doc.split("\n\n")[0]).replace("\n", " "))


def command_help(prog, module, other_commands=(), extent="help"):
    """The help text of one command: its docstring and its flags, grouped.

    Args:
        prog: how the command is invoked, e.g. `"tf-compact compress"`.
        module: the imported command module (its flags are defined).
        other_commands: module names of the other commands, whose flags
            are not listed. Defaults to `()`.
        extent: `"help"`, `"short"` (the command's own flags only) or
            `"full"` (every flag defined in the process besides, grouped
            by the module that defines it). Defaults to `"help"`.

    Returns:
        The help text: the docstring, then the command's own flags, the
        shared flags of the other `tf_compact` modules, and the absl
        flags of `ABSL_FLAGS`, each with its default. A flag left unset
        shows the value the command then uses when the module's
        `HELP_DEFAULTS` (`{flag name: value}`) names it.

    Raises:
        ValueError: for an unknown `extent`.

    Example:

    ```python
    from tf_compact.cli import compress
    print(command_help("tf-compact compress", compress))
    ```
    """
    if extent not in ("help", "short", "full"):
        raise ValueError(
            f"extent must be 'help', 'short' or 'full'. Received: {extent!r}"
        )
    by_module = flags.FLAGS.flags_by_module_dict()
    defaults = getattr(module, "HELP_DEFAULTS", {})
    sections = [f"usage: {prog} [--flag=value ...]", wrap(_doc(module))]
    own = by_module.get(module.__name__, [])
    if own:
        sections.append(_group(f"{prog} flags", own, defaults=defaults))
    if extent == "short":
        return "\n\n".join(sections) + "\n"
    skip = {module.__name__, *other_commands}
    for name in sorted(by_module):
        if name.startswith("tf_compact.") and name not in skip:
            title = GROUP_TITLES.get(name, f"{name} flags")
            sections.append(_group(title, by_module[name], defaults=defaults))
    absl = [flags.FLAGS[name] for name in ABSL_FLAGS if name in flags.FLAGS]
    sections.append(_group("logging and absl flags", absl, ABSL_FLAGS))
    if extent == "full":
        sections += _other_flags(by_module, skip)
    return "\n\n".join(sections) + "\n"


def _other_flags(by_module, skip):
    # Every flag not listed above, grouped by the module defining it.
    sections = []
    for name in sorted(by_module):
        if name.startswith("tf_compact.") or name in skip:
            continue
        rest = [f for f in by_module[name] if f.name not in ABSL_FLAGS]
        if rest:
            sections.append(_group(f"{name} flags", rest))
    return sections


def _doc(module):
    doc = plain_text(module.__doc__)
    # The docstring's first line names the command; the usage line does.
    first, _, rest = doc.partition("\n")
    return _summary(first) + ("\n" + rest if rest else "")


def _summary(line):
    # "tf-compact compress: the whole pipeline" -> "The whole pipeline".
    line = re.sub(r"^tf-compact [\w-]+: ", "", line)
    return line[:1].upper() + line[1:]


def _group(title, group, helps=None, defaults=None):
    seen = set()
    entries = []
    for flag in sorted(group, key=lambda f: f.name):
        if flag.name in seen:
            continue
        seen.add(flag.name)
        text = (helps or {}).get(flag.name) or _own_help(flag)
        entries.append(
            _signature(flag, defaults or {})
            + "\n"
            + wrap(plain_text(text), " " * 6)
        )
    return f"{title}:\n" + "\n".join(entries)


def _own_help(flag):
    # absl prefixes an enum's help with "<a|b|c>: " and suffixes a multi
    # flag's; the signature line shows both already.
    text = re.sub(r"^<[^>]*>: ", "", flag.help)
    repeat = r";?\s*repeat this option to specify a list of values\s*$"
    return re.sub(repeat, "", text)


def _signature(flag, defaults):
    if flag.boolean:
        names = f"--[no]{flag.name}"
    else:
        names = f"--{flag.name}=<{_value_kind(flag)}>"
    if flag.short_name:
        names += f", -{flag.short_name}"
    if isinstance(flag, flags.MultiFlag):
        names += ", repeatable"
    return f"  {names}  (default: {_default(flag, defaults)})"


def _value_kind(flag):
    values = getattr(flag.parser, "enum_values", None)
    if values is None:
        values = getattr(
            getattr(flag.parser, "_enum_parser", None), "enum_values", None
        )
    kind = "|".join(values) if values else flag.flag_type()
    if kind.startswith("multi "):
        kind = kind[len("multi ") :]
    if kind == "list":
        return "a,b,..."
    return kind


def _default(flag, defaults):
    default = flag.default
    if default is None:
        default = defaults.get(flag.name)
    if default is None:
        return "unset"
    if isinstance(default, bool) or flag.boolean:
        return str(bool(default)).lower()
    if isinstance(default, (list, tuple)):
        return ",".join(str(v) for v in default) if default else "none"
    return str(default) if default != "" else '""'
