import torch

import pytest

from skrcd.nn.networks import (
    CNN1D,
    TCN,
    DomainDiscriminator,
    TeacherEnsemble,
    count_parameters,
    feature_size,
    grad_reverse,
)


def test_cnn_shapes_and_paper_parameter_counts():
    teacher = CNN1D(9, 6, channels=(64, 128, 128))
    student = CNN1D(9, 6, channels=(16, 32, 32))
    x = torch.randn(7, 9, 128)
    for net, d in ((teacher, 128), (student, 32)):
        logits, feats = net(x)
        assert logits.shape == (7, 6)
        assert feats.shape == (7, d)
        assert net.n_features == d
    # the figures: teacher about 201K, student about 13.4K, ratio about 15x
    assert count_parameters(teacher) == 200_902
    assert count_parameters(student) == 13_366
    assert 14 < count_parameters(teacher) / count_parameters(student) < 16


def test_cnn_block_structure():
    net = CNN1D(3, 2, kernel_size=5, stride=1)
    convs = [m for m in net.modules() if isinstance(m, torch.nn.Conv1d)]
    assert [c.kernel_size[0] for c in convs] == [5, 8, 8]
    assert [c.padding[0] for c in convs] == [2, 4, 4]
    assert all(c.bias is None for c in convs)
    pools = [m for m in net.modules() if isinstance(m, torch.nn.MaxPool1d)]
    assert len(pools) == 3 and all(p.padding == 1 for p in pools)
    drops = [m for m in net.modules() if isinstance(m, torch.nn.Dropout)]
    assert len(drops) == 3 and all(d.p == 0.5 for d in drops)


def test_cnn_accepts_other_lengths_and_strides():
    net = CNN1D(1, 9, kernel_size=32, stride=6)
    logits, _ = net(torch.randn(2, 1, 1024))
    assert logits.shape == (2, 9)
    assert CNN1D(2, 3)(torch.randn(2, 2, 5))[0].shape == (2, 3)


def test_tcn_is_causal():
    torch.manual_seed(0)
    net = TCN(2, 3, channels=(8, 8), kernel_size=5).eval()  # receptive field 1 + 2 * 4 * (1 + 2) = 25 steps
    x = torch.randn(1, 2, 20)
    last, first = x.clone(), x.clone()
    last[..., -1] += 10.0  # only the last step changes
    first[..., 0] += 10.0  # only the first step changes
    steps, steps_last, steps_first = net.blocks(x), net.blocks(last), net.blocks(first)
    assert torch.equal(steps_last[..., :-1], steps[..., :-1])  # no step sees a later one
    assert not torch.allclose(steps_last[..., -1], steps[..., -1])
    assert not torch.allclose(steps_first[..., -1], steps[..., -1])  # the feature step sees the whole window
    assert torch.equal(net(x)[1], steps[..., -1]) and net(x)[0].shape == (1, 3)
    # residual blocks: block 2 is dilated
    assert net.blocks[1].conv1.dilation[0] == 2


def test_discriminator_layout():
    disc = DomainDiscriminator(128)
    sizes = [(m.in_features, m.out_features) for m in disc.modules() if isinstance(m, torch.nn.Linear)]
    assert sizes == [(128, 64), (64, 64), (64, 2)]


def test_grad_reverse_scales_and_flips_the_gradient():
    x = torch.randn(4, requires_grad=True)
    grad_reverse(x, 0.3).sum().backward()
    assert torch.allclose(x.grad, torch.full((4,), -0.3))


@pytest.mark.parametrize("net", [CNN1D(3, 4, (8, 8, 8), kernel_size=7, stride=2, dropout=0.1),
                                 TCN(3, 4, channels=(8, 16), kernel_size=3, dropout=0.2),
                                 DomainDiscriminator(16, hidden=8)], ids=["cnn", "tcn", "discriminator"])
def test_networks_rebuild_from_their_config(net):
    config = net.get_config()
    again = type(net)(**config)
    assert again.get_config() == config
    again.load_state_dict(net.state_dict())  # same architecture: every tensor fits


def test_feature_size_of_module_without_attribute():
    class Bare(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = torch.nn.Linear(4, 5)

        def forward(self, x):
            f = self.lin(x.mean(-1))
            return f[:, :2], f

    assert feature_size(Bare(), 4, 10) == 5


class _Fixed(torch.nn.Module):
    """A member whose logits and features do not depend on the input."""

    def __init__(self, logits, feats):
        super().__init__()
        self.logits, self.feats = torch.tensor(logits), torch.tensor(feats)
        self.n_features = len(feats)

    def forward(self, x):
        n = x.shape[0]
        return self.logits.expand(n, -1), self.feats.expand(n, -1)


def test_teacher_ensemble_averages_probabilities_and_keeps_the_first_members_features():
    a = _Fixed([2.0, 0.0, 0.0], [1.0, 2.0])
    b = _Fixed([0.0, 0.0, 4.0], [7.0, 8.0, 9.0])
    logits, feats = TeacherEnsemble([a, b])(torch.zeros(3, 1, 5))
    pa, pb = a.logits.softmax(0), b.logits.softmax(0)
    assert torch.allclose(logits.softmax(dim=1), ((pa + pb) / 2).expand(3, -1), atol=1e-6)
    # not the softmax of the mean logits, which would favour the more confident member
    assert not torch.allclose(logits.softmax(dim=1)[0], ((a.logits + b.logits) / 2).softmax(0), atol=1e-3)
    assert torch.equal(feats, a.feats.expand(3, -1))
    assert TeacherEnsemble([a, b]).n_features == 2
    with pytest.raises(ValueError, match="at least one"):
        TeacherEnsemble([])


def test_teacher_ensemble_mc_dropout_samples_every_member_and_keeps_batchnorm_statistics():
    from skrcd.training.teacher_cache import mc_dropout_mode

    torch.manual_seed(0)
    members = [CNN1D(2, 3, (4, 4, 4), dropout=0.5) for _ in range(2)]
    ens = TeacherEnsemble(members)
    x = torch.randn(6, 2, 16)
    stats = [m.encoder[1].running_mean.clone() for m in members]
    with mc_dropout_mode(ens):
        for member in members:  # each member's own passes vary: its dropout is on
            assert not torch.equal(member(x)[0], member(x)[0])
        assert not torch.equal(ens(x)[0], ens(x)[0])
    for m, before in zip(members, stats):
        assert torch.equal(m.encoder[1].running_mean, before)


def test_teacher_ensemble_is_right_where_one_member_errs_unsurely():
    """Two teachers, each wrong on its own half of the windows with moderate confidence and right with high
    confidence elsewhere (the seed-to-seed variance averaging is for): the average is right on every window."""

    class Table(torch.nn.Module):
        def __init__(self, logits):
            super().__init__()
            self.table = logits
            self.n_features = 1

        def forward(self, x):
            idx = x[:, 0, 0].long()
            return self.table[idx], x[:, 0, :1]

    y = torch.tensor([0, 1, 2, 0, 1, 2])
    sure, unsure = 4.0, 1.0
    tables = []
    for wrong in (torch.arange(6) < 3, torch.arange(6) >= 3):
        logits = torch.zeros(6, 3)
        logits[torch.arange(6), y] = sure
        logits[wrong] = 0.0
        logits[wrong, (y[wrong] + 1) % 3] = unsure  # confidently enough wrong to change its argmax
        tables.append(logits)
    x = torch.arange(6.0).view(6, 1, 1)
    members = [Table(t) for t in tables]
    for member in members:
        assert (member(x)[0].argmax(1) == y).float().mean() == 0.5
    assert torch.equal(TeacherEnsemble(members)(x)[0].argmax(1), y)
