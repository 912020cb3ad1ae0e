"""A process killed (SIGKILL) while it saves a model or writes a checkpoint leaves the previous file loadable.

One child process imports skrcd once, then forks writers and kills each at a random moment: a writer that saves a
model file over and over, and one that fits with checkpoints written every epoch (each writer's ``fsync`` sleeps
30 or 50 ms first, so that most kills land inside a write). After each kill the file is copied aside; this process then
loads every copy.
"""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from conftest import TINY
from skrcd import RCDKDClassifier
from skrcd.datasets import make_domain_shift
from skrcd.persistence import load
from skrcd.persistence.archive import read_archive
from skrcd.training import CHECKPOINT_FILE

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork and SIGKILL")

PARAMS = dict(TINY, teacher_epochs=2, student_epochs=2, checkpoint_every=1)

CHILD = textwrap.dedent("""
    import json, os, random, shutil, signal, sys, time
    import torch
    torch.set_num_threads(1)
    from skrcd import RCDKDClassifier
    from skrcd.datasets import make_domain_shift

    model, ckdir, out = sys.argv[1], sys.argv[2], sys.argv[3]
    params = {k: tuple(v) if isinstance(v, list) else v for k, v in json.loads(sys.argv[4]).items()}
    X_src, y_src, X_tgt, _ = make_domain_shift(n_source=20, n_target=16, n_classes=3, length=16, random_state=0)
    clf = RCDKDClassifier.load(model)
    clf.save(model)  # a whole save before the forks: what it imports lazily is loaded once, not in each killed child
    rng = random.Random(0)
    report = {"model": [], "checkpoint": []}

    def writer(kind):
        fsync, pause = os.fsync, 0.03 if kind == "model" else 0.05
        os.fsync = lambda fd: (time.sleep(pause), fsync(fd))  # a wider window inside the write: kills land there often
        if kind == "model":
            while True:
                clf.save(model)
        while True:
            RCDKDClassifier(**params, checkpoint_dir=ckdir).fit(X_src, y_src, X_tgt)

    for kind, delays in (("model", (0.01, 0.12)), ("checkpoint", (0.05, 0.4))):
        target = model if kind == "model" else os.path.join(ckdir, "checkpoint.skrcd")
        for i in range(6):
            pid = os.fork()
            if pid == 0:
                try:
                    writer(kind)
                finally:
                    os._exit(0)
            time.sleep(rng.uniform(*delays))
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            folder = os.path.dirname(target)
            tmp = [n for n in os.listdir(folder) if n.startswith(f".skrcd-{pid}-") and n.endswith(".tmp")]
            copy = os.path.join(out, f"{kind}{i}.skrcd")
            shutil.copy(target, copy)
            report[kind].append({"copy": copy, "interrupted_write": bool(tmp)})
    print(json.dumps(report))
""")


@pytest.mark.slow
def test_sigkill_during_save_or_checkpoint_leaves_the_previous_file_loadable(tmp_path):
    X_src, y_src, X_tgt, _ = make_domain_shift(n_source=20, n_target=16, n_classes=3, length=16, random_state=0)
    ckdir, out = tmp_path / "ckpt", tmp_path / "copies"
    out.mkdir()
    clf = RCDKDClassifier(**dict(PARAMS, checkpoint_dir=ckdir)).fit(X_src, y_src, X_tgt)  # the previous checkpoint
    model = clf.save(tmp_path / "model.skrcd")  # the previous model file
    expected = clf.predict_proba(X_tgt)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([os.getcwd(), *sys.path]))
    done = subprocess.run([sys.executable, "-c", CHILD, str(model), str(ckdir), str(out), json.dumps(PARAMS)],
                          capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert len(report["model"]) == len(report["checkpoint"]) == 6
    assert any(r["interrupted_write"] for r in report["model"])  # some kills landed in the middle of a write
    assert any(r["interrupted_write"] for r in report["checkpoint"])
    for r in report["model"]:
        np.testing.assert_array_equal(load(r["copy"]).predict_proba(X_tgt), expected)
    for r in report["checkpoint"]:
        meta, _ = read_archive(r["copy"], "checkpoint")
        assert meta["stage"] in ("teacher", "student")
    # and a fit resumes from the checkpoint a killed fit left behind
    resume_dir = tmp_path / "resume"
    resume_dir.mkdir()
    os.replace(report["checkpoint"][-1]["copy"], resume_dir / CHECKPOINT_FILE)
    resumed = RCDKDClassifier(**dict(PARAMS, checkpoint_dir=resume_dir)).fit(X_src, y_src, X_tgt, resume=True)
    np.testing.assert_array_equal(resumed.predict_proba(X_tgt), expected)
