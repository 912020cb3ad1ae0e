"""The training stages: what one step does."""

import copy

import pytest
import torch

from skrcd.nn.losses import domain_adversarial_loss
from skrcd.nn.networks import CNN1D, DomainDiscriminator
from skrcd.selection import SelectionStrategy
from skrcd.training import (
    CDANStage,
    DANNStage,
    DistillationStage,
    DomainTensors,
    RefinementStage,
    TeacherOutputs,
    VADAStage,
)


class _Fixed(SelectionStrategy):
    def select(self, state, episode):
        return torch.ones(state.shape[0], dtype=torch.long, device=state.device)


@pytest.mark.parametrize("mode", ["grl", "flip"])
def test_student_stage_makes_discriminator_and_student_adversaries(mode):
    torch.manual_seed(0)
    data = DomainTensors(torch.randn(16, 2, 32), torch.randint(0, 2, (16,)), torch.randn(16, 2, 32) + 2.0)
    teacher = CNN1D(2, 2, channels=(8, 8, 8))
    student = CNN1D(2, 2, channels=(4, 4, 4))
    adapter = torch.nn.Linear(4, 8)
    disc = DomainDiscriminator(8)
    outputs = TeacherOutputs(teacher, data, mc_passes=2, need_mc=False)
    stage = DistillationStage(student, adapter, disc, outputs, _Fixed(), data, n_episodes=1,
                              kd_weight=0.0, dc_weight=1.0, dc_schedule=False, dc_mode=mode, lr=0.0)
    idx = torch.arange(16)
    stage.on_epoch_begin(0, 1)
    student.eval()  # deterministic features for this check
    _, s_feats = student(data.X_tgt)
    adapted = adapter(s_feats)
    stage.train_step(idx, idx, 1.0)  # lr=0: only fills the gradients
    # discriminator descends its loss (separate domains); adapter moves to raise it (fool)
    with torch.no_grad():
        base = domain_adversarial_loss(disc, outputs.src_features, adapted).item()
        d_params = [p.clone() for p in disc.parameters()]
        for p in disc.parameters():
            p -= 1e-2 * p.grad
        assert domain_adversarial_loss(disc, outputs.src_features, adapted).item() < base
        for p, p0 in zip(disc.parameters(), d_params):
            p.copy_(p0)
        w0 = adapter.weight.clone()
        adapter.weight -= 1e-2 * adapter.weight.grad
        assert domain_adversarial_loss(disc, outputs.src_features, adapter(s_feats)).item() > base
        adapter.weight.copy_(w0)


def _grads(loss, params):
    return torch.autograd.grad(loss, list(params))


@pytest.mark.parametrize("mode", ["grl", "flip"])
def test_student_features_mode_aligns_the_students_own_domains(mode):
    torch.manual_seed(0)
    data = DomainTensors(torch.randn(16, 2, 32), torch.randint(0, 2, (16,)), torch.randn(16, 2, 32) + 2.0)
    student, adapter, disc = CNN1D(2, 2, channels=(4, 4, 4)), torch.nn.Linear(4, 8), DomainDiscriminator(8)
    outputs = TeacherOutputs(CNN1D(2, 2, channels=(8, 8, 8)), data, mc_passes=2, need_mc=False)
    stage = DistillationStage(student, adapter, disc, outputs, _Fixed(), data, n_episodes=1, kd_weight=0.0,
                              dc_weight=1.0, dc_schedule=False, dc_mode=mode, dc_features="student", lr=0.0)
    idx = torch.arange(16)
    stage.on_epoch_begin(0, 1)
    student.eval()

    def dc():  # the discriminator's loss on the student's own two domains, both through the adapter
        return domain_adversarial_loss(disc, adapter(student(data.X_src)[1]), adapter(student(data.X_tgt)[1]))

    stage.train_step(idx, idx, 1.0)
    # the discriminator learns to tell the student's source from its target features (not the teacher's)
    for got, want in zip((p.grad for p in disc.parameters()), _grads(dc(), disc.parameters())):
        torch.testing.assert_close(got, want)
    with torch.no_grad():  # and a step of the student along its gradient raises that loss (it aligns)
        base = dc().item()
        for p in student.parameters():
            p -= 1e-2 * p.grad
        assert dc().item() > base


def test_source_cross_entropy_of_the_student_is_added_with_its_weight():
    torch.manual_seed(0)
    data = DomainTensors(torch.randn(16, 2, 32), torch.randint(0, 2, (16,)), torch.randn(16, 2, 32))
    student = CNN1D(2, 2, channels=(4, 4, 4))
    outputs = TeacherOutputs(CNN1D(2, 2, channels=(8, 8, 8)), data, mc_passes=2, need_mc=False)
    stage = DistillationStage(student, torch.nn.Linear(4, 8), DomainDiscriminator(8), outputs, _Fixed(), data,
                              n_episodes=1, kd_weight=0.0, dc_weight=0.0, source_ce_weight=2.5, lr=0.0)
    idx = torch.arange(16)
    stage.on_epoch_begin(0, 1)
    student.eval()
    logs = stage.train_step(idx, idx, 0.5)
    ce = torch.nn.functional.cross_entropy(student(data.X_src)[0], data.y_src)
    torch.testing.assert_close(logs["loss_ce"], ce.detach())
    torch.testing.assert_close(logs["loss"], 2.5 * ce.detach())
    for got, want in zip((p.grad for p in student.parameters()), _grads(2.5 * ce, student.parameters())):
        torch.testing.assert_close(got, want)


def test_student_stage_refuses_unknown_dc_features():
    data = DomainTensors(torch.randn(4, 2, 16), torch.tensor([0, 1, 0, 1]), torch.randn(4, 2, 16))
    outputs = TeacherOutputs(CNN1D(2, 2, channels=(8, 8, 8)), data, need_mc=False)
    with pytest.raises(ValueError, match="dc_features"):
        DistillationStage(CNN1D(2, 2, channels=(4, 4, 4)), torch.nn.Linear(4, 8), DomainDiscriminator(8), outputs,
                          _Fixed(), data, dc_features="both")


# ------------------------------------------------------------------ teacher objectives
def _toy_data(seed=0):
    g = torch.Generator().manual_seed(seed)
    return DomainTensors(torch.randn(16, 2, 16, generator=g), torch.tensor([0, 1] * 8),
                         torch.randn(16, 2, 16, generator=g) + 1.0)


def _same_networks(seed=0):
    torch.manual_seed(seed)
    net, disc = CNN1D(2, 2, channels=(4, 4, 4), dropout=0.0), DomainDiscriminator(4)
    return net, disc, copy.deepcopy(net), copy.deepcopy(disc)


def test_vada_without_its_target_terms_is_dann():
    data, idx = _toy_data(), torch.arange(16)
    net, disc, net2, disc2 = _same_networks()
    DANNStage(net, disc, data).train_step(idx, idx, 0.5)
    VADAStage(net2, disc2, data, ent_weight=0.0, vat_weight=0.0).train_step(idx, idx, 0.5)
    for a, b in zip(net.state_dict().values(), net2.state_dict().values()):
        assert torch.equal(a, b)


def test_vada_adds_exactly_its_weighted_terms():
    from skrcd.nn import conditional_entropy

    data, idx = _toy_data(), torch.arange(16)
    net, disc, _, _ = _same_networks()
    stage = VADAStage(net, disc, data, ent_weight=0.3, vat_weight=0.7)
    logs = stage.train_step(idx, idx, 0.5)
    total = logs["loss_cls"] + logs["loss_domain"] + 0.3 * logs["loss_ent"] + 0.7 * logs["loss_vat"]
    assert torch.isclose(logs["loss"], total, rtol=1e-5)
    assert float(logs["loss_vat"]) > 0 and float(logs["loss_ent"]) > 0
    with torch.no_grad():  # the logged entropy is the target batch's, computed before the step
        assert float(conditional_entropy(net(data.X_tgt)[0])) != float(logs["loss_ent"])


def test_refinement_starts_at_its_previous_iterate_and_lowers_target_entropy():
    from skrcd.nn import conditional_entropy

    data = _toy_data()
    net, _, _, _ = _same_networks()
    stage = RefinementStage(net, data, lr=1e-2, vat_weight=0.0)
    stage.on_epoch_begin(0, 1)
    net.eval()
    with torch.no_grad():
        before = float(conditional_entropy(net(data.X_tgt)[0]))
    logs = stage.train_step(None, torch.arange(16), 0.0)
    assert float(logs["loss_prox"]) == pytest.approx(0.0, abs=1e-6)  # the copy is the network itself
    for _ in range(30):
        stage.train_step(None, torch.arange(16), 0.0)
    net.eval()
    with torch.no_grad():
        assert float(conditional_entropy(net(data.X_tgt)[0])) < before


def test_cdan_trains_a_discriminator_on_features_times_predictions():
    data, idx = _toy_data(), torch.arange(16)
    net, _, _, _ = _same_networks()
    joint = DomainDiscriminator(4 * 2)
    before = copy.deepcopy(joint.state_dict())
    logs = CDANStage(net, joint, data).train_step(idx, idx, 0.5)
    assert set(logs) == {"loss", "loss_cls", "loss_domain", "source_acc"}
    assert any(not torch.equal(before[k], v) for k, v in joint.state_dict().items())


def _student_stage(**kwargs):
    torch.manual_seed(0)
    data = DomainTensors(torch.randn(16, 2, 32), torch.tensor([0, 1] * 8), torch.randn(16, 2, 32) + 1.0)
    teacher, student = CNN1D(2, 2, channels=(8, 8, 8)), CNN1D(2, 2, channels=(4, 4, 4))
    outputs = TeacherOutputs(teacher, data, mc_passes=2, need_mc=False)
    stage = DistillationStage(student, torch.nn.Linear(4, 8), DomainDiscriminator(8), outputs, _Fixed(), data,
                              n_episodes=1, **kwargs)
    return stage, data


def test_importance_weights_enter_the_source_cross_entropy_and_the_discriminator():
    from skrcd.training import source_cross_entropy

    weight = torch.tensor([0.25, 3.0])
    stage, data = _student_stage(source_ce_weight=1.0, source_weight=weight, dc_features="student")
    idx = torch.arange(16)
    logits = stage.student(data.X_src)[0]
    rows = weight[data.y_src]
    expected = (torch.nn.functional.cross_entropy(logits, data.y_src, reduction="none") * rows).sum() / rows.sum()
    torch.testing.assert_close(source_cross_entropy(logits, stage.source_data, idx), expected)
    assert stage.data.w_src is None  # the caller's data untouched


def test_augmented_views_change_the_student_input_not_the_teacher_targets():
    from skrcd.nn import SensorAugment

    seen = []
    stage, data = _student_stage(augment=SensorAugment(jitter=0.5), generator=torch.Generator().manual_seed(0),
                                 dc_weight=0.0)
    stage.student.register_forward_pre_hook(lambda m, inp: seen.append(inp[0].clone()))
    targets = stage.teacher_outputs.tgt_logits.clone()
    idx = torch.arange(16)
    stage.train_step(idx, idx, 0.5)
    assert not torch.allclose(seen[0], data.X_tgt) and seen[0].shape == data.X_tgt.shape
    assert torch.equal(stage.teacher_outputs.tgt_logits, targets)


def test_consistency_term_and_the_moving_average_of_the_student():
    stage, data = _student_stage(consistency_weight=1.0, ema_decay=0.5, keep_ema=True, dc_weight=0.0)
    before = [p.clone() for p in stage.ema.model.parameters()]
    idx = torch.arange(16)
    logs = stage.train_step(idx, idx, 1.0)
    assert logs["loss_consistency"] >= 0 and "_n_loss_consistency" in logs
    for e, b, s in zip(stage.ema.model.parameters(), before, stage.student.parameters()):
        torch.testing.assert_close(e, 0.5 * b + 0.5 * s)  # one step of decay 0.5
    stage.finish()
    for e, s in zip(stage.ema.model.state_dict().values(), stage.student.state_dict().values()):
        assert torch.equal(e, s)  # keep_ema: the student ends as the average
