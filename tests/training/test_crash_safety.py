"""A process killed (SIGKILL) while it saves a model or writes a checkpoint leaves the previous file loadable.

One child process imports skrcd once, then forks writers, each of which kills itself at one chosen point of the
write (no timer): after the metadata member and before the tensors, before the ``fsync``, before the rename, and
after the rename before the folder's ``fsync``. Model files are saved over a previous one; checkpoints are killed
in their second write of a fit, so the checkpoint left behind is the killed fit's own first one. After each kill
the file is copied aside; this process then loads every copy and resumes a fit from a killed fit's checkpoint.
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
#: Where a writer kills itself; all but the last leave the write's temporary file behind.
POINTS = ("before_the_tensors", "before_fsync", "before_rename", "after_rename")

CHILD = textwrap.dedent("""
    import json, os, shutil, signal, sys, zipfile
    import torch
    torch.set_num_threads(1)
    import skrcd.persistence.archive as archive
    from skrcd import RCDKDClassifier
    from skrcd.datasets import make_domain_shift

    model, ckdir, out = sys.argv[1], sys.argv[2], sys.argv[3]
    params = {k: tuple(v) if isinstance(v, list) else v for k, v in json.loads(sys.argv[4]).items()}
    points = json.loads(sys.argv[5])
    X_src, y_src, X_tgt, _ = make_domain_shift(n_source=20, n_target=16, n_classes=3, length=16, random_state=0)
    clf = RCDKDClassifier.load(model)
    clf.save(model)  # a whole save before the forks: what it imports lazily is loaded once, not in each child

    def die():
        os.kill(os.getpid(), signal.SIGKILL)

    def kill_at(point, on_write):
        # on the on_write-th archive written by this process, die at point
        writes = [0]
        write_archive = archive.write_archive

        def counting(*args, **kwargs):
            writes[0] += 1
            return write_archive(*args, **kwargs)

        def armed():
            return writes[0] == on_write

        archive.write_archive = counting
        import skrcd.persistence.model_file as model_file, skrcd.training.checkpoints as checkpoints
        model_file.write_archive = checkpoints.write_archive = counting
        if point == "before_the_tensors":
            writestr = zipfile.ZipFile.writestr
            def guarded(self, info, data, *args, **kwargs):
                if armed() and getattr(info, "filename", info) == "tensors.pt":
                    die()
                return writestr(self, info, data, *args, **kwargs)
            zipfile.ZipFile.writestr = guarded
        elif point == "before_fsync":
            fsync = os.fsync
            os.fsync = lambda fd: die() if armed() else fsync(fd)
        elif point == "before_rename":
            replace = os.replace
            os.replace = lambda a, b: die() if armed() else replace(a, b)
        else:
            fsync_dir = archive._fsync_directory
            archive._fsync_directory = lambda p: die() if armed() else fsync_dir(p)

    report = {"model": [], "checkpoint": []}
    for kind in ("model", "checkpoint"):
        target = model if kind == "model" else os.path.join(ckdir, "checkpoint.skrcd")
        for point in points:
            pid = os.fork()
            if pid == 0:
                try:
                    if kind == "model":
                        kill_at(point, 1)
                        clf.save(model)
                    else:
                        kill_at(point, 2)
                        RCDKDClassifier(**params, checkpoint_dir=ckdir).fit(X_src, y_src, X_tgt)
                finally:
                    os._exit(0)  # reached only if the kill point was never met
            _, status = os.waitpid(pid, 0)
            folder = os.path.dirname(target)
            tmp = [n for n in os.listdir(folder) if n.startswith(f".skrcd-{pid}-") and n.endswith(".tmp")]
            copy = os.path.join(out, f"{kind}_{point}.skrcd")
            shutil.copy(target, copy)
            report[kind].append({"point": point, "killed": os.WIFSIGNALED(status)
                                 and os.WTERMSIG(status) == signal.SIGKILL, "left_tmp": bool(tmp), "copy": copy})
    print(json.dumps(report))
""")


@pytest.mark.slow
def test_sigkill_at_each_point_of_a_write_leaves_a_loadable_file(tmp_path):
    X_src, y_src, X_tgt, _ = make_domain_shift(n_source=20, n_target=16, n_classes=3, length=16, random_state=0)
    ckdir, out = tmp_path / "ckpt", tmp_path / "copies"
    out.mkdir()
    clf = RCDKDClassifier(**dict(PARAMS, checkpoint_dir=ckdir)).fit(X_src, y_src, X_tgt)  # the previous checkpoint
    model = clf.save(tmp_path / "model.skrcd")  # the previous model file
    expected = clf.predict_proba(X_tgt)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([os.getcwd(), *sys.path]))
    done = subprocess.run([sys.executable, "-c", CHILD, str(model), str(ckdir), str(out), json.dumps(PARAMS),
                           json.dumps(POINTS)], capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    for kind in ("model", "checkpoint"):
        assert [r["point"] for r in report[kind]] == list(POINTS)
        for r in report[kind]:
            assert r["killed"], r  # every writer died at its point
            assert r["left_tmp"] == (r["point"] != "after_rename"), r  # killed inside the write, or just after
    for r in report["model"]:  # the previous file, or (after the rename) the same estimator saved again
        np.testing.assert_array_equal(load(r["copy"]).predict_proba(X_tgt), expected)
    for r in report["checkpoint"]:
        meta, _ = read_archive(r["copy"], "checkpoint")
        assert meta["stage"] == "teacher" and meta["epoch"] == (2 if r["point"] == "after_rename" else 1), meta
    # a fit resumes from the checkpoint a killed fit left behind and ends where an uninterrupted fit ends
    resume_dir = tmp_path / "resume"
    resume_dir.mkdir()
    os.replace(report["checkpoint"][0]["copy"], resume_dir / CHECKPOINT_FILE)
    resumed = RCDKDClassifier(**dict(PARAMS, checkpoint_dir=resume_dir)).fit(X_src, y_src, X_tgt, resume=True)
    np.testing.assert_array_equal(resumed.predict_proba(X_tgt), expected)
