import torch

from skrcd.selection.dqn import DQNSelector, DuelingQNetwork, NoisyLinear, ReplayMemory


def test_noisy_linear_factorised_forward_equals_materialised_weight():
    torch.manual_seed(0)
    layer = NoisyLinear(6, 4, sigma0=0.4)
    x = torch.randn(5, 6)
    w = layer.weight_mu + layer.weight_sigma * torch.outer(layer.eps_out, layer.eps_in)
    b = layer.bias_mu + layer.bias_sigma * layer.eps_out
    assert torch.allclose(layer(x), x @ w.T + b, atol=1e-6)
    layer.eval()
    assert torch.allclose(layer(x), x @ layer.weight_mu.T + layer.bias_mu)


def test_noisy_linear_noise_changes_output_and_sigma_init():
    torch.manual_seed(0)
    layer = NoisyLinear(16, 3, sigma0=0.4)
    assert torch.allclose(layer.weight_sigma, torch.full((3, 16), 0.4 / 4))
    x = torch.randn(2, 16)
    y1 = layer(x)
    layer.reset_noise()
    assert not torch.allclose(y1, layer(x))


def test_dueling_network_layout_and_aggregation():
    net = DuelingQNetwork(32, n_actions=2, hidden=1024)
    assert isinstance(net.trunk[0], torch.nn.Linear) and net.trunk[0].in_features == 32
    assert [type(m).__name__ for m in net.value] == ["NoisyLinear", "ReLU", "NoisyLinear"]
    assert net.value[0].out_features == 1024 and net.value[2].out_features == 1
    assert net.advantage[2].out_features == 2
    net.eval()
    s = torch.randn(3, 32)
    h = net.trunk(s)
    v, a = net.value(h), net.advantage(h)
    assert torch.allclose(net(s), v + a - a.mean(1, keepdim=True), atol=1e-6)


def test_double_dqn_target_hand_made():
    agent = DQNSelector(state_dim=2, hidden=4, gamma=0.9)

    class Fixed(torch.nn.Module):
        def __init__(self, table):
            super().__init__()
            self.table = table

        def forward(self, s):
            return self.table[s[:, 0].long()]

        def reset_noise(self):
            pass

    # online prefers action 1 in state 0 and action 0 in state 1; the target's values are read there
    agent.online = Fixed(torch.tensor([[0.0, 5.0], [3.0, 1.0]]))
    agent.target = Fixed(torch.tensor([[10.0, 20.0], [30.0, 40.0]]))
    s2 = torch.tensor([[0.0, 0.0], [1.0, 0.0], [1.0, 0.0]])
    r = torch.tensor([1.0, -1.0, 0.5])
    done = torch.tensor([0.0, 0.0, 1.0])
    y = agent.double_dqn_target(r, s2, done)
    # 1 + 0.9*20 (target at online's argmax 1), -1 + 0.9*30 (argmax 0), done -> reward only
    assert torch.allclose(y, torch.tensor([19.0, 26.0, 0.5]))


def test_replay_memory_never_exceeds_capacity_and_overwrites_oldest():
    mem = ReplayMemory(capacity=10, state_dim=3)
    for i in range(7):
        s = torch.full((4, 3), float(i))
        mem.push(s, torch.zeros(4, dtype=torch.long), torch.full((4,), float(i)), s, torch.zeros(4))
        assert len(mem) <= 10
        assert mem.state.shape[0] == 10  # preallocated, never grows
    assert len(mem) == 10
    # 28 pushed: the 10 newest are rewards 6,6,6,6,5,5,5,5,4,4
    assert sorted(mem.reward.tolist()) == [4.0, 4.0, 5.0, 5.0, 5.0, 5.0, 6.0, 6.0, 6.0, 6.0]
    big = torch.arange(25.0)
    mem.push(big[:, None].repeat(1, 3), torch.zeros(25, dtype=torch.long), big, big[:, None].repeat(1, 3), big)
    assert len(mem) == 10 and sorted(mem.reward.tolist()) == list(range(15, 25))


def test_learning_waits_for_warm_memory_then_updates_and_soft_updates_target():
    torch.manual_seed(0)
    agent = DQNSelector(state_dim=4, hidden=8, learning_starts=20, target_tau=0.5)
    s = torch.randn(10, 4)
    a = agent.act(s)
    agent.remember(s, a, torch.ones(10), s, torch.zeros(10))
    assert agent.learn() is None  # 10 <= 20
    agent.remember(s, a, torch.ones(10), s, torch.zeros(10))
    agent.remember(s, a, torch.ones(10), s, torch.zeros(10))
    before_online = agent.online.trunk[0].weight.detach().clone()
    before_target = agent.target.trunk[0].weight.detach().clone()
    loss = agent.learn()
    assert loss is not None and torch.isfinite(loss)
    after_online = agent.online.trunk[0].weight.detach()
    after_target = agent.target.trunk[0].weight.detach()
    assert not torch.allclose(before_online, after_online)
    assert torch.allclose(after_target, before_target + 0.5 * (after_online - before_target), atol=1e-6)


def test_selector_rebuilds_from_its_config():
    agent = DQNSelector(state_dim=6, hidden=8, sigma0=0.3, gamma=0.8, lr=1e-3, batch_size=4, memory_capacity=50,
                        learning_starts=5, target_tau=0.01)
    config = agent.get_config()
    assert config == dict(state_dim=6, hidden=8, sigma0=0.3, gamma=0.8, lr=1e-3, batch_size=4, memory_capacity=50,
                          learning_starts=5, target_tau=0.01, bias_noise="in")
    DQNSelector(**config).load_state_dict(agent.state_dict())
