import pickle

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from conftest import FAST
from skrcd import RCDKDClassifier
from skrcd.baselines import SourceOnlyClassifier
from skrcd.datasets import make_domain_shift
from skrcd.domains import NoTargetWarning


@pytest.fixture(scope="module")
def shifted():
    # rotation + gain + offset: a source-only network fails on the target
    return make_domain_shift(n_source=120, n_target=120, rotation=1.2, scale=3.0, offset=3.0, random_state=1)


@pytest.fixture(scope="module")
def small():
    return make_domain_shift(n_source=40, n_target=36, n_classes=3, length=32, random_state=0)


def test_distilled_student_beats_source_only_on_target(shifted):
    X_src, y_src, X_tgt, y_tgt = shifted
    kw = dict(FAST, teacher_epochs=15, student_epochs=15, selector_hidden=64, random_state=0)
    rcd = RCDKDClassifier(**kw).fit(X_src, y_src, X_tgt)
    src_only = SourceOnlyClassifier(**kw).fit(X_src, y_src, X_tgt)
    acc_rcd = np.mean(rcd.predict(X_tgt) == y_tgt)
    acc_src = np.mean(src_only.predict(X_tgt) == y_tgt)
    assert acc_rcd >= 0.9
    assert acc_rcd - acc_src >= 0.25, (acc_rcd, acc_src)


def test_fitted_state_and_history(small):
    X_src, y_src, X_tgt, _ = small
    clf = RCDKDClassifier(**FAST, random_state=0).fit(X_src, y_src, X_tgt)
    for attr in ("teacher_", "student_", "adapter_", "discriminator_", "selector_", "history_", "classes_"):
        assert hasattr(clf, attr)
    assert clf.n_features_in_ == 3 and clf.n_timepoints_ == 32
    assert clf.target_mode_ == "X_tgt"
    stages = [row["stage"] for row in clf.history_]
    assert stages == ["teacher"] * 3 + ["student"] * 3
    student_rows = [row for row in clf.history_ if row["stage"] == "student"]
    for key in ("loss", "loss_kd", "loss_dc", "selected", "reward", "dur"):
        assert all(key in row for row in student_rows), key
    assert all(0.0 <= row["selected"] <= 1.0 for row in student_rows)
    # memory grows by 36 per episode: DQN updates start after 10 transitions -> logged
    assert "dqn_loss" in student_rows[-1]
    assert set(clf.fit_time_) == {"teacher", "student", "total"}
    assert clf.n_parameters_["teacher"] > 10 * clf.n_parameters_["student"]
    proba = clf.predict_proba(X_tgt)
    assert proba.shape == (36, 3) and np.allclose(proba.sum(1), 1, atol=1e-5)
    assert clf.predict_features(X_tgt).shape == (36, 32)
    assert clf.predict_features(X_tgt, network="teacher").shape == (36, 128)


def test_same_random_state_same_predictions(small):
    X_src, y_src, X_tgt, _ = small
    a = RCDKDClassifier(**FAST, random_state=3).fit(X_src, y_src, X_tgt)
    b = clone(a).fit(X_src, y_src, X_tgt)
    np.testing.assert_array_equal(a.predict_proba(X_tgt), b.predict_proba(X_tgt))
    assert [r["loss"] for r in a.history_] == [r["loss"] for r in b.history_]
    c = RCDKDClassifier(**FAST, random_state=4).fit(X_src, y_src, X_tgt)
    assert not np.array_equal(a.predict_proba(X_tgt), c.predict_proba(X_tgt))


def test_fit_leaves_global_torch_state_alone(small):
    X_src, y_src, X_tgt, _ = small
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    threads = torch.get_num_threads()
    RCDKDClassifier(**dict(FAST, n_threads=2), random_state=0).fit(X_src, y_src, X_tgt)
    assert torch.equal(torch.rand(3), expected)
    assert torch.get_num_threads() == threads


def test_string_labels_and_classes(small):
    X_src, y_src, X_tgt, _ = small
    names = np.array(["walk", "sit", "lie"])[y_src]
    clf = RCDKDClassifier(**FAST, random_state=0).fit(X_src, names, X_tgt)
    assert list(clf.classes_) == ["lie", "sit", "walk"]
    assert set(clf.predict(X_tgt)) <= set(names)


def test_stacked_masked_and_sample_domain_forms_match_x_tgt_form(small):
    X_src, y_src, X_tgt, _ = small
    ref = RCDKDClassifier(**FAST, random_state=0).fit(X_src, y_src, X_tgt)
    X = np.concatenate([X_src, X_tgt])
    y = np.concatenate([y_src, -np.ones(len(X_tgt), dtype=int)])
    y_before = y.copy()
    masked = RCDKDClassifier(**FAST, random_state=0).fit(X, y)
    np.testing.assert_array_equal(y, y_before)  # caller's labels untouched
    assert masked.target_mode_ == "masked"
    np.testing.assert_allclose(masked.predict_proba(X_tgt), ref.predict_proba(X_tgt), atol=1e-6)
    sd = np.r_[np.ones(len(X_src)), -np.ones(len(X_tgt))].astype(int)
    by_domain = RCDKDClassifier(**FAST, random_state=0).fit(X, np.r_[y_src, np.zeros(len(X_tgt), int)], sample_domain=sd)
    assert by_domain.target_mode_ == "sample_domain"
    np.testing.assert_allclose(by_domain.predict_proba(X_tgt), ref.predict_proba(X_tgt), atol=1e-6)


def test_source_only_mode_warns(small):
    X_src, y_src, _, _ = small
    with pytest.warns(NoTargetWarning):
        clf = RCDKDClassifier(**FAST, random_state=0).fit(X_src, y_src)
    assert clf.target_mode_ == "source_only"
    assert clf.predict(X_src).shape == (40,)


def test_inputs_are_not_mutated_and_read_only_arrays_work(small):
    X_src, y_src, X_tgt, _ = small
    arrays = [X_src.copy(), y_src.copy(), X_tgt.copy()]
    for a in arrays:
        a.setflags(write=False)
    clf = RCDKDClassifier(**FAST, random_state=0).fit(*arrays)
    clf.predict(arrays[2])
    np.testing.assert_array_equal(arrays[0], X_src)
    np.testing.assert_array_equal(arrays[2], X_tgt)


def test_pretrained_teacher_is_used_and_not_mutated(small):
    X_src, y_src, X_tgt, _ = small
    first = RCDKDClassifier(**FAST, random_state=0).fit(X_src, y_src, X_tgt)
    teacher = first.teacher_
    weights = {k: v.clone() for k, v in teacher.state_dict().items()}
    second = RCDKDClassifier(**dict(FAST, teacher_epochs=0), teacher=teacher, random_state=0).fit(X_src, y_src, X_tgt)
    assert [r["stage"] for r in second.history_] == ["student"] * 3
    for k, v in teacher.state_dict().items():
        assert torch.equal(v, weights[k])
    np.testing.assert_array_equal(
        second.predict(X_tgt, network="teacher"), first.predict(X_tgt, network="teacher")
    )


def test_fitted_teacher_can_be_fine_tuned(small):
    # the student stage must not leave the fitted teacher frozen: passing it back with
    # teacher_epochs > 0 trains a copy, and the original keeps its weights
    X_src, y_src, X_tgt, _ = small
    first = RCDKDClassifier(**FAST, random_state=0).fit(X_src, y_src, X_tgt)
    assert all(p.requires_grad for p in first.teacher_.parameters())
    before = {k: v.clone() for k, v in first.teacher_.state_dict().items()}
    second = RCDKDClassifier(**dict(FAST, teacher_epochs=1, student_epochs=0), teacher=first.teacher_,
                             random_state=1).fit(X_src, y_src, X_tgt)
    changed = [k for k, v in second.teacher_.state_dict().items() if k.endswith("weight") and not torch.equal(v, before[k])]
    assert changed, "no teacher weight moved during fine-tuning"
    for k, v in first.teacher_.state_dict().items():
        assert torch.equal(v, before[k])


def test_tcn_teacher(small):
    X_src, y_src, X_tgt, _ = small
    clf = RCDKDClassifier(**FAST, teacher="tcn", random_state=0).fit(X_src, y_src, X_tgt)
    assert clf.adapter_.out_features == 150
    assert clf.predict(X_tgt).shape == (36,)


@pytest.mark.parametrize("refresh", ["epoch", "batch", "episode"])
def test_teacher_refresh_modes_run(small, refresh):
    X_src, y_src, X_tgt, _ = small
    clf = RCDKDClassifier(**dict(FAST, teacher_epochs=1, student_epochs=2), teacher_refresh=refresh, random_state=0)
    clf.fit(X_src, y_src, X_tgt)
    assert np.isfinite([r["reward"] for r in clf.history_ if r["stage"] == "student"]).all()


def test_selection_ablations(small):
    X_src, y_src, X_tgt, _ = small
    full = RCDKDClassifier(**dict(FAST, selection="all"), random_state=0).fit(X_src, y_src, X_tgt)
    assert full.selector_ is None
    assert all(r["selected"] == 1.0 for r in full.history_ if r["stage"] == "student")


def test_predict_before_fit_and_bad_params(small):
    X_src, y_src, X_tgt, _ = small
    with pytest.raises(NotFittedError):
        RCDKDClassifier().predict(X_tgt)
    with pytest.raises(ValueError, match="teacher_epochs"):
        RCDKDClassifier(teacher_epochs=-1).fit(X_src, y_src, X_tgt)
    with pytest.raises(ValueError, match="pass a trained teacher"):
        RCDKDClassifier(teacher_epochs=0).fit(X_src, y_src, X_tgt)
    with pytest.raises(ValueError, match="at least 2 classes"):
        RCDKDClassifier(**FAST).fit(X_src, np.zeros(40, int), X_tgt)
    with pytest.raises(ValueError, match="channels"):
        RCDKDClassifier(**FAST).fit(X_src, y_src, X_tgt[:, :2])


def test_get_set_params_clone_and_pickle(small):
    X_src, y_src, X_tgt, _ = small
    clf = RCDKDClassifier(temperature=4.0)
    assert clf.get_params()["temperature"] == 4.0
    assert clf.set_params(student_epochs=7).student_epochs == 7
    assert clone(clf).get_params() == clf.get_params()
    fitted = RCDKDClassifier(**FAST, random_state=0).fit(X_src, y_src, X_tgt)
    again = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(again.predict_proba(X_tgt), fitted.predict_proba(X_tgt))


def test_verbose_progress_bar(small, capsys):
    X_src, y_src, X_tgt, _ = small
    RCDKDClassifier(**dict(FAST, teacher_epochs=1, student_epochs=1), verbose=1, random_state=0).fit(X_src, y_src, X_tgt)
    err = capsys.readouterr().err
    assert "teacher" in err and "student" in err


def test_domain_standardization_uses_each_domains_statistics(small, monkeypatch):
    import skrcd._fit_data

    X_src, y_src, X_tgt, _ = small
    X_tgt = X_tgt * 5.0 + 3.0
    seen = []
    real = skrcd._fit_data.channel_stats

    def spy(*panels):
        seen.append([round(float(p.mean()), 3) for p in panels])
        return real(*panels)

    monkeypatch.setattr(skrcd._fit_data, "channel_stats", spy)
    clf = RCDKDClassifier(**dict(FAST, teacher_epochs=1, student_epochs=1), standardize="domain", random_state=0)
    clf.fit(X_src, y_src, X_tgt)
    src_mean, tgt_mean = round(float(X_src.mean()), 3), round(float(X_tgt.mean()), 3)
    assert seen == [[tgt_mean], [src_mean]]  # the target's statistics (kept for predict), then the source's own
    np.testing.assert_allclose(clf.channel_mean_, X_tgt.mean(axis=(0, 2)), rtol=1e-4, atol=1e-4)
    joint = RCDKDClassifier(**dict(FAST, teacher_epochs=1, student_epochs=1), standardize="joint", random_state=0)
    joint.fit(X_src, y_src, X_tgt)
    assert seen[2:] == [[src_mean, tgt_mean]]  # one set of statistics from both domains
    both = np.concatenate([X_src, X_tgt])
    np.testing.assert_allclose(joint.channel_mean_, both.mean(axis=(0, 2)), rtol=1e-4, atol=1e-4)
    with pytest.raises(ValueError, match="standardize must be"):
        RCDKDClassifier(standardize="per_sample").fit(X_src, y_src, X_tgt)


# ------------------------------------------------------------------ fit options (issue 14)
def _source_weights(clf, *fit_args, **fit_kwargs):
    """The per-row weights of the source cross-entropy that fit hands to its stages (None: unweighted)."""
    from skorch.callbacks import Callback

    class Grab(Callback):
        def on_train_begin(self, net, **kwargs):
            self.w = None if net.data_.w_src is None else net.data_.w_src.numpy().copy()

    grab = Grab()
    clf.set_params(teacher_callbacks=[grab]).fit(*fit_args, **fit_kwargs)
    return grab.w


def test_class_weight_and_sample_weight_weigh_the_source_rows(small):
    from sklearn.utils.class_weight import compute_class_weight

    X_src, y_src, X_tgt, _ = small
    kw = dict(FAST, teacher_epochs=1, student_epochs=1, random_state=0)
    assert _source_weights(RCDKDClassifier(**kw), X_src, y_src, X_tgt) is None  # the default: unweighted
    balanced = compute_class_weight("balanced", classes=np.unique(y_src), y=y_src)
    np.testing.assert_allclose(_source_weights(RCDKDClassifier(**kw, class_weight="balanced"), X_src, y_src, X_tgt),
                               balanced[y_src], rtol=1e-6)
    sw = np.linspace(0.5, 2.0, len(y_src))
    w = _source_weights(RCDKDClassifier(**kw, class_weight={2: 3.0}), X_src, y_src, X_tgt, sample_weight=sw)
    np.testing.assert_allclose(w, sw * np.where(y_src == 2, 3.0, 1.0), rtol=1e-6)
    # stacked form: one weight per row of X; the target rows' weights are not used
    X = np.concatenate([X_src, X_tgt])
    y = np.r_[y_src, np.full(len(X_tgt), -1)]
    w = _source_weights(RCDKDClassifier(**kw), X, y, sample_weight=np.r_[sw, np.full(len(X_tgt), 7.0)])
    np.testing.assert_allclose(w, sw, rtol=1e-6)
    with pytest.raises(ValueError, match="[Nn]egative"):
        RCDKDClassifier(**kw).fit(X_src, y_src, X_tgt, sample_weight=-sw)
    with pytest.raises(ValueError, match="sample_weight"):
        RCDKDClassifier(**kw).fit(X_src, y_src, X_tgt, sample_weight=sw[:-1])
    with pytest.raises(ValueError, match="not a class of y"):
        RCDKDClassifier(**kw, class_weight={7: 2.0}).fit(X_src, y_src, X_tgt)


def test_class_weight_changes_training_and_uniform_weights_do_not(small):
    X_src, y_src, X_tgt, _ = small
    kw = dict(FAST, teacher_epochs=2, student_epochs=1, random_state=0)
    plain = RCDKDClassifier(**kw).fit(X_src, y_src, X_tgt)
    ones = RCDKDClassifier(**kw).fit(X_src, y_src, X_tgt, sample_weight=np.ones(len(y_src)))
    np.testing.assert_allclose(ones.predict_proba(X_tgt, network="teacher"),
                               plain.predict_proba(X_tgt, network="teacher"), atol=1e-5)
    # class 2 weighs nothing: the teacher's source loss ignores its rows
    no2 = RCDKDClassifier(**kw, class_weight={2: 0.0}).fit(X_src, y_src, X_tgt)
    assert not np.allclose(no2.predict_proba(X_tgt, network="teacher"),
                           plain.predict_proba(X_tgt, network="teacher"), atol=1e-3)
    baseline = SourceOnlyClassifier(**kw, class_weight="balanced").fit(X_src, y_src, X_tgt)  # baselines too
    assert baseline.predict(X_tgt).shape == (36,)


def test_warm_start_continues_the_fitted_networks(small):
    from skorch.callbacks import LRScheduler
    from torch.optim.lr_scheduler import StepLR

    X_src, y_src, X_tgt, _ = small
    kw = dict(FAST, teacher_epochs=2, student_epochs=2, random_state=0,
              callbacks=[LRScheduler(StepLR, step_size=1, gamma=0.5)])
    clf = RCDKDClassifier(**kw, warm_start=True).fit(X_src, y_src, X_tgt)
    nets = {a: getattr(clf, a) for a in ("teacher_", "student_", "adapter_", "discriminator_", "selector_")}
    before = {a: [p.clone() for p in n.parameters()] for a, n in nets.items()}
    clf.fit(X_src, y_src, X_tgt)
    for attr, net in nets.items():
        assert getattr(clf, attr) is net, attr  # the same networks, trained further
        assert not all(torch.equal(a, b) for a, b in zip(before[attr], net.parameters())), attr
    assert [(r["stage"], r["epoch"]) for r in clf.history_] == [
        ("teacher", 1), ("teacher", 2), ("student", 1), ("student", 2),
        ("teacher", 3), ("teacher", 4), ("student", 3), ("student", 4)]
    # a scheduler is built with the stage's epoch count (skorch's warm start), on the fresh optimiser
    lrs = [r["event_lr"] for r in clf.history_ if r["stage"] == "teacher"]
    assert lrs[:2] == pytest.approx([0.01, 0.005]) and lrs[3] == pytest.approx(lrs[2] / 2) and lrs[2] < 0.01
    teacher = [p.clone() for p in clf.teacher_.parameters()]
    clf.set_params(teacher_epochs=0).fit(X_src, y_src, X_tgt)  # keep the teacher, distil further
    assert all(torch.equal(a, b) for a, b in zip(teacher, clf.teacher_.parameters()))
    assert [r["epoch"] for r in clf.history_ if r["stage"] == "student"] == [1, 2, 3, 4, 5, 6]
    cold = clone(clf).set_params(warm_start=False, teacher_epochs=2).fit(X_src, y_src, X_tgt)
    assert len(cold.history_) == 4
    with pytest.raises(ValueError, match="warm_start=True continues the fitted networks, whose classes"):
        clf.fit(X_src[y_src < 2], y_src[y_src < 2], X_tgt)
    with pytest.raises(ValueError, match="use one of them"):
        clf.set_params(checkpoint_dir=None).fit(X_src, y_src, X_tgt, resume=True)
    from skrcd.baselines import DANNStudentClassifier

    dann = DANNStudentClassifier(**dict(FAST, student_epochs=1), warm_start=True, random_state=0)
    student, disc = dann.fit(X_src, y_src, X_tgt).student_, dann.discriminator_
    dann.fit(X_src, y_src, X_tgt)  # a baseline's single stage continues too
    assert dann.student_ is student and dann.discriminator_ is disc
    assert [r["epoch"] for r in dann.history_] == [1, 2]


def test_a_fourth_positional_argument_says_what_to_do(small):
    X_src, y_src, X_tgt, y_tgt = small
    with pytest.raises(TypeError, match=r"target's labels are never used to train.*fit\(X_src, y_src, X_tgt\)"):
        RCDKDClassifier(**FAST).fit(X_src, y_src, X_tgt, y_tgt)


def test_channels_last_input_and_an_impossible_mask_label_warn(small):
    from skrcd.domains import ChannelsLastWarning, MaskLabelWarning

    X_src, y_src, X_tgt, _ = small
    kw = dict(FAST, teacher_epochs=1, student_epochs=1, random_state=0)
    with pytest.warns(ChannelsLastWarning, match=r"X has 32 channels of 3 time steps.*transpose"):
        RCDKDClassifier(**kw).fit(X_src.transpose(0, 2, 1), y_src, X_tgt.transpose(0, 2, 1))
    names = np.array(["walk", "run", "sit"])[y_src]
    with pytest.warns(NoTargetWarning), pytest.warns(MaskLabelWarning, match="mask_label=-1 cannot equal any label"):
        RCDKDClassifier(**kw).fit(X_src, names)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error", MaskLabelWarning)
        warnings.simplefilter("error", ChannelsLastWarning)
        RCDKDClassifier(**kw).fit(X_src, names, X_tgt)  # X_tgt given: the mask label plays no part
        stacked = np.r_[names, np.full(len(X_tgt), "?")]
        RCDKDClassifier(**kw, mask_label="?").fit(np.concatenate([X_src, X_tgt]), stacked)


def test_module_is_the_student_and_reading_it_changes_nothing(small):
    X_src, y_src, X_tgt, _ = small
    clf = RCDKDClassifier(**dict(FAST, teacher_epochs=1, student_epochs=1), random_state=0).fit(X_src, y_src, X_tgt)
    assert "layer_name" not in vars(clf.student_)
    assert clf.module_ is clf.student_ and clf.module_.layer_name == "encoder"
    assert "layer_name" not in vars(clf.student_)
