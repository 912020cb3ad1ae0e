"""What the selection does inside a fit: its per-window record, the collapse warning, skewed and missing classes,
and the teacher objectives and teacher ensembles as the estimator runs them."""

import copy
import warnings

import numpy as np
import pytest
import torch
from sklearn.metrics import f1_score

from conftest import FAST
from skrcd import PAPER_PARAMS, RCDKDClassifier, SelectionCollapseWarning
from skrcd._param_validation import InvalidParameterError
from skrcd.datasets import make_domain_shift
from skrcd.nn import CNN1D, TeacherEnsemble, count_parameters
from skrcd.selection import ReinforcedSelection


@pytest.fixture(scope="module")
def small():
    return make_domain_shift(n_source=48, n_target=40, n_classes=3, length=32, random_state=0)


def test_selection_record_describes_every_target_window(small):
    X_src, y_src, X_tgt, _ = small
    clf = RCDKDClassifier(**dict(FAST, student_epochs=4), selector_state="informed", selection_weighting="soft",
                          selection_balance="none", batch_size=8, random_state=0)
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
    hard = RCDKDClassifier(**dict(FAST, selection="all"), random_state=0).fit(X_src, y_src, X_tgt).selection_record_
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


class _Always(ReinforcedSelection):
    def select(self, state, episode):
        return torch.ones_like(super().select(state, episode))


class _SkipClassZero(ReinforcedSelection):
    """Skips every window whose teacher-predicted class (MC mean) is 0: that class is starved by construction."""

    def make_state(self, features, student_probs, teacher_probs):
        self._skip = teacher_probs.argmax(1) == 0
        return super().make_state(features, student_probs, teacher_probs)

    def select(self, state, episode):
        action = torch.ones_like(super().select(state, episode))
        action[self._skip] = 0
        return action


def test_collapse_warning_fires_when_a_class_is_starved_and_not_when_everything_is_selected():
    X_src, y_src, X_tgt, _ = make_domain_shift(n_source=60, n_target=60, length=32, random_state=0)
    with pytest.warns(SelectionCollapseWarning, match="class\\(es\\) 0 .* the student was not taught them"):
        clf = RCDKDClassifier(**dict(FAST, selection=_SkipClassZero(hidden=8)), selection_balance="none",
                              random_state=0).fit(X_src, y_src, X_tgt)
    assert (clf.selection_record_["teacher_class"] == 0).sum() >= 3
    with warnings.catch_warnings():
        warnings.simplefilter("error", SelectionCollapseWarning)
        # every window selected is plain distillation: recorded, not warned about
        clf = RCDKDClassifier(**dict(FAST, selection=_Always(hidden=8)), random_state=0).fit(X_src, y_src, X_tgt)
        assert clf.history_[-1]["selected"] == 1.0
        # the same starving selection, with every class kept in the distillation
        clf = RCDKDClassifier(**dict(FAST, selection=_SkipClassZero(hidden=8)), selection_balance="class",
                              random_state=0).fit(X_src, y_src, X_tgt)
    rec = clf.selection_record_
    assert np.nanmean(rec["weight"][-1][rec["teacher_class"] == 0]) > 0.5  # class 0's windows taught after all


def test_collapse_warning_fires_on_a_constructed_collapse_only(small):
    X_src, y_src, X_tgt, _ = small
    with pytest.warns(SelectionCollapseWarning, match="weight was 0.0%: almost nothing was distilled"):
        RCDKDClassifier(**dict(FAST, selection=_Never(hidden=8)), selection_balance="none",
                        random_state=0).fit(X_src, y_src, X_tgt)
    with warnings.catch_warnings():
        warnings.simplefilter("error", SelectionCollapseWarning)
        RCDKDClassifier(**dict(FAST, selection=_Half(hidden=8)), random_state=0).fit(X_src, y_src, X_tgt)
        RCDKDClassifier(**dict(FAST, selection="all"), random_state=0).fit(X_src, y_src, X_tgt)  # not a learned choice


@pytest.mark.parametrize("method", ["vada", "dirtt", "cdan"])
def test_teacher_objectives_in_fit(small, method):
    X_src, y_src, X_tgt, y_tgt = small
    clf = RCDKDClassifier(**dict(FAST, teacher_epochs=2, student_epochs=1, teacher_method=method, selection="all"),
                          teacher_refine_epochs=2, random_state=0).fit(X_src, y_src, X_tgt)
    stages = [row["stage"] for row in clf.history_]
    expected = ["teacher"] * 2 + (["teacher_refine"] * 2 if method == "dirtt" else []) + ["student"]
    assert stages == expected
    keys = set(clf.history_[0])
    assert ({"loss_ent", "loss_vat"} <= keys) == (method in ("vada", "dirtt"))
    # the kept discriminator works on teacher features, whatever the teacher's objective
    feats = torch.from_numpy(clf.predict_features(X_tgt[:4], network="teacher"))
    assert clf.discriminator_(feats).shape == (4, 2)


def test_several_teachers_train_one_after_the_other_and_predict_their_mean(small, tmp_path):
    X_src, y_src, X_tgt, _ = small
    clf = RCDKDClassifier(**dict(FAST, teacher_epochs=2, student_epochs=1, n_teachers=3, selection="all"),
                          random_state=0).fit(X_src, y_src, X_tgt)
    assert [row["stage"] for row in clf.history_] == ["teacher"] * 2 + ["teacher_2"] * 2 + ["teacher_3"] * 2 + [
        "student"]
    members = clf.teacher_.members
    assert isinstance(clf.teacher_, TeacherEnsemble) and len(members) == 3
    first = [p.detach() for p in members[0].parameters()]
    for other in members[1:]:  # independently initialised and trained
        assert not all(torch.equal(a, b) for a, b in zip(first, other.parameters()))
    assert clf.n_parameters_["teacher"] == 3 * count_parameters(members[0])
    assert clf.discriminator_.in_features == members[0].n_features
    probs = []
    for member in members:
        single = copy.deepcopy(clf)
        single.teacher_ = member
        probs.append(single.predict_proba(X_tgt, network="teacher"))
    np.testing.assert_allclose(clf.predict_proba(X_tgt, network="teacher"), np.mean(probs, axis=0), atol=1e-5)
    clf.save(tmp_path / "m.skrcd")
    loaded = RCDKDClassifier.load(tmp_path / "m.skrcd")
    assert isinstance(loaded.teacher_, TeacherEnsemble) and len(loaded.teacher_.members) == 3
    np.testing.assert_array_equal(loaded.predict_proba(X_tgt, network="teacher"),
                                  clf.predict_proba(X_tgt, network="teacher"))


def test_n_teachers_auto_is_two_built_teachers_or_the_module_given(small):
    X_src, y_src, X_tgt, _ = small
    settings = {k: v for k, v in FAST.items() if k != "n_teachers"}
    built = RCDKDClassifier(**dict(settings, teacher_epochs=1, student_epochs=0), random_state=0).fit(
        X_src, y_src, X_tgt)
    assert built.n_teachers == "auto" and len(built.teacher_.members) == 2
    module = CNN1D(X_src.shape[1], 3, (8, 8, 8))
    given = RCDKDClassifier(**dict(settings, teacher_epochs=1, student_epochs=0), teacher=module,
                            random_state=0).fit(X_src, y_src, X_tgt)
    assert type(given.teacher_) is CNN1D and {row["stage"] for row in given.history_} == {"teacher"}
    # an ensemble passed as the teacher module: every member is trained
    ensemble = TeacherEnsemble([CNN1D(X_src.shape[1], 3, (8, 8, 8)) for _ in range(2)])
    before = copy.deepcopy(ensemble.state_dict())
    fitted = RCDKDClassifier(**dict(settings, teacher_epochs=1, student_epochs=0), teacher=ensemble,
                             random_state=0).fit(X_src, y_src, X_tgt)
    assert [row["stage"] for row in fitted.history_] == ["teacher", "teacher_2"]
    for name, value in ensemble.state_dict().items():  # the argument is left as it was: a copy was trained
        assert torch.equal(value, before[name]), name
    for member, trained in zip(ensemble.members, fitted.teacher_.members):
        assert not torch.equal(member.head.weight, trained.head.weight)
    with pytest.raises(InvalidParameterError, match="n_teachers=2 needs a teacher built by skrcd"):
        RCDKDClassifier(**dict(settings, n_teachers=2), teacher=module).fit(X_src, y_src, X_tgt)


@pytest.mark.parametrize("seed", [0, pytest.param(1, marks=pytest.mark.slow)])
def test_skewed_and_missing_classes_selector_keeps_every_class_and_the_default_keeps_the_teacher(seed):
    # activity data: the source is skewed and one class never occurs in the target
    X_src, y_src, X_tgt, y_tgt = make_domain_shift(
        n_source=160, n_target=120, n_classes=4, length=32, source_class_weights=[4, 2, 1, 1],
        target_class_weights=[1, 1, 3, 0], random_state=seed)
    assert not np.any(y_tgt == 3)
    teacher = RCDKDClassifier(**dict(FAST, teacher_epochs=8, student_epochs=0, selection="all"),
                              random_state=seed).fit(X_src, y_src, X_tgt)
    shared = dict(FAST, student_epochs=12, teacher=teacher.teacher_, discriminator=teacher.discriminator_,
                  teacher_epochs=0, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SelectionCollapseWarning)
        rl = RCDKDClassifier(**shared).fit(X_src, y_src, X_tgt)
    kd = RCDKDClassifier(**dict(shared, selection="all")).fit(X_src, y_src, X_tgt)
    rec = rl.selection_record_
    last = rec["selected"][-3:]  # the last epochs
    for c in np.unique(rec["teacher_class"]):
        share = np.nanmean(last[:, rec["teacher_class"] == c])
        assert share > 0.05, f"the selector dropped the windows the teacher calls class {c}"
    # the default student (every window distilled, its own DANN) keeps what its teacher knows
    f1 = {name: f1_score(y_tgt, m.predict(X_tgt, network=net), average="macro")
          for name, m, net in (("teacher", teacher, "teacher"), ("default", kd, "student"))}
    assert f1["default"] >= f1["teacher"] - 0.05, f1


def test_the_defaults_two_vada_teachers_a_dann_student_and_paper_params_restore_the_paper(small):
    X_src, y_src, X_tgt, _ = small
    drop = ("teacher_method", "dc_weight", "n_teachers", "dc_features", "source_ce_weight", "selection")
    settings = {k: v for k, v in FAST.items() if k not in drop}
    student = RCDKDClassifier(**dict(settings, teacher_epochs=1, student_epochs=2), random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SelectionCollapseWarning)
        student.fit(X_src, y_src, X_tgt)
    # the student learns the source labels and aligns its own domains against the discriminator, which it trains
    assert {"loss_ce", "loss_dc"} <= set(student.history_[-1])
    # and distils every target window: no selector is trained
    assert student.selector_ is None and "dqn_loss" not in student.history_[-1]
    assert np.all(student.selection_record_["selected"][np.isfinite(student.selection_record_["selected"])] == 1)
    clf = RCDKDClassifier(**dict(settings, teacher_epochs=1, student_epochs=0), random_state=0).fit(X_src, y_src, X_tgt)
    assert any(not torch.equal(a, b) for a, b in zip(student.discriminator_.parameters(),
                                                      clf.discriminator_.parameters()))
    default = RCDKDClassifier(**dict(settings, teacher_epochs=1, student_epochs=0), random_state=0)
    assert {"loss_ent", "loss_vat"} <= set(default.fit(X_src, y_src, X_tgt).history_[0])
    assert isinstance(default.teacher_, TeacherEnsemble) and len(default.teacher_.members) == 2
    paper = RCDKDClassifier(**dict(settings, teacher_epochs=1, student_epochs=1, **PAPER_PARAMS), random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SelectionCollapseWarning)
        paper.fit(X_src, y_src, X_tgt)
    assert not {"loss_ent", "loss_vat"} & set(paper.history_[0])
    assert "loss_ce" not in paper.history_[-1] and "loss_dc" in paper.history_[-1]
    assert type(paper.teacher_) is CNN1D
    assert isinstance(paper.selector_, torch.nn.Module) and "dqn_loss" in paper.history_[-1]
