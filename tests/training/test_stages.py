"""The training stages: what one step does."""

import pytest
import torch

from skrcd.nn.losses import domain_adversarial_loss
from skrcd.nn.networks import CNN1D, DomainDiscriminator
from skrcd.selection import SelectionStrategy
from skrcd.training import DistillationStage, DomainTensors, TeacherOutputs


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
