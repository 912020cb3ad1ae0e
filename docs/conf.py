"""Sphinx configuration of the skrcd documentation.

Build with ``sphinx-build -W -b html docs docs/_build/html`` (``pip install -e ".[docs]"``).
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
    "numpydoc",
]
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
