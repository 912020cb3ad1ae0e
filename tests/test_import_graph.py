"""The package's import graph: no circle, layers import one way, no private name crosses a layer."""

import ast
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "skrcd"


def _module_name(path):
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_module(name):
    rel = Path(*name.split("."))
    return (PACKAGE.parent / rel).with_suffix(".py").is_file() or (PACKAGE.parent / rel / "__init__.py").is_file()


def import_graph():
    """Module -> the skrcd modules it imports, read from every ``import`` statement of its source.

    Imports inside functions count as much as module-level ones (a lazy import is still an
    import); ``from package import name`` counts the package, and the submodule when ``name``
    is one.
    """
    graph = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        name = _module_name(path)
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        edges = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")
                    base = base[: len(base) - node.level + 1]
                    source = ".".join(base + ([node.module] if node.module else []))
                else:
                    source = node.module
                targets = [source] + [f"{source}.{alias.name}" for alias in node.names]
            else:
                continue
            edges.update(t for t in targets if t.split(".")[0] == "skrcd" and _is_module(t))
        edges.discard(name)
        graph[name] = edges
    return graph


def find_cycle(graph):
    """One import circle as a list of modules (first == last), or None."""
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_the_graph_is_read_from_every_module():
    graph = import_graph()
    assert {"skrcd", "skrcd.classifier", "skrcd.persistence.model_file", "skrcd.training.loop",
            "skrcd.experiments.benchmark", "skrcd.datasets._base"} <= set(graph)
    assert "skrcd.training.fit" in graph["skrcd.classifier"]
    assert "skrcd.persistence.archive" in graph["skrcd.training.checkpoints"]


def test_no_import_circle():
    assert find_cycle(import_graph()) is None


def test_the_cycle_finder_finds_a_lazy_import_circle():
    graph = import_graph()
    graph["skrcd.persistence.model_file"] = graph["skrcd.persistence.model_file"] | {"skrcd.classifier"}
    cycle = find_cycle(graph)
    assert cycle is not None and cycle[0] == cycle[-1] and "skrcd.classifier" in cycle


@pytest.mark.parametrize("lower, higher", [
    ("skrcd.nn", "skrcd.selection"), ("skrcd.nn", "skrcd.training"), ("skrcd.selection", "skrcd.training"),
    ("skrcd.persistence", "skrcd.classifier"), ("skrcd.persistence", "skrcd.training"),
    ("skrcd.training", "skrcd.classifier"), ("skrcd.experiments.results", "skrcd.classifier"),
    ("skrcd.experiments.results", "skrcd.baselines"), ("skrcd.experiments.plots", "skrcd.classifier"),
    ("skrcd.plotting", "skrcd.classifier"), ("skrcd.plotting", "skrcd.baselines"),
])
def test_layers_import_one_way(lower, higher):
    graph = import_graph()
    for module, edges in graph.items():
        if module == lower or module.startswith(lower + "."):
            assert not {e for e in edges if e == higher or e.startswith(higher + ".")}, module


def _layer(module):
    """The layer a module belongs to: its sub-package (``skrcd.training``), or itself for a top-level module."""
    parts = module.split(".")
    if len(parts) > 1 and (PACKAGE / parts[1] / "__init__.py").is_file():
        return ".".join(parts[:2])
    return module


def private_crossings():
    """``(importer, source, name)`` for every import of a private name or a private module from another layer.

    A private name (``_x``, not a dunder) may be imported only inside its own sub-package; a private module
    of a sub-package (``skrcd.datasets._cwru``) only from that sub-package. The private modules at the top
    (``skrcd._device``, ``skrcd._warnings``, ...) are the package's shared helpers: their public names are
    for every layer.
    """
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        importer = _module_name(path)
        package = importer if path.name == "__init__.py" else importer.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - node.level + 1]
                    source = ".".join(base + ([node.module] if node.module else []))
                else:
                    source = node.module or ""
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.Import):
                source, names = None, [alias.name for alias in node.names]
            else:
                continue
            for full in ([source] if source else []) + [n for n in names if source is None]:
                if not full.startswith("skrcd"):
                    continue
                parts = full.split(".")
                private_in_package = any(p.startswith("_") and not p.startswith("__") for p in parts[2:])
                if private_in_package and _layer(full) != _layer(importer):
                    found.append((importer, full, "(module)"))
            if source and source.startswith("skrcd") and _layer(source) != _layer(importer):
                found += [(importer, source, n) for n in names if n.startswith("_") and not n.startswith("__")]
    return found


def test_no_private_name_crosses_a_layer():
    assert private_crossings() == []


def test_the_private_name_check_sees_a_crossing(tmp_path, monkeypatch):
    fake = tmp_path / "skrcd"
    (fake / "experiments").mkdir(parents=True)
    (fake / "datasets").mkdir()
    for init in (fake / "__init__.py", fake / "experiments" / "__init__.py", fake / "datasets" / "__init__.py"):
        init.write_text("")
    (fake / "datasets" / "_cwru.py").write_text("LOADS = 1\n")
    (fake / "plotting.py").write_text("def _pyplot():\n    pass\n")
    (fake / "experiments" / "plots.py").write_text(
        "from ..plotting import _pyplot\nfrom ..datasets._cwru import LOADS\nfrom .._version import __version__\n")
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", fake)
    assert sorted(private_crossings()) == [
        ("skrcd.experiments.plots", "skrcd.datasets._cwru", "(module)"),
        ("skrcd.experiments.plots", "skrcd.plotting", "_pyplot"),
    ]


def test_every_warning_and_error_class_is_in_skrcd_exceptions():
    import skrcd.exceptions

    defined = set()
    for path in sorted(PACKAGE.rglob("*.py")):
        if "experiments" in path.parts:
            continue  # the commands' own usage errors are argparse's
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ClassDef) and not node.name.startswith("_") and any(
                    isinstance(b, (ast.Name, ast.Attribute)) and (getattr(b, "id", None) or b.attr).endswith(
                        ("Warning", "Error", "KeyboardInterrupt")) for b in node.bases):
                defined.add(node.name)
    assert defined and defined <= set(skrcd.exceptions.__all__), sorted(defined - set(skrcd.exceptions.__all__))
