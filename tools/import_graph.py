"""The import graph between tf_compact's subpackages, checked against the
layering the package is designed around.

Usage: python tools/import_graph.py   (exits 1 on a violation)

Each subpackage may import only the ones listed for it in `ALLOWED` (the
layers below it); the command line is the one place that may import the
package root. Function-level imports of tf_compact are refused inside the
library, except in the command line, which defers them so that
`tf-compact --help` starts without TensorFlow.
"""

import ast
import collections
import pathlib
import sys

PACKAGE = pathlib.Path(__file__).resolve().parent.parent / "tf_compact"

_CORE = ("internal", "version")
_GRAPH = _CORE + ("profile", "graph", "surgery")
# What each subpackage may import, lowest layer first. distillation, lite,
# lighten, data and models sit beside the pruning stack and import none of
# each other; methods (the settings objects of compress) sit under
# pipeline, which composes them all; cli drives pipeline.
ALLOWED = {
    "internal": (),
    "version": (),
    "profile": ("internal",),
    "graph": ("internal", "profile"),
    "surgery": ("internal", "profile", "graph"),
    "pruning": _GRAPH,
    "sparsity": _GRAPH + ("pruning",),
    "callbacks": _GRAPH + ("pruning", "sparsity"),
    "distillation": _CORE,
    "lite": _CORE,
    "lighten": _GRAPH,
    "data": _CORE,
    "models": _CORE,
    "methods": _GRAPH + ("pruning", "sparsity", "callbacks"),
    "pipeline": _GRAPH
    + ("pruning", "sparsity", "callbacks", "distillation", "lite")
    + ("lighten", "data", "models", "methods"),
}
# Subpackages whose function-level imports of tf_compact are deliberate.
DEFERRED_OK = ("cli", "(root)")
# Single function-level imports kept on purpose, with the reason.
DEFERRED_FILES = {
    "tf_compact/data/bundle.py": (
        "DatasetBundle.from_config rebuilds a bundle through the loader "
        "registry, whose loaders build bundles"
    ),
}


def _subpackage(path):
    parts = path.relative_to(PACKAGE).parts
    if len(parts) == 1:
        return "version" if parts[0] == "version.py" else "(root)"
    return parts[0]


def _imports(tree):
    """Yields `(node, module, in_function)` for imports of tf_compact."""
    inner = set()
    for fn in ast.walk(tree):
        if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
            inner.update(id(n) for n in ast.walk(fn) if n is not fn)
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names = [node.module]
            if node.module == "tf_compact":
                names = [f"tf_compact.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            continue
        for name in names:
            if name.split(".")[0] == "tf_compact":
                yield node, name, id(node) in inner


def graph():
    """`({(a, b): [where]}, [function-level imports])` of the package."""
    edges = collections.defaultdict(list)
    deferred = []
    for path in sorted(PACKAGE.rglob("*.py")):
        source = _subpackage(path)
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node, name, in_function in _imports(tree):
            parts = name.split(".")
            target = parts[1] if len(parts) > 1 else "(root)"
            if target == "version" or (
                len(parts) > 1 and parts[1] == "version"
            ):
                target = "version"
            where = f"{path.relative_to(PACKAGE.parent)}:{node.lineno}"
            exempt = source in DEFERRED_OK or where.split(":")[0] in (
                DEFERRED_FILES
            )
            if in_function and not exempt:
                deferred.append(f"{where} imports {name} inside a function")
            if target != source:
                edges[(source, target)].append(where)
    return edges, deferred


def violations():
    """Every import that runs against the layering, as readable lines."""
    edges, deferred = graph()
    found = []
    for (source, target), places in sorted(edges.items()):
        if source in ("cli", "(root)"):
            continue
        if target not in ALLOWED.get(source, ()):
            allowed = ", ".join(ALLOWED.get(source, ())) or "nothing"
            found.append(
                f"{source} -> {target} ({len(places)} import(s), e.g. "
                f"{places[0]}): {source} may import only {allowed}"
            )
    return found + deferred


def main():
    edges, _ = graph()
    for (source, target), places in sorted(edges.items()):
        print(f"{source:>14} -> {target:<14} {len(places)} import(s)")
    problems = violations()
    for line in problems:
        print("VIOLATION", line)
    print(f"{len(problems)} violation(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
