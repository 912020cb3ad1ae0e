"""The package's import graph: no circle, layers import one way, and the old module paths still work."""

import ast
import importlib
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
    assert "skrcd.training.checkpoints" in graph["skrcd.classifier"]
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


@pytest.mark.parametrize("old, new, names", [
    ("skrcd.networks", "skrcd.nn.networks", ["CNN1D", "TCN", "DomainDiscriminator", "count_parameters"]),
    ("skrcd.losses", "skrcd.nn.losses", ["distillation_loss", "domain_adversarial_loss", "coral_loss"]),
    ("skrcd.selector", "skrcd.selection.dqn", ["DQNSelector", "ReplayMemory", "NoisyLinear"]),
    ("skrcd.rewards", "skrcd.selection.rewards", ["selection_reward", "entropy"]),
    ("skrcd.selection", "skrcd.selection.strategies", ["SelectAll", "SelectRandom", "ReinforcedSelection",
                                                       "SelectionStrategy", "make_selection"]),
    ("skrcd.training", "skrcd.training.loop", ["run_stage"]),
    ("skrcd.training", "skrcd.training.stages", ["DANNStage", "DistillationStage", "SourceOnlyStage",
                                                  "TrainingStage", "DomainTensors"]),
    ("skrcd.training", "skrcd.training.teacher_cache", ["TeacherOutputs", "mc_dropout_mode"]),
    ("skrcd.interrupt", "skrcd.training.interrupt", ["FitInterruptedWarning", "TrainingInterrupted",
                                                     "deferred_sigint"]),
    ("skrcd.persistence", "skrcd.persistence.model_file", ["load", "save"]),
    ("skrcd.persistence", "skrcd.persistence.archive", ["ModelFileError", "read_metadata", "FORMAT_VERSION"]),
    ("skrcd.benchmark", "skrcd.experiments.benchmark", ["main", "METHODS"]),
    ("skrcd.speed", "skrcd.experiments.speed", ["main", "epoch_times"]),
    ("skrcd.callbacks", "skrcd.training.callbacks", ["EpochProgressBar"]),
    ("skrcd.demo", "skrcd.experiments.demo", ["run_demo", "main"]),
])
def test_old_import_paths_still_work(old, new, names):
    old_module, new_module = importlib.import_module(old), importlib.import_module(new)
    for name in names:
        assert getattr(old_module, name) is getattr(new_module, name), name


def test_python_m_old_entry_points_still_run():
    import subprocess
    import sys

    for module in ("skrcd.benchmark", "skrcd.speed"):
        out = subprocess.run([sys.executable, "-m", module, "--help"], capture_output=True, text=True, timeout=120)
        assert out.returncode == 0 and "usage: skrcd benchmark" in out.stdout, out.stderr
