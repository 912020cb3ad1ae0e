"""The documentation builds with Sphinx, nitpicky and with warnings as errors (what CI checks).

Nitpicky (``-n``): every cross-reference to skrcd resolves. The build is offline (``SKRCD_DOCS_OFFLINE=1``):
references to other libraries, whose inventories come from the web, are left as names (``docs/conf.py``).

The sources are copied to a temporary folder first, so the build writes nothing
into the checkout (autosummary stubs, the generated results index).
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytest.importorskip("sphinx")
pytest.importorskip("numpydoc")
pytest.importorskip("myst_parser")
pytest.importorskip("pydata_sphinx_theme")


@pytest.mark.slow
def test_docs_build_without_warnings(tmp_path):
    ignore = shutil.ignore_patterns("_build", "generated", "_generated", "__pycache__")
    shutil.copytree(ROOT / "docs", tmp_path / "docs", ignore=ignore)
    shutil.copytree(ROOT / "examples", tmp_path / "examples", ignore=ignore)  # literalinclude'd by the pages
    out = subprocess.run(
        [sys.executable, "-m", "sphinx", "-n", "-W", "--keep-going", "-q", "-b", "html", str(tmp_path / "docs"),
         str(tmp_path / "html")],
        capture_output=True, text=True, timeout=300,
        env={**os.environ, "MPLBACKEND": "Agg", "SKRCD_DOCS_OFFLINE": "1"},
    )
    assert out.returncode == 0, out.stderr[-5000:] + out.stdout[-2000:]
    html = tmp_path / "html"
    for page in ("index", "install", "quickstart", "method", "user_guide", "ecosystem", "examples", "deploy",
                 "reliability", "troubleshooting", "reproduce", "api", "changelog"):
        assert (html / f"{page}.html").is_file(), page
    api = (html / "generated" / "skrcd.RCDKDClassifier.html").read_text()
    assert "predict_proba" in api and "Examples" in api
    # every committed benchmark table is on the reproduction page
    reproduce = (html / "reproduce.html").read_text()
    for table in sorted((ROOT / "docs" / "results").glob("*/results.md")):
        assert f"docs/{table.parent.relative_to(ROOT / 'docs').as_posix()}" in reproduce
