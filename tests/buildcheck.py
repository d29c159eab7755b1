"""Reads the project's Bazel BUILD files and checks them against the tree.

BUILD files are Starlark, which for the subset used here is Python syntax, so
they are evaluated with stand-ins for the Bazel rules that record targets.
"""

import os

SCANNED_DIRS = ("tf_compact", "tests", "examples", "benchmarks", "tools")
RULES = ("py_library", "py_test", "py_binary", "filegroup")


def read_build(path):
    """Returns the targets a BUILD file declares, as `{name: (rule, attrs)}`."""
    targets = {}

    def rule(kind):
        def record(name, **attrs):
            if name in targets:
                raise ValueError(f"{path}: target {name!r} declared twice")
            targets[name] = (kind, attrs)

        return record

    env = {kind: rule(kind) for kind in RULES}
    env.update(
        load=lambda *a, **k: None,
        package=lambda *a, **k: None,
        licenses=lambda *a, **k: None,
        exports_files=lambda *a, **k: None,
        glob=lambda *a, **k: [],
    )
    with open(path, encoding="utf-8") as f:
        exec(compile(f.read(), path, "exec"), env)  # noqa: S102
    return targets


def check_tree(root):
    """Returns a list of problems; empty when BUILD files match the tree."""
    problems = []
    if not os.path.isfile(os.path.join(root, "BUILD")):
        problems.append("missing top-level BUILD")
        return problems
    packages = {"": read_build(os.path.join(root, "BUILD"))}
    for top in SCANNED_DIRS:
        for dirpath, dirnames, filenames in os.walk(os.path.join(root, top)):
            dirnames[:] = [d for d in dirnames if not d.startswith((".", "__"))]
            rel = os.path.relpath(dirpath, root).replace(os.sep, "/")
            py_files = sorted(f for f in filenames if f.endswith(".py"))
            build = os.path.join(dirpath, "BUILD")
            if not os.path.isfile(build):
                if py_files:
                    problems.append(f"{rel}: Python files but no BUILD file")
                continue
            targets = read_build(build)
            packages[rel] = targets
            problems += _check_package(rel, dirpath, py_files, targets)
    problems += _check_deps(packages)
    return problems


def _check_package(rel, dirpath, py_files, targets):
    problems = []
    declared = {}
    for name, (kind, attrs) in targets.items():
        for src in attrs.get("srcs", []):
            declared[src] = kind
            if not os.path.isfile(os.path.join(dirpath, src)):
                problems.append(f"{rel}:{name} lists missing file {src}")
    is_test_dir = rel == "tests" or rel.startswith("tests/")
    for py in py_files:
        kind = declared.get(py)
        if kind is None:
            problems.append(f"{rel}/{py} is not declared in {rel}/BUILD")
        elif is_test_dir and py.startswith("test_") and kind != "py_test":
            problems.append(f"{rel}/{py} is a test but declared as {kind}")
    return problems


def _check_deps(packages):
    problems = []
    for rel, targets in packages.items():
        for name, (_, attrs) in targets.items():
            labels = list(attrs.get("deps", [])) + list(attrs.get("data", []))
            for dep in labels:
                if dep.startswith("@"):
                    continue
                pkg, target = _resolve(rel, dep)
                known = pkg in packages and (
                    target in packages[pkg] or _is_file(pkg, target)
                )
                if not known:
                    problems.append(f"{rel}:{name} depends on unknown {dep}")
    return problems


def _resolve(rel, label):
    if label.startswith(":"):
        return rel, label[1:]
    path = label[2:]
    pkg, _, target = path.partition(":")
    return pkg, target or pkg.rsplit("/", 1)[-1]


def _is_file(pkg, target):
    return pkg == "" and target in (
        "BUILD",
        "README.md",
        "LICENSE",
        "mkdocs.yml",
    )
