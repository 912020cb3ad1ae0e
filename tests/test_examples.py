import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = sorted((Path(__file__).parent.parent / "examples").glob("*.py"))


#: The examples the default suite runs (the raw-recordings path must run in CI); the others run under ``-m slow``.
DEFAULT_EXAMPLES = ("raw_recordings.py",)


@pytest.mark.parametrize("path", [
    pytest.param(p, id=p.name, marks=() if p.name in DEFAULT_EXAMPLES else pytest.mark.slow) for p in EXAMPLES
])
def test_example_runs_in_fast_mode(path, tmp_path):
    env = dict(os.environ, SKRCD_FAST="1", OMP_NUM_THREADS="1", MPLBACKEND="Agg")
    out = subprocess.run([sys.executable, str(path)], cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
