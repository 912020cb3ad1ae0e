"""The training loop on skorch's callback protocol: skorch's stock callbacks on every stage of every estimator.

docs/ecosystem.md (section "skorch callbacks") cites these tests by name.
"""

import json

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.metrics import accuracy_score
from skorch.callbacks import (
    Callback,
    Checkpoint,
    EarlyStopping,
    EpochScoring,
    GradientNormClipping,
    LoadInitState,
    LRScheduler,
    PrintLog,
    ProgressBar,
    TrainEndCheckpoint,
)
from torch.optim.lr_scheduler import StepLR

from conftest import TINY
from skrcd import AADClassifier, DANNStudentClassifier, MobileDAClassifier, RCDKDClassifier, SourceOnlyClassifier
from skrcd.training import StageNet, TargetEntropy

#: Four epochs per stage, so that an early stop is seen.
KW = dict(TINY, teacher_epochs=4, student_epochs=4)
#: Each estimator and the names of its stages, in order.
STAGES = {
    RCDKDClassifier: ["teacher", "student"],
    SourceOnlyClassifier: ["source_only"],
    DANNStudentClassifier: ["dann_student"],
    MobileDAClassifier: ["teacher", "mobileda"],
    AADClassifier: ["teacher", "aad"],
}


@pytest.fixture(scope="module")
def data():
    from skrcd.datasets import make_domain_shift

    return make_domain_shift(n_source=40, n_target=36, n_classes=3, length=32, random_state=0)


def _stop_after_two():
    """No epoch beats the first tenfold: stops after the second."""
    return EarlyStopping(monitor="train_loss", patience=1, threshold=10.0, sink=lambda msg: None)


def _rows(clf, stage):
    return [row for row in clf.history_ if row["stage"] == stage]


class _SeenNets(Callback):
    """The nets a callback gets, one per stage: their stage, module_ and optimizer_."""

    def initialize(self):
        self.seen = getattr(self, "seen", [])
        return self

    def on_train_begin(self, net, **kwargs):
        self.seen.append((net.stage_name, net.module_, net.optimizer_, type(net)))


# ------------------------------------------------------------------ the protocol, on every stage
@pytest.mark.parametrize("cls", list(STAGES), ids=lambda c: c.__name__)
def test_stock_callbacks_on_every_stage_of_every_estimator(cls, data, tmp_path):
    X_src, y_src, X_tgt, _ = data
    callbacks = [
        LRScheduler(StepLR, step_size=1, gamma=0.5),
        GradientNormClipping(1.0),
        EpochScoring("accuracy", on_train=True, lower_is_better=False, name="source_accuracy"),
        Checkpoint(dirname=str(tmp_path), f_params="{net.stage_name}_params.pt", f_optimizer=None,
                   f_criterion=None, f_history=None, monitor="train_loss_best"),
        ProgressBar(),
        _SeenNets(),
        ("stop", _stop_after_two()),  # last: an early stop skips the callbacks after it in that epoch, as in skorch
    ]
    clf = cls(**KW, callbacks=callbacks).fit(X_src, y_src, X_tgt)
    stages = STAGES[cls]
    assert [row["stage"] for row in clf.history_] == [s for s in stages for _ in range(2)]  # each stopped early
    assert clf.interrupted_ is None and clf.student_ is not None
    for stage in stages:
        rows = _rows(clf, stage)
        assert [r["epoch"] for r in rows] == [1, 2]
        assert [r["event_lr"] for r in rows] == [pytest.approx(r_lr) for r_lr in _lrs(clf, stage)]
        assert all(0 <= r["source_accuracy"] <= 1 and r["event_cp"] in (True, False) for r in rows)
        assert all({"train_loss", "dur", "batches", "train_batch_count"} <= set(r) for r in rows)
        assert (tmp_path / f"{stage}_params.pt").exists()
    seen = callbacks[-2].seen
    assert [s for s, *_ in seen] == stages and all(t is StageNet for *_, t in seen)
    assert seen[-1][1] is clf.student_  # the last stage trains the network predict uses


def _lrs(clf, stage):
    lr = clf.teacher_lr if stage in ("teacher", "dann_student") else clf.student_lr
    return [lr, lr / 2]


# ------------------------------------------------------------------ EarlyStopping
def test_early_stopping_ends_the_teacher_stage_and_the_student_still_trains(data):
    X_src, y_src, X_tgt, _ = data
    stop = _stop_after_two()
    clf = RCDKDClassifier(**KW, teacher_callbacks=[stop]).fit(X_src, y_src, X_tgt)
    assert [(r["stage"], r["epoch"]) for r in clf.history_] == [("teacher", 1), ("teacher", 2)] + [
        ("student", e) for e in (1, 2, 3, 4)]
    assert clf.interrupted_ is None and clf.student_ is not None and clf.selector_ is not None
    assert stop.best_epoch_ == 1 and stop.misses_ == 1
    assert clf.predict(X_tgt).shape == (36,)


def test_early_stopping_of_the_student_stage_and_load_best(data):
    X_src, y_src, X_tgt, _ = data

    class Keep(Callback):  # the student's weights at the end of each epoch
        def initialize(self):
            self.states = {}
            return self

        def on_epoch_end(self, net, epoch=None, **kwargs):
            self.states[epoch] = {k: v.clone() for k, v in net.module_.state_dict().items()}

    keep = Keep()
    stop = EarlyStopping(monitor="train_loss", patience=1, threshold=10.0, load_best=True, sink=lambda msg: None)
    clf = RCDKDClassifier(**KW, student_callbacks=[keep, stop]).fit(X_src, y_src, X_tgt)
    assert [r["epoch"] for r in _rows(clf, "teacher")] == [1, 2, 3, 4]
    assert [r["epoch"] for r in _rows(clf, "student")] == [1, 2]
    for k, v in clf.student_.state_dict().items():  # load_best: the student of epoch 1, not 2
        assert torch.equal(v, keep.states[1][k]), k


def test_a_validation_monitor_without_validation_data_is_refused_before_training(data):
    X_src, y_src, X_tgt, _ = data
    with pytest.raises(ValueError, match="EarlyStopping\\(monitor='valid_loss'\\).*set train_split"):
        RCDKDClassifier(**KW, teacher_callbacks=[EarlyStopping()]).fit(X_src, y_src, X_tgt)


def test_a_missing_validation_column_names_train_split(data):
    X_src, y_src, X_tgt, _ = data

    class ReadsValid(Callback):
        def on_epoch_end(self, net, **kwargs):
            net.history[-1, "valid_f1"]

    with pytest.raises(KeyError, match="no validation data: set train_split"):
        RCDKDClassifier(**KW, callbacks=[ReadsValid()]).fit(X_src, y_src, X_tgt)


# ------------------------------------------------------------------ LRScheduler
def test_lr_scheduler_steps_each_stage_s_own_optimizer(data):
    X_src, y_src, X_tgt, _ = data
    sched = LRScheduler(StepLR, step_size=2, gamma=0.1)
    clf = RCDKDClassifier(**dict(KW, teacher_lr=0.02, student_lr=0.01), callbacks=[sched]).fit(X_src, y_src, X_tgt)
    assert [r["event_lr"] for r in _rows(clf, "teacher")] == pytest.approx([0.02, 0.02, 0.002, 0.002])
    assert [r["event_lr"] for r in _rows(clf, "student")] == pytest.approx([0.01, 0.01, 0.001, 0.001])
    batch_sched = LRScheduler(StepLR, step_every="batch", step_size=1, gamma=0.5)  # two steps per epoch here
    clf = RCDKDClassifier(**dict(KW, student_epochs=2), student_callbacks=[batch_sched]).fit(X_src, y_src, X_tgt)
    assert [[b["event_lr"] for b in r["batches"]] for r in _rows(clf, "student")] == [
        pytest.approx([0.01, 0.005]), pytest.approx([0.0025, 0.00125])]


# ------------------------------------------------------------------ Checkpoint / LoadInitState
def test_checkpoint_and_load_init_state_per_stage(data, tmp_path):
    X_src, y_src, X_tgt, _ = data
    cp = Checkpoint(dirname=str(tmp_path / "teacher"), monitor="train_loss_best")
    first = RCDKDClassifier(**KW, teacher_callbacks=[cp]).fit(X_src, y_src, X_tgt)
    saved = torch.load(tmp_path / "teacher" / "params.pt", weights_only=True)
    history = json.loads((tmp_path / "teacher" / "history.json").read_text())
    assert [r["stage"] for r in history] == ["teacher"] * len(history) and history[-1]["event_cp"]
    best = max(i for i, r in enumerate(_rows(first, "teacher")) if r["event_cp"])
    assert len(history) == best + 1

    # a new fit starts its teacher stage from the checkpoint: weights, optimiser and history
    class WeightsAtStart(Callback):
        def on_train_begin(self, net, **kwargs):
            self.state = {k: v.clone() for k, v in net.module_.state_dict().items()}

    at_start = WeightsAtStart()
    cp2 = Checkpoint(dirname=str(tmp_path / "teacher"), monitor="train_loss_best")
    second = RCDKDClassifier(**dict(KW, teacher_epochs=2),
                             teacher_callbacks=[cp2, LoadInitState(cp2), at_start]).fit(X_src, y_src, X_tgt)
    for k, v in saved.items():
        assert torch.equal(at_start.state[k], v), k
    assert [r["epoch"] for r in _rows(second, "teacher")] == list(range(1, best + 4))  # loaded rows, then 2 more
    end = TrainEndCheckpoint(dirname=str(tmp_path / "end"))
    RCDKDClassifier(**dict(KW, student_epochs=1), student_callbacks=[end]).fit(X_src, y_src, X_tgt)
    assert (tmp_path / "end" / "train_end_params.pt").exists()


def test_checkpoint_load_best_restores_the_student(data, tmp_path):
    X_src, y_src, X_tgt, _ = data
    cp = Checkpoint(dirname=str(tmp_path), monitor="target_entropy_best", load_best=True, f_history=None)
    clf = RCDKDClassifier(**KW, student_callbacks=[TargetEntropy(), cp]).fit(X_src, y_src, X_tgt)
    saved = torch.load(tmp_path / "params.pt", weights_only=True)
    for k, v in clf.student_.state_dict().items():
        assert torch.equal(v, saved[k]), k
    rows = _rows(clf, "student")
    assert len(rows) == 4 and rows[0]["event_cp"]  # f_history=None: every row is kept


# ------------------------------------------------------------------ GradientNormClipping
@pytest.mark.parametrize("stage", ["teacher", "student"])
def test_gradient_norm_clipping_clips_the_stage_s_networks(data, stage):
    X_src, y_src, X_tgt, _ = data

    class Clip(GradientNormClipping):
        def initialize(self):
            self.norms, self.n_params = [], None
            return self

        def on_grad_computed(self, net, named_parameters, **kwargs):
            params = [p for _, p in named_parameters]
            super().on_grad_computed(net, iter([(None, p) for p in params]), **kwargs)
            self.n_params = len(params)
            self.norms.append(float(torch.linalg.vector_norm(torch.stack(
                [torch.linalg.vector_norm(p.grad) for p in params if p.grad is not None]))))

    clip = Clip(gradient_clip_value=1e-3)
    kw = dict(KW, teacher_epochs=2, student_epochs=2)
    clipped = RCDKDClassifier(**kw, **{f"{stage}_callbacks": [clip]}).fit(X_src, y_src, X_tgt)
    plain = RCDKDClassifier(**kw).fit(X_src, y_src, X_tgt)
    steps = 2 * 2 * (1 if stage == "teacher" else TINY["n_episodes"])  # 2 epochs of 2 steps; one per episode
    assert len(clip.norms) == steps  # once per step of the stage's optimiser
    assert max(clip.norms) <= 1e-3 * (1 + 1e-4)
    net = clipped.teacher_ if stage == "teacher" else clipped.student_
    other = plain.teacher_ if stage == "teacher" else plain.student_
    assert not all(torch.equal(a, b) for a, b in zip(net.parameters(), other.parameters()))
    modules = [clipped.teacher_, clipped.discriminator_] if stage == "teacher" else \
        [clipped.student_, clipped.adapter_, clipped.discriminator_]
    assert clip.n_params == sum(len(list(m.parameters())) for m in modules)


# ------------------------------------------------------------------ EpochScoring, validation, target entropy
def test_epoch_scoring_on_the_training_source_and_the_validation_rows(data):
    X_src, y_src, X_tgt, _ = data

    class Last(Callback):  # the training rows and the network at the end of the stage
        def on_train_end(self, net, **kwargs):
            self.X, self.y, self.net = net.data_.X_src, net.data_.y_src, net.module_

    last = Last()
    scoring = [EpochScoring("accuracy", on_train=True, lower_is_better=False, name="train_acc"),
               EpochScoring("f1_macro", lower_is_better=False, name="my_valid_f1")]
    clf = RCDKDClassifier(**KW, train_split=0.25, callbacks=scoring, student_callbacks=[last]).fit(X_src, y_src, X_tgt)
    for stage in ("teacher", "student"):
        for row in _rows(clf, stage):
            assert {"train_acc", "train_acc_best", "valid_loss", "valid_acc", "valid_f1", "my_valid_f1"} <= set(row)
            assert row["my_valid_f1"] == row["valid_f1"]
    with torch.no_grad():
        last.net.eval()
        expected = accuracy_score(last.y.numpy(), last.net(last.X)[0].argmax(1).numpy())
    assert _rows(clf, "student")[-1]["train_acc"] == pytest.approx(expected)


def test_validation_split_is_stratified_held_out_and_scored(data):
    X_src, y_src, X_tgt, _ = data

    class Sizes(Callback):
        def on_train_begin(self, net, **kwargs):
            self.n_train, (X_val, y_val) = net.data_.X_src.shape[0], net.valid_
            self.n_valid, self.valid_classes = X_val.shape[0], sorted(set(y_val.tolist()))

    sizes = Sizes()
    clf = RCDKDClassifier(**KW, train_split=0.25, callbacks=[sizes]).fit(X_src, y_src, X_tgt)
    assert (sizes.n_train, sizes.n_valid) == (30, 10) and sizes.valid_classes == [0, 1, 2]
    for row in clf.history_:
        assert row["valid_loss"] > 0 and 0 <= row["valid_acc"] <= 1 and 0 <= row["valid_f1"] <= 1
    same = RCDKDClassifier(**KW, train_split=0.25).fit(X_src, y_src, X_tgt)  # the split follows random_state
    assert [r["valid_loss"] for r in same.history_] == [r["valid_loss"] for r in clf.history_]
    default = RCDKDClassifier(**KW).fit(X_src, y_src, X_tgt)  # default: no validation, every row trains
    assert not any(k.startswith("valid_") for row in default.history_ for k in row)
    stop = EarlyStopping(patience=1, threshold=10.0, sink=lambda msg: None)  # monitors valid_loss
    stopped = RCDKDClassifier(**KW, train_split=0.25, teacher_callbacks=[stop]).fit(X_src, y_src, X_tgt)
    assert len(_rows(stopped, "teacher")) == 2 and len(_rows(stopped, "student")) == 4


def test_target_entropy_is_the_student_s_entropy_on_the_target_and_can_stop_a_stage(data):
    X_src, y_src, X_tgt, _ = data
    clf = RCDKDClassifier(**KW, callbacks=[TargetEntropy()]).fit(X_src, y_src, X_tgt)
    p = clf.predict_proba(X_tgt)
    assert _rows(clf, "student")[-1]["target_entropy"] == pytest.approx(
        float(np.mean(-(p * np.log(p)).sum(1))), rel=1e-4)
    stop = EarlyStopping(monitor="target_entropy", patience=1, threshold=10.0, sink=lambda msg: None)
    clf = RCDKDClassifier(**KW, student_callbacks=[TargetEntropy(), stop]).fit(X_src, y_src, X_tgt)
    assert len(_rows(clf, "student")) == 2


# ------------------------------------------------------------------ PrintLog and ProgressBar
def test_print_log_prints_each_stage_s_table(data, capsys):
    X_src, y_src, X_tgt, _ = data
    RCDKDClassifier(**dict(KW, student_epochs=2), verbose=2).fit(X_src, y_src, X_tgt)  # verbose=2: skorch's table
    out = capsys.readouterr().out
    assert out.count("train_loss") == 2 and "teacher" in out and "student" in out  # one header per stage
    RCDKDClassifier(**dict(KW, student_epochs=2), callbacks=[PrintLog(keys_ignored=["batches"])],
                    verbose=0).fit(X_src, y_src, X_tgt)
    assert capsys.readouterr().out == ""  # as in skorch: PrintLog prints only with verbose


def test_progress_bar_counts_the_steps_of_each_stage(data, capsys):
    X_src, y_src, X_tgt, _ = data
    bar = ProgressBar(batches_per_epoch="count")
    RCDKDClassifier(**KW, callbacks=[bar]).fit(X_src, y_src, X_tgt)
    err = capsys.readouterr().err
    assert "0/2 [" in err  # counted in the first epoch: 2 steps (no validation rows)


# ------------------------------------------------------------------ parameters
def test_per_stage_callbacks_are_parameters_cloned_and_set(data):
    X_src, y_src, X_tgt, _ = data
    stop = _stop_after_two()
    clf = RCDKDClassifier(**KW, teacher_callbacks=[stop])
    twin = clone(clf)
    assert twin.teacher_callbacks[0] is not stop and twin.teacher_callbacks[0].get_params() == stop.get_params()
    twin.set_params(teacher_callbacks=None, student_callbacks=[_stop_after_two()])
    twin.fit(X_src, y_src, X_tgt)
    assert [len(_rows(twin, s)) for s in ("teacher", "student")] == [4, 2]
    assert clf.get_params()["teacher_callbacks"] == [stop]


def test_every_history_value_is_checked_to_be_finite(data):
    X_src, y_src, X_tgt, _ = data

    class Bad(Callback):
        def on_epoch_end(self, net, epoch=None, **kwargs):
            if net.stage_name == "student" and epoch == 2:
                net.history.record("my_score", np.float64("nan"))

    with pytest.raises(FloatingPointError, match="my_score became nan in stage 'student' at epoch 2/4"):
        RCDKDClassifier(**KW, callbacks=[Bad()]).fit(X_src, y_src, X_tgt)
