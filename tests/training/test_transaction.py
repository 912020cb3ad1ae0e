"""Fits are transactions: a fit that raises leaves the estimator exactly as it was; fits sharing a checkpoint_dir."""

import os
import signal
import subprocess
import sys
import warnings

import numpy as np
import pytest
import torch
from skorch.callbacks import Callback
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted

from conftest import TINY
from skrcd import RCDKDClassifier, SelectionCollapseWarning
from skrcd.training import DANNStage, DistillationStage
from skrcd.training.checkpoints import LOCK_FILE, CheckpointDirInUseError, checkpoint_lock


@pytest.fixture(scope="module")
def data():
    from skrcd.datasets import make_domain_shift

    return make_domain_shift(n_source=40, n_target=36, n_classes=3, length=32, random_state=0)


class Boom(Exception):
    """The failure injected into a fit."""


def _fail_at(monkeypatch, stage_cls, call, exc=Boom):
    """Make the ``call``-th step of ``stage_cls`` raise ``exc``."""
    original, calls = stage_cls.train_step, []

    def step(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == call:
            raise exc("injected")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(stage_cls, "train_step", step)
    return calls


def _snapshot(clf, X):
    """What must not change: the attribute names, the parameters, the predictions, the history, the weights."""
    return {
        "names": sorted(vars(clf)),
        "params": repr(clf.get_params()),
        "proba": clf.predict_proba(X),
        "history": [{k: v for k, v in row.items() if k != "dur"} for row in clf.history_],
        "student": {k: v.clone() for k, v in clf.student_.state_dict().items()},
        "fitted": {k: repr(v) for k, v in vars(clf).items()
                   if k.endswith("_") and not isinstance(v, (torch.nn.Module, type(clf.history_)))},
    }


def _assert_same(before, clf, X):
    after = _snapshot(clf, X)
    assert after["names"] == before["names"] and after["params"] == before["params"]
    np.testing.assert_array_equal(after["proba"], before["proba"])
    assert after["history"] == before["history"] and after["fitted"] == before["fitted"]
    for k, v in before["student"].items():
        assert torch.equal(after["student"][k], v), k


@pytest.mark.parametrize("stage_cls, call", [(DANNStage, 2), (DistillationStage, 1)], ids=["teacher", "student"])
def test_a_fresh_estimator_stays_unfitted_after_a_failed_fit(data, monkeypatch, stage_cls, call):
    X_src, y_src, X_tgt, _ = data
    clf = RCDKDClassifier(**dict(TINY, teacher_epochs=2))
    before = dict(vars(clf))
    _fail_at(monkeypatch, stage_cls, call)
    with pytest.raises(Boom):
        clf.fit(X_src, y_src, X_tgt)
    assert vars(clf) == before  # no fitted attribute, same parameter objects
    with pytest.raises(NotFittedError):
        check_is_fitted(clf, "student_")
    with pytest.raises(NotFittedError):
        clf.predict(X_tgt)


@pytest.fixture
def fitted(data):
    X_src, y_src, X_tgt, _ = data
    return RCDKDClassifier(**TINY).fit(X_src, y_src, X_tgt)


@pytest.mark.parametrize("stage_cls, call", [(DANNStage, 1), (DistillationStage, 2)], ids=["teacher", "student"])
def test_a_failed_refit_keeps_the_previous_model(data, fitted, monkeypatch, stage_cls, call):
    X_src, y_src, X_tgt, _ = data
    before = _snapshot(fitted, X_tgt)
    _fail_at(monkeypatch, stage_cls, call)
    with pytest.raises(Boom):
        fitted.set_params(student_epochs=2, random_state=1).fit(X_src[::-1], y_src[::-1], X_tgt)
    fitted.set_params(student_epochs=1, random_state=0)
    _assert_same(before, fitted, X_tgt)


def test_a_fit_failing_in_validation_keeps_the_previous_model(data, fitted, tmp_path, monkeypatch):
    """Failures after some fitted attributes were already set: a device that is not there, a checkpoint written for
    other parameters, a validation callback that raises at an epoch's end."""
    X_src, y_src, X_tgt, _ = data
    before = _snapshot(fitted, X_tgt)
    with monkeypatch.context() as m:
        m.setattr(torch.cuda, "is_available", lambda: False)
        with pytest.raises(ValueError, match="CUDA is not available"):
            fitted.set_params(device="cuda").fit(X_src[:20], y_src[:20], X_tgt[:20])
    fitted.set_params(device="cpu")
    _assert_same(before, fitted, X_tgt)

    RCDKDClassifier(**TINY, checkpoint_dir=tmp_path).fit(X_src, y_src, X_tgt)
    with pytest.raises(ValueError, match="other parameters"):
        fitted.set_params(checkpoint_dir=tmp_path, kd_weight=3.0).fit(X_src, y_src, X_tgt[:20], resume=True)
    fitted.set_params(checkpoint_dir=None, kd_weight=10.0)
    _assert_same(before, fitted, X_tgt)

    class Validation(Callback):
        def on_train_begin(self, net, **kwargs):
            pass

        def on_epoch_end(self, net, stage=None, **kwargs):
            if stage == "student":
                raise ValueError("validation score could not be computed")

        def on_train_end(self, net, **kwargs):
            pass

    with pytest.raises(ValueError, match="validation score"):
        fitted.set_params(callbacks=[Validation()]).fit(X_src, y_src, X_tgt[:20])
    fitted.set_params(callbacks=None)
    _assert_same(before, fitted, X_tgt)


def test_a_second_ctrl_c_leaves_the_previous_model(data, fitted, monkeypatch):
    """A KeyboardInterrupt that escapes fit (the second Ctrl-C) rolls back too; the first one stops gracefully."""
    X_src, y_src, X_tgt, _ = data
    before = _snapshot(fitted, X_tgt)
    from skrcd.training import interrupt

    monkeypatch.setattr(interrupt, "interrupt_is_forced", lambda: True)
    import skrcd.training.loop as loop

    monkeypatch.setattr(loop, "interrupt_is_forced", lambda: True)
    _fail_at(monkeypatch, DistillationStage, 1, KeyboardInterrupt)
    with pytest.raises(KeyboardInterrupt):
        fitted.fit(X_src, y_src, X_tgt)
    _assert_same(before, fitted, X_tgt)


def test_a_successful_refit_replaces_the_model(data, fitted):
    X_src, y_src, X_tgt, _ = data
    old = fitted.student_
    fitted.set_params(random_state=1).fit(X_src, y_src, X_tgt)
    assert fitted.student_ is not old


# ----------------------------------------------------------- shared checkpoint_dir
def test_a_fit_refuses_a_checkpoint_dir_in_use(data, tmp_path):
    X_src, y_src, X_tgt, _ = data
    clf = RCDKDClassifier(**TINY, checkpoint_dir=tmp_path)
    with checkpoint_lock(tmp_path):  # another fit holds it
        with pytest.raises(CheckpointDirInUseError, match=f"pid and host: {os.getpid()} .*give each its own"):
            clf.fit(X_src, y_src, X_tgt)
    assert not hasattr(clf, "classes_")
    clf.fit(X_src, y_src, X_tgt)  # released: fine now
    assert (tmp_path / LOCK_FILE).exists() and (tmp_path / "checkpoint.skrcd").exists()


def test_two_fits_sharing_a_checkpoint_dir_in_one_process(data, tmp_path):
    """A second fit started while the first is running (here from its callback) is refused; the first completes."""
    X_src, y_src, X_tgt, _ = data
    errors = []

    class StartAnother(Callback):
        def on_train_begin(self, net, **kwargs):
            pass

        def on_epoch_end(self, net, stage=None, **kwargs):
            if stage == "teacher" and not errors:
                try:
                    RCDKDClassifier(**TINY, checkpoint_dir=tmp_path).fit(X_src, y_src, X_tgt)
                except CheckpointDirInUseError as exc:
                    errors.append(exc)

        def on_train_end(self, net, **kwargs):
            pass

    first = RCDKDClassifier(**TINY, checkpoint_dir=tmp_path, callbacks=[StartAnother()]).fit(X_src, y_src, X_tgt)
    assert len(errors) == 1 and first.interrupted_ is None
    resumed = RCDKDClassifier(**TINY, checkpoint_dir=tmp_path).fit(X_src, y_src, X_tgt, resume=True)
    np.testing.assert_array_equal(resumed.predict_proba(X_tgt), first.predict_proba(X_tgt))


@pytest.mark.skipif(sys.platform == "win32", reason="flock")
def test_a_fit_in_another_process_holds_the_lock_until_it_dies(data, tmp_path):
    X_src, y_src, X_tgt, _ = data
    holder = subprocess.Popen(
        [sys.executable, "-c", "import fcntl, os, sys, time\n"
         f"fd = os.open({str(tmp_path / LOCK_FILE)!r}, os.O_RDWR | os.O_CREAT)\n"
         "fcntl.flock(fd, fcntl.LOCK_EX); os.write(fd, b'other-process'); print('locked', flush=True)\n"
         "time.sleep(120)"],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(CheckpointDirInUseError, match="other-process"):
            RCDKDClassifier(**TINY, checkpoint_dir=tmp_path).fit(X_src, y_src, X_tgt)
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a dead holder leaves no stale lock behind
        warnings.simplefilter("ignore", SelectionCollapseWarning)  # 1 student epoch: nothing to learn
        RCDKDClassifier(**TINY, checkpoint_dir=tmp_path).fit(X_src, y_src, X_tgt)


def test_a_checkpoint_dir_that_is_a_file(data, tmp_path):
    X_src, y_src, X_tgt, _ = data
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="exists and is not a directory"):
        RCDKDClassifier(**TINY, checkpoint_dir=tmp_path / "file").fit(X_src, y_src, X_tgt)


def test_a_bad_parameter_is_named_before_the_checkpoint_dir_is_created(data, tmp_path):
    X_src, y_src, X_tgt, _ = data
    with pytest.raises(ValueError, match="^batch_size"):
        RCDKDClassifier(**dict(TINY, batch_size=0), checkpoint_dir=tmp_path / "new").fit(X_src, y_src, X_tgt)
    assert not (tmp_path / "new").exists()


@pytest.mark.usefixtures("python_sigint_handler")  # the third fit presses Ctrl-C
def test_the_warnings_of_a_fit_point_at_its_caller(data):
    """The transaction wrapper adds a frame: the warnings issued inside fit still name the caller's line."""
    X_src, y_src, X_tgt, _ = data

    class Stop(Callback):  # a Ctrl-C pressed during the first epoch (a callback's own KeyboardInterrupt ends a stage)
        def on_train_begin(self, net, **kwargs):
            pass

        def on_epoch_end(self, net, **kwargs):
            signal.raise_signal(signal.SIGINT)

        def on_train_end(self, net, **kwargs):
            pass

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        RCDKDClassifier(**TINY).fit(X_src, y_src, X_tgt[:, :, :16])  # LengthMismatchWarning
        RCDKDClassifier(**TINY).fit(X_src, y_src)  # NoTargetWarning
        RCDKDClassifier(**TINY, callbacks=[Stop()]).fit(X_src, y_src, X_tgt)  # FitInterruptedWarning
    names = {w.category.__name__ for w in caught}
    assert {"LengthMismatchWarning", "NoTargetWarning", "FitInterruptedWarning"} <= names
    assert all(w.filename == __file__ for w in caught), [(w.category.__name__, w.filename) for w in caught]
