"""What the building blocks' methods do, one test each (the docstrings keep one example per class).

Selector (noisy layers, replay memory, double DQN), selection strategies, stage and teacher-cache state, the
channel scaler.
"""

import copy
import math

import numpy as np
import pytest
import torch

from skrcd.nn import CNN1D, DomainDiscriminator
from skrcd.selection import SelectAll, SelectionStrategy, SelectRandom, make_selection
from skrcd.selection.dqn import DQNSelector, DuelingQNetwork, NoisyLinear, ReplayMemory
from skrcd.selection.strategies import ReinforcedSelection
from skrcd.training import DomainTensors, TeacherOutputs
from skrcd.training.stages import SourceOnlyStage
from skrcd.transformers import ChannelStandardScaler


def _push(mem_or_agent, n, state_dim, reward=1.0, seed=0):
    g = torch.Generator().manual_seed(seed)
    s = torch.randn(n, state_dim, generator=g)
    a = torch.randint(0, 2, (n,), generator=g)
    add = mem_or_agent.push if isinstance(mem_or_agent, ReplayMemory) else mem_or_agent.remember
    add(s, a, torch.full((n,), reward), s + 1, torch.zeros(n))
    return s, a


def test_get_config_returns_the_constructor_settings():
    disc = DomainDiscriminator(32, hidden=16)
    assert disc.get_config() == {"in_features": 32, "hidden": 16}
    assert DomainDiscriminator(**disc.get_config()).get_config() == disc.get_config()


def test_noisy_layer_draws_new_noise_in_training_and_none_in_eval():
    torch.manual_seed(0)
    layer = NoisyLinear(4, 2)
    x = torch.ones(1, 4)
    before = layer(x)
    assert torch.equal(before, layer(x))  # the noise stays until reset
    layer.reset_noise()
    assert not torch.equal(before, layer(x))
    layer.eval()
    mean = torch.nn.functional.linear(x, layer.weight_mu, layer.bias_mu)
    torch.testing.assert_close(layer(x), mean)  # eval: the mean weights


def test_dueling_network_reset_noise_redraws_every_noisy_layer():
    net = DuelingQNetwork(4, hidden=8)
    noisy = [m for m in net.modules() if isinstance(m, NoisyLinear)]
    before = [m.eps_in.clone() for m in noisy]
    net.reset_noise()
    assert len(noisy) >= 2 and all(not torch.equal(b, m.eps_in) for b, m in zip(before, noisy))


def test_replay_memory_keeps_the_newest_transitions_within_its_capacity():
    mem = ReplayMemory(capacity=5, state_dim=2)
    for i in range(3):
        mem.push(torch.full((4, 2), float(i)), torch.ones(4, dtype=torch.long), torch.full((4,), float(i)),
                 torch.zeros(4, 2), torch.zeros(4))
    assert len(mem) == 5 and mem.state.shape == (5, 2)  # 12 pushed, 5 kept, no more memory
    assert sorted(mem.reward.tolist()) == [1.0, 2.0, 2.0, 2.0, 2.0]  # the oldest were overwritten


def test_replay_memory_samples_stored_transitions_reproducibly():
    mem = ReplayMemory(capacity=8, state_dim=3)
    s, a = _push(mem, 4, 3)
    one = mem.sample(6, generator=torch.Generator().manual_seed(0))
    two = mem.sample(6, generator=torch.Generator().manual_seed(0))
    assert [tuple(t.shape) for t in one] == [(6, 3), (6,), (6,), (6, 3), (6,)]
    assert all(torch.equal(x, y) for x, y in zip(one, two))
    stored = {tuple(row.tolist()) for row in s}
    assert all(tuple(row.tolist()) in stored for row in one[0])


def test_replay_memory_state_round_trips():
    mem = ReplayMemory(capacity=4, state_dim=2)
    _push(mem, 3, 2)
    copy_ = ReplayMemory(capacity=4, state_dim=2)
    copy_.load_state_dict(mem.state_dict())
    assert len(copy_) == 3 and torch.equal(copy_.state, mem.state) and torch.equal(copy_.action, mem.action)
    empty = ReplayMemory(capacity=4, state_dim=2)
    copy_.load_state_dict(empty.state_dict())
    assert len(copy_) == 0


def test_selector_acts_once_per_state_and_remembers_every_transition():
    agent = DQNSelector(state_dim=8, hidden=16, memory_capacity=10)
    s = torch.randn(5, 8)
    actions = agent.act(s)
    assert actions.shape == (5,) and set(actions.tolist()) <= {0, 1}
    agent.remember(s, actions, torch.ones(5), s, torch.zeros(5))
    assert len(agent.memory) == 5


def test_double_dqn_target_is_the_reward_for_a_finished_transition_and_discounts_otherwise():
    agent = DQNSelector(state_dim=4, hidden=8, gamma=0.9)
    reward, nxt = torch.tensor([0.5, 0.5]), torch.zeros(2, 4)
    target = agent.double_dqn_target(reward, nxt, torch.tensor([1.0, 0.0]))
    assert target[0].item() == pytest.approx(0.5)
    with torch.no_grad():  # the online network picks the action, the target network values it
        best = agent.online(nxt).argmax(1)
        value = agent.target(nxt).gather(1, best[:, None]).squeeze(1)
    assert target[1].item() == pytest.approx(0.5 + 0.9 * value[1].item(), abs=1e-5)


def test_learn_waits_for_learning_starts_then_returns_a_finite_loss():
    agent = DQNSelector(state_dim=4, hidden=8, learning_starts=5)
    _push(agent, 4, 4)
    assert agent.learn() is None  # 4 transitions: not more than learning_starts yet
    _push(agent, 4, 4, seed=1)
    loss = agent.learn()
    assert loss.ndim == 0 and torch.isfinite(loss)


def test_release_training_state_drops_memory_and_optimiser_but_keeps_acting():
    agent = DQNSelector(state_dim=4, hidden=8)
    _push(agent, 3, 4)
    agent.release_training_state()
    assert agent.memory is None and agent.optimizer is None and not agent.training
    assert agent.act(torch.randn(2, 4)).shape == (2,)


def test_a_strategy_builds_its_selector_for_the_state_size():
    strategy = make_selection("rl", hidden=16)
    strategy.setup(state_dim=8, device=torch.device("cpu"))
    assert strategy.selector.state_dim == 8
    assert SelectionStrategy().state_size(32, n_classes=6) == 32


def test_the_base_strategy_uses_the_features_as_state_and_actions_as_weights():
    features = torch.arange(6.0).reshape(2, 3)
    assert torch.equal(SelectionStrategy().make_state(features, None, None), features)
    assert SelectionStrategy().weights(torch.tensor([1, 0, 1])).tolist() == [1, 0, 1]


def test_random_selection_follows_its_rate_per_epoch():
    s = SelectRandom(rate=[1.0, 0.0])  # one rate per epoch
    s.on_epoch_begin(0)
    assert s.select(torch.zeros(3, 4), episode=0).tolist() == [1, 1, 1]
    s.on_epoch_begin(1)
    assert s.select(torch.zeros(3, 4), episode=0).tolist() == [0, 0, 0]
    assert SelectAll().select(torch.zeros(2, 4), episode=0).tolist() == [1, 1]


def test_observe_rewards_the_reinforced_selection_and_nothing_else():
    strategy = make_selection("rl", hidden=16)
    strategy.setup(4, torch.device("cpu"))
    s = torch.randn(6, 4)
    p = torch.full((6, 3), 1 / 3)
    logs = strategy.observe(s, strategy.select(s, 0), p, p, episode=0, last=False)
    assert sorted(logs) == ["reward"] and math.isfinite(logs["reward"])
    assert len(strategy.selector.memory) == 0  # an episode's transitions wait for the next state
    strategy.observe(s, strategy.select(s, 1), p, p, episode=1, last=True)
    assert len(strategy.selector.memory) == 12  # both episodes', the last one ending the batch
    assert SelectAll().observe(s, None, p, p, 0, True) == {}


def test_strategy_state_dicts_hold_what_resuming_needs():
    assert SelectAll().state_dict() == {}
    strat = ReinforcedSelection(hidden=8)
    strat.setup(state_dim=4, device="cpu")
    assert sorted(strat.state_dict()) == ["memory", "optimizer", "selector"]


def _stage():
    data = DomainTensors(torch.randn(4, 2, 16), torch.tensor([0, 1, 0, 1]), torch.randn(4, 2, 16))
    torch.manual_seed(0)
    return SourceOnlyStage(CNN1D(2, 2, (4, 4, 4)), data)


def test_a_stage_state_rolls_back_a_training_step():
    stage = _stage()
    assert sorted(stage.state_dict()) == ["modules", "optimizer"]
    saved = copy.deepcopy(stage.state_dict())
    stage.train_step(torch.arange(4), torch.arange(4), 0.0)
    assert not torch.equal(stage.model.head.weight, saved["modules"][0]["head.weight"])
    stage.load_state_dict(saved)
    assert torch.equal(stage.model.head.weight, saved["modules"][0]["head.weight"])


def _outputs():
    data = DomainTensors(torch.randn(4, 2, 16), torch.tensor([0, 1, 0, 1]), torch.randn(3, 2, 16))
    torch.manual_seed(0)
    return TeacherOutputs(CNN1D(2, 2, (4, 4, 4)), data, mc_passes=2)


def test_a_prior_shift_moves_the_teacher_logits_and_keeps_probabilities_normalised():
    outputs = _outputs()
    plain, _, _ = outputs.batch(torch.arange(2), torch.arange(3))
    outputs.set_prior_shift(torch.tensor([0.0, math.log(2.0)]))
    shifted, _, mc = outputs.batch(torch.arange(2), torch.arange(3))
    torch.testing.assert_close(shifted - plain, torch.tensor([0.0, math.log(2.0)]).expand(3, 2))
    torch.testing.assert_close(mc.sum(1), torch.ones(3))


def test_the_teacher_cache_state_round_trips():
    outputs = _outputs()
    assert outputs.state_dict()["tgt_mc"].shape == (3, 2)
    outputs.load_state_dict({"tgt_mc": torch.full((3, 2), 0.5)})
    assert float(outputs.tgt_mc.sum()) == 3.0


def test_channel_scaler_learns_per_channel_statistics_and_standardises():
    X = np.stack([np.zeros((3, 8)), np.full((3, 8), 4.0)], axis=1)  # (3, 2 channels, 8)
    assert ChannelStandardScaler().fit(X).mean_.tolist() == [0.0, 4.0]
    X2 = np.arange(12, dtype=float).reshape(3, 4)  # 2D: 3 univariate series
    Xt = ChannelStandardScaler().fit(X2).transform(X2)
    assert Xt.shape == (3, 4)
    assert Xt.mean() == pytest.approx(0.0, abs=1e-6) and Xt.std() == pytest.approx(1.0, abs=1e-6)
