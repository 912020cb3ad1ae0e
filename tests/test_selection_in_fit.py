"""What the selection does inside a fit: its per-window record, the collapse warning, skewed and missing classes,
and the teacher objectives as the estimator runs them."""

import warnings

import numpy as np
import pytest
import torch
from sklearn.metrics import f1_score

from conftest import FAST
from skrcd import PAPER_PARAMS, RCDKDClassifier, SelectionCollapseWarning
from skrcd.datasets import make_domain_shift
from skrcd.selection import ReinforcedSelection


@pytest.fixture(scope="module")
def small():
    return make_domain_shift(n_source=48, n_target=40, n_classes=3, length=32, random_state=0)


def test_selection_record_describes_every_target_window(small):
    X_src, y_src, X_tgt, _ = small
    clf = RCDKDClassifier(**dict(FAST, student_epochs=4), selector_state="informed", selection_weighting="soft",
                          batch_size=8, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SelectionCollapseWarning)
        clf.fit(X_src, y_src, X_tgt)
    rec = clf.selection_record_
    assert rec["selected"].shape == rec["weight"].shape == (4, len(X_tgt))
    assert np.nanmin(rec["selected"]) >= 0 and np.nanmax(rec["selected"]) <= 1
    # every window is visited once per epoch here (40 windows, batches of 8): the record's mean is the history's
    history = [row["selected"] for row in clf.history_ if row["stage"] == "student"]
    np.testing.assert_allclose(np.nanmean(rec["selected"], axis=1), history, rtol=1e-5)
    assert np.all((rec["weight"] > 0) & (rec["weight"] < 1))  # soft weights
    assert np.all(np.isfinite(rec["advantage"]))
    teacher = clf.predict_proba(X_tgt, network="teacher")
    assert rec["teacher_confidence"].shape == (len(X_tgt),)
    assert np.all(rec["teacher_confidence"] >= 1 / 3 - 1e-6) and np.all(rec["teacher_confidence"] <= 1)
    # MC-dropout mean, not the eval-mode prediction, but they mostly agree
    assert np.mean(rec["teacher_class"] == teacher.argmax(1)) > 0.8
    hard = RCDKDClassifier(**FAST, selection="all", random_state=0).fit(X_src, y_src, X_tgt).selection_record_
    assert np.all(hard["selected"][np.isfinite(hard["selected"])] == 1) and np.all(np.isnan(hard["advantage"]))


class _Never(ReinforcedSelection):
    """A reinforced selector that learns but never selects: a collapse by construction."""

    def select(self, state, episode):
        return torch.zeros_like(super().select(state, episode))


class _Half(ReinforcedSelection):
    def select(self, state, episode):
        action = super().select(state, episode)
        action[::2], action[1::2] = 1, 0
        return action


def test_collapse_warning_fires_on_a_constructed_collapse_only(small):
    X_src, y_src, X_tgt, _ = small
    with pytest.warns(SelectionCollapseWarning, match="selected 0.0% .* almost nothing was distilled"):
        RCDKDClassifier(**FAST, selection=_Never(hidden=8), random_state=0).fit(X_src, y_src, X_tgt)
    with warnings.catch_warnings():
        warnings.simplefilter("error", SelectionCollapseWarning)
        RCDKDClassifier(**FAST, selection=_Half(hidden=8), random_state=0).fit(X_src, y_src, X_tgt)
        RCDKDClassifier(**FAST, selection="all", random_state=0).fit(X_src, y_src, X_tgt)  # not a learned choice


@pytest.mark.parametrize("method", ["vada", "dirtt", "cdan"])
def test_teacher_objectives_in_fit(small, method):
    X_src, y_src, X_tgt, y_tgt = small
    clf = RCDKDClassifier(**dict(FAST, teacher_epochs=2, student_epochs=1, teacher_method=method),
                          teacher_refine_epochs=2, selection="all", random_state=0).fit(X_src, y_src, X_tgt)
    stages = [row["stage"] for row in clf.history_]
    expected = ["teacher"] * 2 + (["teacher_refine"] * 2 if method == "dirtt" else []) + ["student"]
    assert stages == expected
    keys = set(clf.history_[0])
    assert ({"loss_ent", "loss_vat"} <= keys) == (method in ("vada", "dirtt"))
    # the kept discriminator works on teacher features, whatever the teacher's objective
    feats = torch.from_numpy(clf.predict_features(X_tgt[:4], network="teacher"))
    assert clf.discriminator_(feats).shape == (4, 2)


@pytest.mark.parametrize("seed", [0, 1])
def test_skewed_and_missing_classes_selector_keeps_every_class_and_matches_plain_kd(seed):
    # activity data: the source is skewed and one class never occurs in the target
    X_src, y_src, X_tgt, y_tgt = make_domain_shift(
        n_source=160, n_target=120, n_classes=4, length=32, source_class_weights=[4, 2, 1, 1],
        target_class_weights=[1, 1, 3, 0], random_state=seed)
    assert not np.any(y_tgt == 3)
    teacher = RCDKDClassifier(**dict(FAST, teacher_epochs=8, student_epochs=0), selection="all",
                              random_state=seed).fit(X_src, y_src, X_tgt)
    shared = dict(FAST, student_epochs=12, teacher=teacher.teacher_, discriminator=teacher.discriminator_,
                  teacher_epochs=0, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SelectionCollapseWarning)
        rl = RCDKDClassifier(**shared).fit(X_src, y_src, X_tgt)
    kd = RCDKDClassifier(**shared, selection="all").fit(X_src, y_src, X_tgt)
    rec = rl.selection_record_
    last = rec["selected"][-3:]  # the last epochs
    for c in np.unique(rec["teacher_class"]):
        share = np.nanmean(last[:, rec["teacher_class"] == c])
        assert share > 0.05, f"the selector dropped the windows the teacher calls class {c}"
    f1 = {name: f1_score(y_tgt, m.predict(X_tgt), average="macro") for name, m in (("rl", rl), ("kd", kd))}
    assert f1["rl"] >= f1["kd"] - 0.05, f1


def test_the_defaults_vada_teacher_no_domain_confusion_and_paper_params_restore_the_paper(small):
    X_src, y_src, X_tgt, _ = small
    settings = {k: v for k, v in FAST.items() if k not in ("teacher_method", "dc_weight")}
    student = RCDKDClassifier(**dict(settings, teacher_epochs=1, student_epochs=2), random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SelectionCollapseWarning)
        student.fit(X_src, y_src, X_tgt)
    before = [p.detach().clone() for p in student.discriminator_.parameters()]
    assert "loss_dc" not in student.history_[-1]
    # the discriminator stays as the teacher stage left it: the student stage does not train it
    clf = RCDKDClassifier(**dict(settings, teacher_epochs=1, student_epochs=0), random_state=0).fit(X_src, y_src, X_tgt)
    for a, b in zip(before, clf.discriminator_.parameters()):
        assert torch.equal(a, b)
    default = RCDKDClassifier(**dict(settings, teacher_epochs=1, student_epochs=0), random_state=0)
    assert {"loss_ent", "loss_vat"} <= set(default.fit(X_src, y_src, X_tgt).history_[0])
    paper = RCDKDClassifier(**dict(settings, teacher_epochs=1, student_epochs=0, **PAPER_PARAMS), random_state=0)
    assert not {"loss_ent", "loss_vat"} & set(paper.fit(X_src, y_src, X_tgt).history_[0])
