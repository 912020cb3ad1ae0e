"""Sphinx configuration of the skrcd documentation.

Build with ``sphinx-build -W -b html docs docs/_build/html`` (``pip install -e ".[docs]"``); offline, with
``SKRCD_DOCS_OFFLINE=1`` (the tests build that way, nitpicky: ``-n``).
Markdown pages are read by myst-parser; the API reference is generated from the
numpydoc docstrings by autodoc/autosummary. ``results.md`` (the benchmark tables of
``docs/results/``) is written at each build, so every committed result appears.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
os.environ.setdefault("MPLBACKEND", "Agg")

import skrcd  # noqa: E402

project = "skrcd"
author = "skrcd developers"
copyright = "skrcd developers"
release = version = skrcd.__version__

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.intersphinx",
    "numpydoc",
]

# The libraries skrcd's pages refer to. Their inventories come from the web: a build that cannot reach them
# (SKRCD_DOCS_OFFLINE=1, as the tests build) leaves those references as plain names, and the nitpicky build
# (-n) ignores exactly these packages; every reference to skrcd itself must resolve either way.
EXTERNAL = {
    "python": "https://docs.python.org/3",
    "numpy": "https://numpy.org/doc/stable",
    "sklearn": "https://scikit-learn.org/stable",
    "torch": "https://docs.pytorch.org/docs/stable",
    "skorch": "https://skorch.readthedocs.io/en/stable",
    "sktime": "https://www.sktime.net/en/stable",
    "pandas": "https://pandas.pydata.org/docs",
    "matplotlib": "https://matplotlib.org/stable",
}
OFFLINE = os.environ.get("SKRCD_DOCS_OFFLINE") == "1"
intersphinx_mapping = {} if OFFLINE else {name: (url, None) for name, url in EXTERNAL.items()}
_EXTERNAL_MODULES = ("numpy", "sklearn", "torch", "skorch", "sktime", "pandas", "matplotlib", "onnxruntime", "skada",
                     "scipy", "joblib", "dask", "distributed", "warnings", "urllib", "pathlib", "os", "io",
                     "collections", "typing", "json", "zipfile")
nitpick_ignore_regex = [(r"py:.*", rf"({'|'.join(_EXTERNAL_MODULES)})(\..*)?")] if OFFLINE else []
# torch's own docstring of Module.forward, inherited by every network's forward, says :class:`Module`
nitpick_ignore = [("py:class", "Module")]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
templates_path = ["_templates"]
# results/ holds the benchmark outputs: included through _generated/results_index.md, not pages of their own
exclude_patterns = ["_build", "_generated", "results", "images/README.md"]

myst_enable_extensions = ["colon_fence"]
myst_heading_anchors = 3

autosummary_generate = True
autosummary_imported_members = False
autosummary_ignore_module_all = False
autodoc_default_options = {
    "members": True,
    # scikit-learn's generated metadata-routing setters (documented by scikit-learn)
    "exclude-members": "set_fit_request,set_predict_request,set_predict_proba_request,set_score_request,"
                       "set_transform_request,set_output",
}
autodoc_typehints = "none"
autodoc_mock_imports = []
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False

html_theme = "pydata_sphinx_theme"
html_title = f"skrcd {release}"
html_theme_options = {
    "navigation_with_keys": False,
    "show_prev_next": True,
    "secondary_sidebar_items": ["page-toc"],
}
html_static_path = []
html_show_sourcelink = False


def _results_index():
    """Write ``_generated/results_index.md``: every Markdown table under ``results/`` and the PNG plots beside it."""
    out = HERE / "_generated"
    out.mkdir(exist_ok=True)
    results = HERE / "results"
    folders = sorted({p.parent for p in results.rglob("*") if p.is_file()}) if results.is_dir() else []
    lines = []
    for folder in folders:
        rel = folder.relative_to(HERE).as_posix()
        lines += [f"### `docs/{rel}`", ""]
        mds = sorted(folder.glob("*.md"), key=lambda p: (p.name != "results.md", p.name))
        for md in mds:  # paths are relative to the including page (reproduce.md)
            lines += [f"```{{include}} {rel}/{md.name}", ":heading-offset: 2", ":relative-images:", "```", ""]
        for png in sorted(folder.glob("*.png")):
            lines += [f"![{png.stem}]({rel}/{png.name})", ""]
        others = sorted(p.name for p in folder.iterdir() if p.is_file() and p.suffix not in (".md", ".png"))
        if others:  # raw outputs (CSV, logs, JSON lines): named, not rendered
            lead = "Also in this folder" if mds else "Raw outputs in this folder"
            lines += [f"{lead}: " + ", ".join(f"`{n}`" for n in others) + ".", ""]
    if not lines:
        lines = ["No benchmark results are committed yet.", ""]
    text = "\n".join(lines)
    target = out / "results_index.md"
    if not target.exists() or target.read_text() != text:
        target.write_text(text)


_results_index()


def _canonical(target):
    """The documented name of ``target``, a dotted path that may go through a re-export
    (``skrcd.training.StageNet`` -> ``skrcd.training.loop.StageNet``), or None."""
    import importlib
    import inspect

    parts = target.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        owner, rest = obj, parts[i:]
        break
    else:
        return None
    path = [owner.__name__]
    for name in rest:
        if not hasattr(obj, name):
            return None
        parent, obj = obj, getattr(obj, name)
        if inspect.ismodule(obj):
            path = [obj.__name__]
        elif inspect.isclass(obj) or inspect.isfunction(obj):
            module = getattr(obj, "__module__", None)
            path = [module, obj.__qualname__] if module and module.startswith("skrcd") else path + [name]
        else:  # data, attributes, methods, properties: where their owner is documented
            if inspect.ismodule(parent):
                source = next((m for m in _defining_modules(parent, name)), parent.__name__)
                path = [source, name]
            else:
                path = path + [name]
    return ".".join(path)


def _defining_modules(package, name):
    """The submodules of ``package`` that define the module-level name ``name`` (not by import)."""
    import ast
    import importlib

    for module_name in sorted(m for m in sys.modules if m.startswith(package.__name__ + ".")):
        module = sys.modules[module_name]
        try:
            tree = ast.parse(Path(module.__file__).read_text())
        except (OSError, TypeError, SyntaxError):
            continue
        for node in tree.body:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(
                node, ast.AnnAssign) else []
            for t in targets:
                names = [e.id for e in t.elts] if isinstance(t, ast.Tuple) else [getattr(t, "id", None)]
                if name in names:
                    yield importlib.import_module(module_name).__name__


def _resolve_reexports(app, env, node, contnode):
    """Resolve a reference to a skrcd name through the re-export path users import (``skrcd.training.X``) to
    where Sphinx documents it (the defining module's page)."""
    if node.get("refdomain") != "py":
        return None
    target = node["reftarget"]
    candidates = [target]
    if not target.startswith("skrcd"):
        module = node.get("py:module")
        candidates = [f"{module}.{target}"] if module else []
    domain = env.get_domain("py")
    for candidate in candidates:
        canonical = _canonical(candidate)
        if canonical and canonical != target:
            found = domain.resolve_any_xref(env, node["refdoc"], app.builder, canonical, node, contnode)
            if found:
                return found[0][1]
    return None


def setup(app):
    app.connect("missing-reference", _resolve_reexports)
