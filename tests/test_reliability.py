"""Reliability: reproducibility, Ctrl-C, checkpoints and resume, bad numbers, memory, fuzzing.

Every fit here is tiny (see SMALL); docs/reliability.md cites these tests by node id.
"""

import gc
import signal
import tracemalloc
import warnings

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV
from skorch.callbacks import Callback

from conftest import SMALL
from skrcd import RCDKDClassifier
from skrcd.datasets import make_domain_shift
from skrcd.persistence import ModelFileError, read_metadata
from skrcd.persistence.archive import read_archive
from skrcd.selection.dqn import ReplayMemory
from skrcd.training import CHECKPOINT_FILE, DANNStage, DistillationStage, FitInterruptedWarning


pytestmark = pytest.mark.usefixtures("python_sigint_handler")  # the tests press Ctrl-C (tests/conftest.py)


@pytest.fixture(scope="module")
def data():
    return make_domain_shift(n_source=40, n_target=36, n_classes=3, length=32, random_state=0)


def _rows(history):
    """History rows without the wall-clock duration."""
    return [{k: v for k, v in row.items() if k != "dur"} for row in history]


def _interrupt_at(monkeypatch, stage_cls, call, how="raise", after=None):
    """Make ``stage_cls.train_step`` interrupt on its ``call``-th call (1-based).

    how="raise": raise KeyboardInterrupt in the step; "sigint": send one SIGINT
    mid-step (then finish the step); "sigint2": send two.
    """
    original = stage_cls.train_step
    seen = {"calls": 0, "finished": []}

    def step(self, src_idx, tgt_idx, progress):
        seen["calls"] += 1
        if seen["calls"] == call:
            if how == "raise":
                raise KeyboardInterrupt
            signal.raise_signal(signal.SIGINT)
            if how == "sigint2":
                signal.raise_signal(signal.SIGINT)
            out = original(self, src_idx, tgt_idx, progress)
            seen["finished"].append(call)
            return out
        return original(self, src_idx, tgt_idx, progress)

    monkeypatch.setattr(stage_cls, "train_step", step)
    return seen


class _Snapshots(Callback):
    """Copies of a network's weights at the end of each epoch of a stage."""

    def __init__(self, attr, stage):
        self.attr, self.stage, self.states = attr, stage, {}

    def on_epoch_end(self, net, stage=None, epoch=None, **kwargs):
        if stage == self.stage:
            self.states[epoch] = {k: v.clone() for k, v in getattr(net.estimator_, self.attr).state_dict().items()}


# ------------------------------------------------------------------ reproducible
def test_same_seed_same_predictions_and_history_after_clone(data):
    X_src, y_src, X_tgt, _ = data
    a = RCDKDClassifier(**SMALL, random_state=7).fit(X_src, y_src, X_tgt)
    b = clone(a).fit(X_src, y_src, X_tgt)
    np.testing.assert_array_equal(a.predict_proba(X_tgt), b.predict_proba(X_tgt))
    assert _rows(a.history_) == _rows(b.history_)
    assert any("dqn_loss" in r for r in a.history_)  # the selector did learn


def test_random_state_none_draws_fresh_randomness(data):
    X_src, y_src, X_tgt, _ = data
    a = RCDKDClassifier(**SMALL, random_state=None).fit(X_src, y_src, X_tgt)
    b = RCDKDClassifier(**SMALL, random_state=None).fit(X_src, y_src, X_tgt)
    assert not np.array_equal(a.predict_proba(X_tgt), b.predict_proba(X_tgt))


def test_grid_search_is_reproducible(data):
    X_src, y_src, X_tgt, _ = data
    est = RCDKDClassifier(**dict(SMALL, teacher_epochs=1, student_epochs=1), random_state=0)
    grid = {"temperature": [2.0, 4.0]}
    runs = [GridSearchCV(est, grid, cv=2).fit(X_src, y_src, X_tgt=X_tgt) for _ in range(2)]
    np.testing.assert_array_equal(runs[0].cv_results_["mean_test_score"], runs[1].cv_results_["mean_test_score"])
    best = [r.best_estimator_ for r in runs]
    np.testing.assert_array_equal(best[0].predict_proba(X_tgt), best[1].predict_proba(X_tgt))
    direct = clone(est).set_params(**runs[0].best_params_).fit(X_src, y_src, X_tgt)
    np.testing.assert_array_equal(direct.predict_proba(X_tgt), best[0].predict_proba(X_tgt))
    assert _rows(direct.history_) == _rows(best[0].history_)


# ------------------------------------------------------------------ Ctrl-C
def test_ctrl_c_in_student_step_keeps_last_completed_epoch(data, monkeypatch):
    X_src, y_src, X_tgt, _ = data
    kw = dict(SMALL, student_epochs=4, random_state=0)
    snaps = _Snapshots("student_", "student")
    RCDKDClassifier(**kw, callbacks=[snaps]).fit(X_src, y_src, X_tgt)
    _interrupt_at(monkeypatch, DistillationStage, call=3)  # one step per epoch: epoch 3
    with pytest.warns(FitInterruptedWarning, match=r"stage 'student' during epoch 3/4.*end of its epoch 2"):
        clf = RCDKDClassifier(**kw).fit(X_src, y_src, X_tgt)
    assert clf.interrupted_ == {"stage": "student", "epoch": 2, "n_epochs": 4}
    assert [(r["stage"], r["epoch"]) for r in clf.history_][-2:] == [("student", 1), ("student", 2)]
    for k, v in clf.student_.state_dict().items():
        assert torch.equal(v, snaps.states[2][k]), k
    assert clf.selector_ is not None and clf.selector_.memory is None and not clf.selector_.training
    proba = clf.predict_proba(X_tgt)
    assert proba.shape == (36, 3) and np.isfinite(proba).all()


def test_ctrl_c_in_teacher_stage_leaves_teacher_and_predicts_with_it(data, monkeypatch):
    X_src, y_src, X_tgt, _ = data
    _interrupt_at(monkeypatch, DANNStage, call=2)
    with pytest.warns(FitInterruptedWarning, match=r"stage 'teacher' during epoch 2/3.*predict uses the teacher"):
        clf = RCDKDClassifier(**SMALL, random_state=0).fit(X_src, y_src, X_tgt)
    assert clf.interrupted_ == {"stage": "teacher", "epoch": 1, "n_epochs": 3}
    assert clf.student_ is None and clf.adapter_ is None and clf.selector_ is None
    assert [r["stage"] for r in clf.history_] == ["teacher"]
    with pytest.warns(FitInterruptedWarning, match="using the teacher"):
        pred = clf.predict(X_tgt)
    np.testing.assert_array_equal(pred, clf.predict(X_tgt, network="teacher"))
    with pytest.raises(ValueError, match="no student"):
        clf.export_student("unused.onnx")


def test_first_sigint_is_deferred_to_the_end_of_the_step(data, monkeypatch):
    X_src, y_src, X_tgt, _ = data
    seen = _interrupt_at(monkeypatch, DistillationStage, call=2, how="sigint")
    with pytest.warns(FitInterruptedWarning, match=r"stage 'student' during epoch 2/3"):
        clf = RCDKDClassifier(**SMALL, random_state=0).fit(X_src, y_src, X_tgt)
    assert seen["finished"] == [2]  # the step ran to its end after the Ctrl-C
    assert clf.interrupted_["epoch"] == 1
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_second_sigint_propagates(data, monkeypatch):
    X_src, y_src, X_tgt, _ = data
    seen = _interrupt_at(monkeypatch, DistillationStage, call=2, how="sigint2")
    with warnings.catch_warnings():
        warnings.simplefilter("error", FitInterruptedWarning)  # no graceful stop this time
        with pytest.raises(KeyboardInterrupt) as info:
            RCDKDClassifier(**SMALL, random_state=0).fit(X_src, y_src, X_tgt)
    assert type(info.value) is KeyboardInterrupt
    assert seen["finished"] == []
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_ctrl_c_while_stopping_propagates(data, monkeypatch):
    class ExitInterrupts(Callback):
        def on_train_end(self, net, **kwargs):
            raise KeyboardInterrupt

    X_src, y_src, X_tgt, _ = data
    _interrupt_at(monkeypatch, DANNStage, call=2)
    with pytest.raises(KeyboardInterrupt):
        RCDKDClassifier(**SMALL, callbacks=[ExitInterrupts()], random_state=0).fit(X_src, y_src, X_tgt)


def test_sigint_after_the_last_step_is_not_swallowed(data):
    class LateCtrlC(Callback):
        def on_train_end(self, net, stage=None, **kwargs):
            if stage == "student":
                signal.raise_signal(signal.SIGINT)

    X_src, y_src, X_tgt, _ = data
    with pytest.raises(KeyboardInterrupt):
        RCDKDClassifier(**dict(SMALL, teacher_epochs=1, student_epochs=1), callbacks=[LateCtrlC()],
                        random_state=0).fit(X_src, y_src, X_tgt)


def test_keyboard_interrupt_of_a_callback_ends_only_its_stage(data):
    """A callback stops training the skorch way (KeyboardInterrupt): not a Ctrl-C, the fit goes on."""
    class StopAfter(Callback):
        def on_epoch_end(self, net, stage=None, epoch=None, **kwargs):
            if stage == "teacher" and epoch == 2:
                raise KeyboardInterrupt

    X_src, y_src, X_tgt, _ = data
    with warnings.catch_warnings():
        warnings.simplefilter("error", FitInterruptedWarning)
        clf = RCDKDClassifier(**SMALL, callbacks=[StopAfter()], random_state=0).fit(X_src, y_src, X_tgt)
    assert clf.interrupted_ is None and clf.student_ is not None
    assert [(r["stage"], r["epoch"]) for r in clf.history_] == [("teacher", 1), ("teacher", 2)] + [
        ("student", e) for e in (1, 2, 3)]


def test_ctrl_c_during_a_callback_is_a_ctrl_c(data):
    """A first Ctrl-C pressed while a callback runs is acted on at the next step boundary, as anywhere else."""
    class PressDuring(Callback):
        def on_epoch_end(self, net, stage=None, epoch=None, **kwargs):
            if stage == "teacher" and epoch == 2:
                signal.raise_signal(signal.SIGINT)

    X_src, y_src, X_tgt, _ = data
    with pytest.warns(FitInterruptedWarning, match="end of its epoch 2"):
        clf = RCDKDClassifier(**SMALL, callbacks=[PressDuring()], random_state=0).fit(X_src, y_src, X_tgt)
    assert clf.interrupted_ == {"stage": "teacher", "epoch": 2, "n_epochs": 3}
    assert [r["epoch"] for r in clf.history_] == [1, 2]


# ------------------------------------------------------------- checkpoints
@pytest.mark.parametrize("stage_cls, call, extra, stage", [(DistillationStage, 4, {}, "student"),
                                                            (DANNStage, 3, {}, "teacher"),
                                                            (DANNStage, 6, {"n_teachers": 2}, "teacher_2"),
                                                            (DANNStage, 3, {"teacher_swa_start": 0.3}, "teacher")],
                         ids=["student", "teacher", "second_teacher", "teacher_weight_average"])
def test_interrupted_then_resumed_equals_uninterrupted(data, monkeypatch, tmp_path, stage_cls, call, extra, stage):
    X_src, y_src, X_tgt, _ = data
    kw = dict(SMALL, student_epochs=4, random_state=0, **extra)
    reference = RCDKDClassifier(**kw).fit(X_src, y_src, X_tgt)
    with monkeypatch.context() as m:
        _interrupt_at(m, stage_cls, call=call)
        with pytest.warns(FitInterruptedWarning, match="resume=True"):
            clf = RCDKDClassifier(**kw, checkpoint_dir=tmp_path, checkpoint_every=2).fit(X_src, y_src, X_tgt)
    meta = read_metadata(tmp_path / CHECKPOINT_FILE)
    assert meta["kind"] == "checkpoint" and meta["epoch"] == 2  # every 2 epochs: epoch 3 was lost
    assert meta["stage"] == stage
    clf.fit(X_src, y_src, X_tgt, resume=True)
    assert clf.interrupted_ is None
    np.testing.assert_array_equal(clf.predict_proba(X_tgt), reference.predict_proba(X_tgt))
    assert _rows(clf.history_) == _rows(reference.history_)


def test_checkpoint_holds_selector_memory_and_optimizer(data, tmp_path):
    X_src, y_src, X_tgt, _ = data
    RCDKDClassifier(**SMALL, checkpoint_dir=tmp_path, checkpoint_every=1, random_state=0).fit(X_src, y_src, X_tgt)
    meta, state = read_archive(tmp_path / CHECKPOINT_FILE, "checkpoint")  # torch.load(weights_only=True)
    assert (meta["stage"], meta["epoch"], meta["completed_stages"]) == ("student", 3, ["teacher"])
    strategy = state["stage"]["strategy"]
    assert int(strategy["memory"]["size"]) > 0 and strategy["optimizer"]["state"]
    assert set(state["networks"]) == {"teacher_", "discriminator_"}
    assert set(state["rng"]) == {"torch", "generator"}
    with pytest.raises(ModelFileError, match="checkpoint"):
        RCDKDClassifier.load(tmp_path / CHECKPOINT_FILE)


def test_resume_refuses_other_parameters_or_data(data, tmp_path):
    X_src, y_src, X_tgt, _ = data
    kw = dict(SMALL, teacher_epochs=1, student_epochs=1, checkpoint_dir=tmp_path, random_state=0)
    RCDKDClassifier(**kw).fit(X_src, y_src, X_tgt)
    with pytest.raises(ValueError, match="other parameters.*temperature"):
        RCDKDClassifier(**kw, temperature=3.0).fit(X_src, y_src, X_tgt, resume=True)
    with pytest.raises(ValueError, match="other training data"):
        RCDKDClassifier(**kw).fit(X_src, y_src, X_tgt + 1, resume=True)
    with pytest.raises(ValueError, match="needs checkpoint_dir"):
        RCDKDClassifier(**dict(kw, checkpoint_dir=None)).fit(X_src, y_src, X_tgt, resume=True)
    fresh = RCDKDClassifier(**dict(kw, checkpoint_dir=tmp_path / "empty")).fit(X_src, y_src, X_tgt, resume=True)
    assert len(fresh.history_) == 2  # nothing to resume from: trained from the start


def test_nan_loss_error_names_stage_and_epoch(data):
    X_src, y_src, X_tgt, _ = data
    with pytest.raises(FloatingPointError, match=r"loss.* became nan in stage 'teacher' at epoch \d/3"):
        RCDKDClassifier(**SMALL, teacher_lr=1e30, standardize=False, random_state=0).fit(X_src * 1e30, y_src, X_tgt)


# ------------------------------------------------------------- bad numbers
def _finite_history(clf):
    for row in clf.history_:
        for k, v in row.items():
            if isinstance(v, float):
                assert np.isfinite(v), (row["stage"], row["epoch"], k, v)


def _cases():
    rng = np.random.default_rng(0)
    X_src, y_src, X_tgt, y_tgt = make_domain_shift(n_source=40, n_target=36, n_classes=3, length=32, random_state=0)
    imb = np.r_[np.zeros(57, int), np.ones(3, int)]
    X_imb = rng.normal(size=(60, 3, 32)).astype(np.float32)
    X_imb[imb == 1, 0] += 2
    one = y_src.copy()
    one[one == 2] = 1
    one[0] = 2  # class 2 has a single sample
    const = np.full((20, 3, 32), 5.0, np.float32)
    return {
        "constant_series": (const, np.arange(20) % 2, const[:16].copy(), {}),
        "values_1e6": (X_src * 1e6 + 1e6, y_src, X_tgt * 1e6 + 1e6, {}),
        "values_1e6_unstandardized": (X_src * 1e6 + 1e6, y_src, X_tgt * 1e6 + 1e6, {"standardize": False}),
        "n_below_batch_size": (X_src[:5], np.array([0, 1, 2, 0, 1]), X_tgt[:3], {}),
        "one_sample_of_a_class": (X_src, one, X_tgt, {}),
        "target_missing_a_class": (X_src, y_src, X_tgt[y_tgt != 2], {}),
        "heavily_imbalanced": (X_imb, imb, X_imb[::2] + 0.5, {}),
    }


@pytest.mark.parametrize("case", list(_cases()))
def test_finite_losses_on_hard_data(case):
    X_src, y_src, X_tgt, extra = _cases()[case]
    clf = RCDKDClassifier(**dict(SMALL, **extra), random_state=0).fit(X_src, y_src, X_tgt)
    _finite_history(clf)
    proba = clf.predict_proba(X_tgt)
    assert np.isfinite(proba).all() and np.allclose(proba.sum(1), 1, atol=1e-5)


# ----------------------------------------------------------------- memory
def _rss_bytes():
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * 4096
    except OSError:  # not Linux
        return 0


def _live_tensor_bytes():
    total = 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # some lazy module attributes warn when inspected
        for obj in gc.get_objects():
            try:
                if isinstance(obj, torch.Tensor):
                    total += obj.untyped_storage().nbytes()
            except Exception:  # noqa: BLE001 - some objects refuse isinstance checks
                pass
    return total


@pytest.mark.slow
def test_memory_is_bounded_across_epochs(data, monkeypatch):
    X_src, y_src, X_tgt, _ = data
    buffers = set()
    sizes = []
    original_push = ReplayMemory.push

    def push(self, *args):
        original_push(self, *args)
        buffers.add(self.state.data_ptr())
        sizes.append(len(self))

    monkeypatch.setattr(ReplayMemory, "push", push)

    class Probe(Callback):
        def __init__(self):
            self.py, self.peak, self.rss, self.tensors = {}, {}, {}, {}
            self.own = 0  # what the probe itself allocated (e.g. caches filled by inspecting tensors)

        def on_epoch_end(self, net, stage=None, epoch=None, **kwargs):
            if stage != "student":
                return
            current, peak = tracemalloc.get_traced_memory()
            self.py[epoch], self.peak[epoch], self.rss[epoch] = current - self.own, peak, _rss_bytes()
            if epoch in (10, 30):
                before = tracemalloc.get_traced_memory()[0]
                self.tensors[epoch] = _live_tensor_bytes()
                self.own += tracemalloc.get_traced_memory()[0] - before
            tracemalloc.reset_peak()

    probe = Probe()
    kw = dict(SMALL, teacher_epochs=1, student_epochs=30, memory_capacity=64, selector_hidden=8)
    tracemalloc.start()
    try:
        RCDKDClassifier(**kw, callbacks=[probe], random_state=0).fit(X_src, y_src, X_tgt)
    finally:
        tracemalloc.stop()
    assert len(buffers) == 1 and max(sizes) == 64  # one preallocated buffer, full and wrapping
    per_epoch = (probe.py[30] - probe.py[10]) / 20
    assert per_epoch < 8192, per_epoch  # Python objects: essentially the history row (~1-2 KiB) per epoch
    assert max(probe.peak[e] for e in range(21, 31)) <= 1.25 * max(probe.peak[e] for e in range(12, 20)) + 65536
    assert probe.tensors[30] <= probe.tensors[10] + 65536  # no tensor storage accumulates (snapshots are replaced)
    assert probe.rss[30] - probe.rss[10] < 32 * 2**20


# ----------------------------------------------------------------- fuzzing
_DTYPES = [np.float32, np.float64, np.float16, np.int64, np.int8, np.uint8, np.bool_]
_FUZZ = dict(SMALL, teacher_epochs=1, student_epochs=1, teacher_channels=(4, 4, 4), student_channels=(4, 4, 4),
             selector_hidden=8, mc_passes=2, n_episodes=1)


@st.composite
def _problem(draw):
    n_src = draw(st.integers(2, 9))
    n_tgt = draw(st.integers(1, 9))
    channels = draw(st.integers(1, 3))
    length = draw(st.integers(1, 20))
    dtype = draw(st.sampled_from(_DTYPES))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    X = (rng.normal(size=(n_src, channels, length)) * 3).astype(dtype)
    Xt = (rng.normal(size=(n_tgt, channels, length)) * 3).astype(dtype)
    if draw(st.booleans()) and channels == 1:
        X, Xt = X[:, 0], Xt[:, 0]  # 2D univariate form
    labels = draw(st.sampled_from(["int", "str", "bool", "float"]))
    n_classes = 2 if labels == "bool" else draw(st.integers(2, 3))
    y = rng.permutation(np.arange(n_src) % n_classes)
    y = {"int": 5 * y - 3, "str": np.array(["a", "b", "c"])[y], "bool": y.astype(bool), "float": 2.0 * y}[labels]
    bad = draw(st.sampled_from([None, None, None, None, "nan", "inf", "empty_target", "short_y", "one_class"]))
    if bad == "nan" and np.issubdtype(X.dtype, np.floating):
        X = X.copy()
        X.flat[0] = np.nan
    elif bad == "inf" and np.issubdtype(Xt.dtype, np.floating):
        Xt = Xt.copy()
        Xt.flat[-1] = np.inf
    elif bad == "empty_target":
        Xt = Xt[:0]
    elif bad == "short_y":
        y = y[:-1]
    elif bad == "one_class":
        y = np.full_like(y, y[0])
    else:
        bad = None  # NaN and inf cannot be written into integer or boolean arrays: the input stays valid
    return X, y, Xt, bad


@settings(max_examples=25, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(_problem())
def test_fuzz_fit_and_predict(problem):
    X, y, Xt, bad = problem
    before = [a.copy() for a in (X, y, Xt)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if bad is not None:
            with pytest.raises((ValueError, TypeError)):  # the documented errors of fit
                RCDKDClassifier(**_FUZZ, random_state=0).fit(X, y, Xt)
        else:  # a well-formed problem must fit
            clf = RCDKDClassifier(**_FUZZ, random_state=0).fit(X, y, Xt)
            proba = clf.predict_proba(Xt)
            assert proba.shape == (len(Xt), len(clf.classes_)) and np.isfinite(proba).all()
            assert set(clf.predict(Xt)) <= set(np.asarray(y).tolist())
    for a, b in zip((X, y, Xt), before):
        np.testing.assert_array_equal(a, b)  # the caller's data are never written to


@pytest.fixture(scope="module")
def fitted_tiny(data):
    X_src, y_src, X_tgt, _ = data
    return RCDKDClassifier(**_FUZZ, random_state=0).fit(X_src, y_src, X_tgt)


@settings(max_examples=25, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(
    n=st.integers(0, 5),
    channels=st.sampled_from([1, 2, 3, 4]),
    length=st.sampled_from([1, 8, 32, 33]),
    dtype=st.sampled_from(_DTYPES + [np.complex64, object]),
    method=st.sampled_from(["predict", "predict_proba", "predict_features"]),
)
def test_fuzz_predict_inputs(fitted_tiny, n, channels, length, dtype, method):
    X = np.ones((n, channels, length)).astype(dtype)
    before = X.copy()
    valid = n > 0 and channels == 3 and dtype is not np.complex64  # numbers in an object array are numbers
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # another length: LengthMismatchWarning
        if valid:
            assert getattr(fitted_tiny, method)(X).shape[0] == n
        else:
            with pytest.raises((ValueError, TypeError)):
                getattr(fitted_tiny, method)(X)
    np.testing.assert_array_equal(X, before)
