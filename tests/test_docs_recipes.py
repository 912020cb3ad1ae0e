"""Every fenced Python block of the README and the docs runs as written, and prints no warning.

Each page's blocks run in order in one fresh interpreter (as a user pastes them into one session), in an empty
working folder, with ``SKRCD_MAX_EPOCHS=1`` (documented in ``docs/install.md``): every fit trains one epoch
per stage, so a recipe is checked for what it calls, not for how well it trains. Every warning is an error
except the one that says the epochs are capped, and torch's deprecation of ``torch.jit.load``, which the deploy
page states.
"""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FENCE = re.compile(r"^```python\n(.*?)^```", re.M | re.S)

#: Pages whose blocks the default suite runs, and those left to ``-m slow`` (each fits the default two teachers
#: on a real subject, exports or trains a grid search, a dask cluster and an sktime benchmark: 30 s to minutes).
PAGES = ["docs/reliability.md"]
SLOW_PAGES = ["README.md", "docs/deploy.md", "docs/ecosystem.md"]

RUNNER = """
import json, sys, warnings
warnings.simplefilter("error")
warnings.filterwarnings("ignore", message="SKRCD_MAX_EPOCHS=1 is set")
warnings.filterwarnings("ignore", message="`torch.jit.load` is deprecated", category=DeprecationWarning)
namespace = {"__name__": "__main__"}
for line, code in json.loads(sys.argv[1]):
    try:
        exec(compile(code, f"{sys.argv[2]}:{line}", "exec"), namespace)
    except BaseException:
        print(f"the block at {sys.argv[2]}:{line} failed", file=sys.stderr)
        raise
"""


def blocks(page):
    """``[(line, code)]`` of the fenced Python blocks of ``page``."""
    text = (ROOT / page).read_text()
    return [(text[: m.start()].count("\n") + 2, m.group(1)) for m in FENCE.finditer(text)]


def run_page(page, tmp_path):
    env = {**os.environ, "SKRCD_MAX_EPOCHS": "1", "OMP_NUM_THREADS": "1", "MPLBACKEND": "Agg",
           "PYTHONWARNINGS": ""}
    out = subprocess.run([sys.executable, "-c", RUNNER, json.dumps(blocks(page)), page], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-4000:]
    return out


def test_the_pages_hold_python_blocks():
    assert all(blocks(page) for page in PAGES + SLOW_PAGES)
    # the docs' front page repeats the README's example: it is run once, here
    assert blocks("docs/index.md")[0][1] == blocks("README.md")[0][1]


@pytest.mark.parametrize("page", PAGES)
def test_the_blocks_of_a_page_run_as_written(page, tmp_path):
    run_page(page, tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("page", SLOW_PAGES)
def test_the_blocks_of_a_long_page_run_as_written(page, tmp_path):
    needs = {"docs/deploy.md": ["onnxruntime", "onnxscript"], "docs/ecosystem.md": ["skada", "distributed"]}
    for module in needs.get(page, []):
        pytest.importorskip(module)
    run_page(page, tmp_path)


def test_the_runner_fails_on_a_warning_and_names_the_block(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("text\n\n```python\nx = 1\n```\n\n```python\nimport warnings\nwarnings.warn('odd')\n```\n")
    env = {**os.environ, "PYTHONWARNINGS": ""}
    out = subprocess.run([sys.executable, "-c", RUNNER, json.dumps(blocks(page)), "page.md"], cwd=tmp_path,
                         env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode != 0 and "the block at page.md:8 failed" in out.stderr and "UserWarning: odd" in out.stderr


def test_the_epoch_cap_applies_to_every_stage_and_warns(monkeypatch):
    from skrcd import RCDKDClassifier
    from skrcd.datasets import make_domain_shift

    X_src, y_src, X_tgt, _ = make_domain_shift(n_source=24, n_target=24, length=16, random_state=0)
    params = dict(teacher_epochs=3, student_epochs=3, n_teachers=1, teacher_channels=(4, 4, 4),
                  student_channels=(2, 2, 2), selector_hidden=4, verbose=0, random_state=0)
    monkeypatch.setenv("SKRCD_MAX_EPOCHS", "1")
    with pytest.warns(UserWarning, match="SKRCD_MAX_EPOCHS=1 is set: each stage of this fit trains at most 1"):
        clf = RCDKDClassifier(**params).fit(X_src, y_src, X_tgt)
    assert [(r["stage"], r["epoch"]) for r in clf.history_] == [("teacher", 1), ("student", 1)]
    monkeypatch.setenv("SKRCD_MAX_EPOCHS", "0")
    with pytest.raises(ValueError, match="SKRCD_MAX_EPOCHS='0' must be a positive integer"):
        RCDKDClassifier(**params).fit(X_src, y_src, X_tgt)
