"""The teacher-objective registry and the teachers beyond marginal alignment (time-frequency network, temporal mixup)."""

import math

import numpy as np
import pytest
import torch

from skrcd import RCDKDClassifier
from skrcd.datasets import make_domain_shift
from skrcd.nn import CNN1D, DomainDiscriminator, TeacherEnsemble, TimeFrequencyCNN
from skrcd.nn.augment import domain_mix
from skrcd.training import (
    TEACHER_OBJECTIVES,
    DANNStage,
    DomainTensors,
    TemporalMixupStage,
    VADAStage,
    register_teacher_objective,
)

TINY = dict(teacher_epochs=1, student_epochs=1, teacher_channels=(8, 8, 8), student_channels=(4, 4, 4),
            selector_hidden=8, mc_passes=2, n_episodes=1, batch_size=16, random_state=0, n_threads=1, device="cpu")


def _data():
    return make_domain_shift(n_source=40, n_target=40, length=32, random_state=0)


def test_an_objective_added_to_the_registry_is_an_option_and_trains():
    calls = []

    def build(est, ctx, teacher, discriminator, n_features):
        calls.append(n_features)
        stage = DANNStage(teacher, discriminator, ctx.data, lr=est.teacher_lr, domain_weight=0.0, name="teacher")
        return [(stage, est.teacher_epochs)]

    register_teacher_objective("test_source_only", "source cross-entropy only", build)
    try:
        with pytest.raises(ValueError, match="registered already"):
            register_teacher_objective("test_source_only", "again", build)
        X_src, y_src, X_tgt, _ = _data()
        clf = RCDKDClassifier(teacher_method="test_source_only", n_teachers=2, **TINY).fit(X_src, y_src, X_tgt)
        assert calls == [8, 8]  # one build per member
        assert [r["stage"] for r in clf.history_].count("teacher") == 1  # member 2's stage is "teacher_2"
        assert {"teacher", "teacher_2"} <= {r["stage"] for r in clf.history_}
    finally:
        TEACHER_OBJECTIVES.pop("test_source_only", None)
    with pytest.raises(ValueError, match="teacher_method must be"):
        RCDKDClassifier(teacher_method="test_source_only")._check_params()


def test_the_registry_names_the_built_in_objectives():
    assert {"dann", "vada", "dirtt", "cdan", "mixup"} <= set(TEACHER_OBJECTIVES)
    for name, objective in TEACHER_OBJECTIVES.items():
        assert objective.name == name and objective.description and callable(objective.build)


def _sines(n, freq, length=64, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(length) / length
    phase = rng.uniform(0, 2 * np.pi, size=(n, 1, 1))
    return np.sin(2 * np.pi * freq * t[None, None, :] + phase).astype(np.float32)


def test_frequency_features_separate_classes_that_the_temporal_mean_does_not():
    # two classes of unit sines, 3 and 11 cycles per window, random phase: same mean (0) and same power
    a, b = torch.from_numpy(_sines(30, 3)), torch.from_numpy(_sines(30, 11, seed=1))
    assert abs(a.mean() - b.mean()) < 0.05 and abs(a.std() - b.std()) < 0.05
    spec_a, spec_b = TimeFrequencyCNN.spectrum(a), TimeFrequencyCNN.spectrum(b)
    assert (spec_a.argmax(dim=2) == 3).all() and (spec_b.argmax(dim=2) == 11).all()
    # the spectral input is shift-invariant, so a linear rule on it separates the classes without error
    score = lambda s: s[..., 3] - s[..., 11]  # noqa: E731
    assert (score(spec_a) > 0).all() and (score(spec_b) < 0).all()


def test_time_frequency_teacher_learns_the_frequency_task():
    torch.manual_seed(0)
    X = torch.from_numpy(np.concatenate([_sines(32, 3), _sines(32, 11, seed=1)]))
    y = torch.tensor([0] * 32 + [1] * 32)
    net = TimeFrequencyCNN(1, 2, channels=(4, 4, 4), spectral_channels=(4, 4, 4), dropout=0.0)
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    for _ in range(30):
        loss = torch.nn.functional.cross_entropy(net(X)[0], y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    net.eval()
    X_new = torch.from_numpy(np.concatenate([_sines(20, 3, seed=5), _sines(20, 11, seed=6)]))
    assert (net(X_new)[0].argmax(1) == torch.tensor([0] * 20 + [1] * 20)).float().mean() >= 0.95


def test_temporal_mixup_stage_losses_on_a_hand_made_batch():
    torch.manual_seed(0)
    data = DomainTensors(torch.randn(8, 2, 16), torch.tensor([0, 1] * 4), torch.randn(8, 2, 16) + 1.0)
    net = CNN1D(2, 2, channels=(4, 4, 4), dropout=0.0)
    stage = TemporalMixupStage(net, DomainDiscriminator(4), data, mix_ratio=0.2, kernel=3, lr=0.0)
    idx = torch.arange(8)
    net.eval()  # the same network function for the check as for the step
    logs = stage.train_step(idx, idx, progress=1.0)
    with torch.no_grad():
        mix_src = torch.nn.functional.cross_entropy(net(domain_mix(data.X_src, data.X_tgt, 0.2, 3))[0], data.y_src)
        p_t = net(data.X_tgt)[0].softmax(1)
        log_q = net(domain_mix(data.X_tgt, data.X_src, 0.2, 3))[0].log_softmax(1)
        mix_tgt = (p_t * (p_t.log() - log_q)).sum(1).mean()
    assert logs["loss_mix_src"].item() == pytest.approx(mix_src.item(), rel=1e-5)
    assert logs["loss_mix_tgt"].item() == pytest.approx(mix_tgt.item(), rel=1e-4, abs=1e-7)


def test_heterogeneous_teacher_trains_one_member_of_each_kind_and_round_trips(tmp_path):
    X_src, y_src, X_tgt, _ = _data()
    clf = RCDKDClassifier(teacher=("cnn", "tfcnn"), teacher_method="mixup", **TINY).fit(X_src, y_src, X_tgt)
    assert isinstance(clf.teacher_, TeacherEnsemble)
    assert [type(m) for m in clf.teacher_.members] == [CNN1D, TimeFrequencyCNN]
    loaded = RCDKDClassifier.load(clf.save(tmp_path / "m.skrcd"))
    np.testing.assert_allclose(loaded.predict_proba(X_tgt, network="teacher"),
                               clf.predict_proba(X_tgt, network="teacher"), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="n_teachers"):
        RCDKDClassifier(teacher=("cnn", "tfcnn"), n_teachers=3)._check_params()
    with pytest.raises(ValueError, match="teacher_channels"):
        RCDKDClassifier(teacher=("cnn", "tcn"), teacher_channels=(8, 8, 8))._check_params()


def test_vat_on_a_subset_of_steps_restarts_its_cadence_each_epoch():
    g = torch.Generator().manual_seed(0)
    data = DomainTensors(torch.randn(16, 2, 16, generator=g), torch.tensor([0, 1] * 8),
                         torch.randn(16, 2, 16, generator=g) + 1.0)
    torch.manual_seed(0)
    stage = VADAStage(CNN1D(2, 2, channels=(4, 4, 4)), DomainDiscriminator(4), data, ent_weight=0.3, vat_every=3)
    idx, seen = torch.arange(8), []
    for epoch in range(2):
        stage.on_epoch_begin(epoch, 2)
        for _ in range(4):
            logs = stage.train_step(idx, idx, 0.5)
            seen.append(float(logs["loss_vat"]) > 0)
            total = logs["loss_cls"] + logs["loss_domain"] + 0.3 * logs["loss_ent"] + logs["loss_vat"]
            assert torch.isclose(logs["loss"], total, rtol=1e-5)
    assert seen == [True, False, False, True] * 2
    for bad in (0, 1.5, "3", True):
        with pytest.raises(ValueError, match="vat_every must be a positive int"):
            VADAStage(CNN1D(2, 2, channels=(4, 4, 4)), DomainDiscriminator(4), data, vat_every=bad)


@pytest.mark.parametrize("method", ["vada", "dirtt"])
def test_teacher_vat_every_sets_how_many_steps_pay_for_vat(monkeypatch, method):
    import skrcd.training.adaptation as adaptation

    X_src, y_src, X_tgt, _ = _data()
    counts, calls, real = {}, [], adaptation.vat_loss
    monkeypatch.setattr(adaptation, "vat_loss", lambda *a, **k: calls.append(1) or real(*a, **k))
    for every in (1, 3):
        calls.clear()
        clf = RCDKDClassifier(teacher_method=method, n_teachers=1, teacher_refine_epochs=0, teacher_vat_every=every,
                              **{**TINY, "teacher_epochs": 2, "batch_size": 4}).fit(X_src, y_src, X_tgt)
        counts[every] = len(calls) / sum(r["stage"] == "teacher" for r in clf.history_)  # per epoch
    steps = counts[1] / 2  # source + target VAT on every step
    assert steps >= 7 and counts[3] == 2 * math.ceil(steps / 3)  # then on the first of each three
