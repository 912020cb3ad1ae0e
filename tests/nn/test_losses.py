import math

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


# ----------------------------------------------------------------- teacher objectives' terms
def test_conditional_entropy_by_hand():
    from skrcd.nn import conditional_entropy

    logits = torch.tensor([[0.0, 0.0], [100.0, 0.0]])  # uniform (log 2) and certain (0)
    assert torch.isclose(conditional_entropy(logits), torch.tensor(math.log(2) / 2), atol=1e-6)


class _Constant(torch.nn.Module):
    """Predictions that ignore the input: VAT has nothing to smooth."""

    def __init__(self):
        super().__init__()
        self.bias = torch.nn.Parameter(torch.tensor([0.3, -0.2]))

    def forward(self, x):
        return self.bias.expand(x.shape[0], 2), x.flatten(1)


class _Linear(torch.nn.Module):
    def __init__(self, scale):
        super().__init__()
        self.lin = torch.nn.Linear(8, 2)
        self.scale = scale

    def forward(self, x):
        return self.scale * self.lin(x.flatten(1)), x.flatten(1)


def test_vat_is_zero_for_an_input_free_model_and_grows_with_sensitivity():
    from skrcd.nn import vat_loss

    torch.manual_seed(0)
    x = torch.randn(16, 2, 4)
    model = _Constant()
    assert float(vat_loss(model, x, model(x)[0])) == pytest.approx(0.0, abs=1e-7)
    torch.manual_seed(0)
    gentle, steep = _Linear(0.1), _Linear(10.0)
    steep.lin.load_state_dict(gentle.lin.state_dict())
    assert float(vat_loss(steep, x, steep(x)[0])) > 10 * float(vat_loss(gentle, x, gentle(x)[0])) > 0


def test_vat_finds_the_most_sensitive_direction():
    from skrcd.nn import vat_loss

    class OneAxis(torch.nn.Module):  # only input coordinate 0 matters
        def forward(self, x):
            z = 3.0 * x[:, 0, :1]
            return torch.cat([z, -z], dim=1), x.flatten(1)

    model, x = OneAxis(), torch.zeros(4, 2, 4)
    radius = 0.5
    loss = vat_loss(model, x, model(x)[0], radius=radius, n_power=2)
    # the best perturbation puts all of its norm on coordinate 0: logits +-1.5 from 0
    p_adv = torch.softmax(torch.tensor([3.0 * radius, -3.0 * radius]), 0)
    expected = float((0.5 * (torch.log(torch.tensor(0.5)) - torch.log(p_adv))).sum())
    assert float(loss) == pytest.approx(expected, rel=1e-3)


def test_conditional_adversarial_loss_feeds_features_times_predictions():
    from skrcd.nn import conditional_adversarial_loss

    seen = []

    class Recorder(torch.nn.Module):
        def forward(self, z):
            seen.append(z.detach())
            return torch.zeros(z.shape[0], 2)  # outputs carry no information: CE = log 2

    f_s, f_t = torch.tensor([[1.0, 2.0]]), torch.tensor([[3.0, 4.0]])
    z_s, z_t = torch.tensor([[0.0, 100.0, 0.0]]), torch.tensor([[100.0, 0.0, 0.0]])  # class 1 / class 0
    loss = conditional_adversarial_loss(Recorder(), f_s, z_s, f_t, z_t, entropy_conditioning=True)
    assert float(loss) == pytest.approx(math.log(2), abs=1e-6)
    expected = torch.tensor([[0.0, 0.0, 1.0, 2.0, 0.0, 0.0], [3.0, 4.0, 0.0, 0.0, 0.0, 0.0]])
    assert torch.allclose(seen[0], expected, atol=1e-6)


def test_entropy_conditioning_weighs_confident_samples_more():
    from skrcd.nn import conditional_adversarial_loss

    class PerSample(torch.nn.Module):  # row i's loss is known: CE of logits (0, c_i) for label 0/1
        def __init__(self, c):
            super().__init__()
            self.c = c

        def forward(self, z):
            return torch.stack([torch.zeros_like(self.c), self.c], dim=1)

    c = torch.tensor([0.0, 3.0, 0.0, 0.0])  # source rows 0-1, target rows 2-3
    f = torch.ones(2, 2)
    confident, unsure = torch.tensor([50.0, 0.0]), torch.tensor([0.0, 0.0])
    z_s = torch.stack([unsure, confident])  # row 1 (the high-loss one) is confident
    z_t = torch.stack([unsure, unsure])
    weighted = conditional_adversarial_loss(PerSample(c), f, z_s, f, z_t, entropy_conditioning=True)
    plain = conditional_adversarial_loss(PerSample(c), f, z_s, f, z_t, entropy_conditioning=False)
    ce = torch.nn.functional.cross_entropy(torch.stack([torch.zeros(4), c], 1), torch.tensor([0, 0, 1, 1]),
                                           reduction="none")
    w_conf, w_unsure = 2.0, 1.0 + 0.5  # 1 + exp(-H): H = 0 and H = log 2
    expected = 0.5 * (ce[0] * w_unsure + ce[1] * w_conf) / (w_unsure + w_conf) + 0.5 * (ce[2] + ce[3]) / 2
    assert float(weighted) == pytest.approx(float(expected), rel=1e-5)
    assert float(plain) == pytest.approx(float(ce.mean()), rel=1e-5)
