"""The package's layering: subpackages import only the layers below them,
nothing but the command line imports the package root, and the library
imports its own modules at the top of the file."""

import importlib.util
import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_SPEC = importlib.util.spec_from_file_location(
    "import_graph", os.path.join(ROOT, "tools", "import_graph.py")
)
import_graph = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(import_graph)


def test_no_import_runs_against_the_layering():
    problems = import_graph.violations()
    assert not problems, "\n".join(problems)


def test_every_subpackage_has_a_place_in_the_layering():
    names = {
        entry.name
        for entry in os.scandir(import_graph.PACKAGE)
        if entry.is_dir() and not entry.name.startswith("__")
    }
    assert names - {"cli"} <= set(import_graph.ALLOWED)


def test_the_check_finds_a_back_edge_and_a_deferred_import(tmp_path):
    package = tmp_path / "tf_compact"
    (package / "graph").mkdir(parents=True)
    (package / "pipeline").mkdir()
    (package / "graph" / "walk.py").write_text(
        "from tf_compact.pipeline import stages\n"
    )
    (package / "pipeline" / "stages.py").write_text(
        "def f():\n    from tf_compact.graph import walk\n"
    )
    original = import_graph.PACKAGE
    import_graph.PACKAGE = package
    try:
        problems = import_graph.violations()
    finally:
        import_graph.PACKAGE = original
    assert len(problems) == 2
    assert problems[0].startswith("graph -> pipeline")
    assert "inside a function" in problems[1]
