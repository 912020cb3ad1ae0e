import pytest
import torch

from skrcd.nn.losses import dann_coefficient, distillation_loss, domain_adversarial_loss
from skrcd.nn.networks import CNN1D, DomainDiscriminator
from skrcd.selection import SelectionStrategy
from skrcd.training import DistillationStage, DomainTensors, TeacherOutputs


def test_skipped_sample_gets_zero_kd_gradient():
    torch.manual_seed(0)
    s = torch.randn(4, 3, requires_grad=True)
    t = torch.randn(4, 3)
    distillation_loss(s, t, torch.tensor([1, 0, 1, 0]), temperature=2.0).backward()
    assert torch.all(s.grad[[1, 3]] == 0)
    assert torch.all(s.grad[[0, 2]].abs().sum(1) > 0)


def test_kd_loss_is_temperature_scaled_kl():
    s, t = torch.randn(5, 4), torch.randn(5, 4)
    tau = 2.0
    p_t = torch.softmax(t / tau, 1)
    kl = (p_t * (p_t.log() - torch.log_softmax(s / tau, 1))).sum(1)
    assert distillation_loss(s, t, temperature=tau).item() == pytest.approx((tau**2 * kl.mean()).item(), rel=1e-5)


def test_dann_coefficient_schedule():
    assert dann_coefficient(0.0) == 0.0
    assert dann_coefficient(0.5) == pytest.approx(2 / (1 + torch.exp(torch.tensor(-5.0)).item()) - 1)
    assert dann_coefficient(1.0) > 0.99


def test_discriminator_and_features_pull_in_opposite_directions():
    torch.manual_seed(0)
    disc = DomainDiscriminator(8)
    src = torch.randn(16, 8)
    tgt = (torch.randn(16, 8) + 1.0).requires_grad_(True)
    loss = domain_adversarial_loss(disc, src, tgt, coeff=1.0)
    loss.backward()
    # a small step along the discriminator's own gradient lowers its loss...
    with torch.no_grad():
        for p in disc.parameters():
            p -= 0.05 * p.grad
        lower = domain_adversarial_loss(disc, src, tgt).item()
    assert lower < loss.item()
    # ...while the features' (reversed) gradient step raises it: they fool the discriminator
    with torch.no_grad():
        fooled = domain_adversarial_loss(disc, src, tgt - 0.5 * tgt.grad).item()
    assert fooled > lower


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


def test_coral_is_zero_for_equal_covariances_and_positive_otherwise():
    from skrcd.nn.losses import coral_loss

    torch.manual_seed(0)
    x = torch.randn(64, 4)
    assert coral_loss(x, x + 3.0).item() == pytest.approx(0.0, abs=1e-6)  # a shift keeps the covariance
    assert coral_loss(x, 3.0 * x).item() > 0.1
