import pytest
import torch

from skrcd.nn.losses import coral_loss, dann_coefficient, distillation_loss, domain_adversarial_loss
from skrcd.nn.networks import DomainDiscriminator


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


def test_coral_is_zero_for_equal_covariances_and_positive_otherwise():
    torch.manual_seed(0)
    x = torch.randn(64, 4)
    assert coral_loss(x, x + 3.0).item() == pytest.approx(0.0, abs=1e-6)  # a shift keeps the covariance
    assert coral_loss(x, 3.0 * x).item() > 0.1
