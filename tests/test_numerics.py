"""Numbers at the edges: input scales from 1e-20 to 1e20, diverging stages named where they diverge, custom teachers
that return the wrong shapes."""

import warnings

import numpy as np
import pytest
import torch
from skorch.callbacks import Callback

from conftest import SMALL, TINY
from skrcd import RCDKDClassifier
from skrcd.data import DataScaleWarning, channel_stats
from skrcd.datasets import make_domain_shift
from skrcd.training import DANNStage, DistillationStage


@pytest.fixture(scope="module")
def data():
    return make_domain_shift(n_source=40, n_target=36, n_classes=3, length=32, random_state=0)


@pytest.mark.parametrize("scale", [1e-30, 1e-20, 1e20, 3e37])
def test_channel_stats_hold_at_any_float32_scale(scale):
    rng = np.random.default_rng(0)
    X = rng.normal(2.0, 0.5, size=(6, 3, 50))
    X[:, 2] = 7.0  # a constant channel
    panel = (X * scale).astype(np.float32)
    mean, std = channel_stats(panel)
    assert np.isfinite(mean).all() and np.isfinite(std).all() and (std > 0).all()
    np.testing.assert_allclose(mean / scale, X.mean(axis=(0, 2)), rtol=1e-5)
    np.testing.assert_allclose(std[:2] / scale, X[:, :2].std(axis=(0, 2)), rtol=1e-4)
    standardised = (panel - mean[None, :, None]) / std[None, :, None]
    assert np.isfinite(standardised).all()
    assert np.abs(standardised[:, 2]).max() < 1  # the constant channel stays (about) zero


def test_channel_stats_of_an_all_zero_channel_and_of_float64_input():
    X = np.zeros((4, 2, 8))
    X[:, 1] = np.arange(8)
    before = X.copy()
    mean, std = channel_stats(X)
    assert std[0] == 1.0 and mean[0] == 0.0  # an all-zero channel is left as it is
    np.testing.assert_array_equal(X, before)  # the caller's array is not written (float64 chunks are copies)


@pytest.mark.parametrize("scale", [1e-20, 1e20])
def test_standardised_fit_is_scale_invariant(data, scale):
    """Inputs around 1e20 or 1e-20 give the model a unit-scale fit gives (it used to predict one class)."""
    X_src, y_src, X_tgt, _ = data
    reference = RCDKDClassifier(**SMALL, random_state=0).fit(X_src, y_src, X_tgt)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow warning from numpy either
        scaled = RCDKDClassifier(**SMALL, random_state=0).fit(X_src * scale, y_src, X_tgt * scale)
        proba = scaled.predict_proba(X_tgt * scale)
    np.testing.assert_allclose(proba, reference.predict_proba(X_tgt), atol=1e-4)
    # not one class for every window (the student of 3 + 3 epochs may be; the teacher, unscaled, is not)
    assert len(np.unique(scaled.predict_proba(X_tgt * scale, network="teacher").argmax(1))) > 1


@pytest.mark.parametrize("scale, match", [(1e20, "values up to .*e\\+20"), (1e-20, "values no larger than")],
                         ids=["1e20", "1e-20"])
def test_unstandardised_extreme_scales_warn(data, scale, match):
    X_src, y_src, X_tgt, _ = data
    clf = RCDKDClassifier(**TINY, standardize=False)
    with pytest.warns(DataScaleWarning, match=f"the source data has {match}.*standardize=False"):
        try:
            clf.fit(X_src * scale, y_src, X_tgt * scale)
        except FloatingPointError as exc:  # at 1e20 the teacher's batch-norm statistics overflow: named, not garbage
            assert "stage 'teacher'" in str(exc)


def test_unstandardised_ordinary_scales_are_silent(data):
    X_src, y_src, X_tgt, _ = data
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataScaleWarning)
        RCDKDClassifier(**TINY, standardize=False).fit(X_src * 1e6, y_src, X_tgt * 1e6)


def test_a_diverging_teacher_is_named_where_it_diverges(data):
    """One teacher step with a huge learning rate: its loss is still finite, its weights are not usable. The error
    names the teacher stage (it used to blame loss_dc in the student stage)."""
    X_src, y_src, X_tgt, _ = data
    calls = []
    original = DistillationStage.train_step
    DistillationStage.train_step = lambda self, *a, **k: calls.append(1) or original(self, *a, **k)
    try:
        clf = RCDKDClassifier(**dict(TINY, teacher_lr=1e20, batch_size=64))  # one step per epoch
        with pytest.raises(FloatingPointError, match="teacher_ has a non-finite .* after epoch 1 of stage 'teacher'"):
            clf.fit(X_src, y_src, X_tgt)
    finally:
        DistillationStage.train_step = original
    assert calls == []  # the student stage never started
    assert not hasattr(clf, "teacher_")  # and the failed fit left nothing behind


def test_non_finite_weights_are_caught_at_the_end_of_their_stage(data):
    class Poison(Callback):
        def on_train_begin(self, net, **kwargs):
            pass

        def on_epoch_end(self, net, stage=None, epoch=None, n_epochs=None, **kwargs):
            if stage == "student" and epoch == n_epochs:
                with torch.no_grad():
                    net.adapter_.weight[0, 0] = float("nan")

        def on_train_end(self, net, **kwargs):
            pass

    X_src, y_src, X_tgt, _ = data
    with pytest.raises(FloatingPointError, match="adapter_ has a non-finite weight weight after epoch 1 of stage "
                                                 "'student': the student stage diverged"):
        RCDKDClassifier(**TINY, callbacks=[Poison()]).fit(X_src, y_src, X_tgt)


def test_real_parameters_beyond_float32_are_refused(data):
    X_src, y_src, X_tgt, _ = data
    for name in ("teacher_lr", "weight_decay", "kd_weight", "alpha1"):
        with pytest.raises(ValueError, match=f"^{name} must be a finite number"):
            RCDKDClassifier(**TINY).set_params(**{name: 3.5e38}).fit(X_src, y_src, X_tgt)


class _Teacher(torch.nn.Module):
    """A custom teacher returning ``kind`` of output."""

    def __init__(self, kind, n_classes=3):
        super().__init__()
        self.kind, self.conv, self.head = kind, torch.nn.Conv1d(3, 4, 3), torch.nn.Linear(4, n_classes)

    def forward(self, x):
        features = self.conv(x).mean(-1)
        logits = self.head(features)
        return {
            "logits_only": logits,
            "triple": (logits, features, features),
            "3d_logits": (logits[:, None], features),
            "1d_features": (logits, features.sum(1)),
            "not_tensors": (logits.tolist(), features),
            "ok": (logits, features),
        }[self.kind]


@pytest.mark.parametrize("kind, n_classes, error, match", [
    ("logits_only", 3, TypeError, "must return \\(logits, features\\) from forward, a pair of tensors; _Teacher "
                                  "returned a Tensor"),
    ("triple", 3, TypeError, "returned a tuple of Tensor, Tensor, Tensor"),
    ("not_tensors", 3, TypeError, "returned a tuple of list, Tensor"),
    ("ok", 5, ValueError, "returned logits of shape \\(2, 5\\) for a batch of 2 windows: expected \\(2, 3\\), one "
                          "score per class \\(3 classes in y\\)"),
    ("3d_logits", 3, ValueError, "logits of shape \\(2, 1, 3\\)"),
    ("1d_features", 3, ValueError, "returned features of shape \\(2,\\) for a batch of 2 windows: expected "
                                   "\\(2, n_features\\)"),
])
def test_a_custom_teacher_of_the_wrong_shape_gets_one_clear_message(data, kind, n_classes, error, match):
    X_src, y_src, X_tgt, _ = data
    teacher = _Teacher(kind, n_classes)
    steps = []
    original = DANNStage.train_step
    DANNStage.train_step = lambda self, *a, **k: steps.append(1) or original(self, *a, **k)
    try:
        with pytest.raises(error, match=match):
            RCDKDClassifier(**dict(TINY, teacher=teacher)).fit(X_src, y_src, X_tgt)
    finally:
        DANNStage.train_step = original
    assert steps == []  # one dry run before the teacher's first step, not a shape error inside a step


def test_a_custom_teacher_of_the_right_shape_trains(data):
    X_src, y_src, X_tgt, _ = data
    clf = RCDKDClassifier(**dict(TINY, teacher=_Teacher("ok"))).fit(X_src, y_src, X_tgt)
    assert clf.predict_proba(X_tgt).shape == (36, 3)
