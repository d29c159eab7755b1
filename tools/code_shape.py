"""Checks the size of tf_compact's modules and functions.

Usage: python tools/code_shape.py   (exits 1 when a limit is passed)

A module holds at most `MAX_FILE_LINES` lines. A function's code (its
docstring left out) holds at most `MAX_FUNCTION_LINES` lines, unless the
first line of its body after the docstring is a comment that starts with
`# Long:` and says why it is better kept whole.
"""

import ast
import pathlib
import sys

PACKAGE = pathlib.Path(__file__).resolve().parent.parent / "tf_compact"
MAX_FILE_LINES = 350
MAX_FUNCTION_LINES = 60
REASON = "# Long:"


def _code_start(node):
    """The first line of a function's body after its docstring."""
    body = node.body
    first = body[0]
    is_doc = (
        isinstance(first, ast.Expr)
        and isinstance(first.value, ast.Constant)
        and isinstance(first.value.value, str)
    )
    if not is_doc:
        return first.lineno
    return body[1].lineno if len(body) > 1 else None


def _has_reason(lines, node, start):
    """Whether a `# Long:` comment comes before the function's code."""
    head = lines[node.lineno - 1 : start - 1]
    return any(line.strip().startswith(REASON) for line in head)


def problems_in(path, root=PACKAGE.parent):
    """The limits `path` passes, one message each."""
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines()
    name = path.relative_to(root).as_posix()
    found = []
    if len(lines) > MAX_FILE_LINES:
        found.append(
            f"{name}: {len(lines)} lines (at most {MAX_FILE_LINES})"
        )
    for node in ast.walk(ast.parse(text)):
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        start = _code_start(node)
        if start is None:
            continue
        length = node.end_lineno - start + 1
        if length > MAX_FUNCTION_LINES and not _has_reason(
            lines, node, start
        ):
            found.append(
                f"{name}:{node.lineno} {node.name}(): {length} lines of "
                f"code (at most {MAX_FUNCTION_LINES}, or a `{REASON}` "
                "comment that says why)"
            )
    return found


def problems(package=PACKAGE):
    """Every limit passed in the package."""
    found = []
    for path in sorted(package.rglob("*.py")):
        found.extend(problems_in(path, package.parent))
    return found


def main():
    found = problems()
    for line in found:
        print(line)
    print(f"{len(found)} over the limits" if found else "within the limits")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
