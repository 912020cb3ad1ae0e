import pytest
import torch

from skrcd.selection.strategies import ReinforcedSelection, SelectAll, SelectRandom, make_selection


def test_reinforced_selection_links_episodes_and_marks_done():
    torch.manual_seed(0)
    strat = ReinforcedSelection(hidden=8, learning_starts=1000)
    strat.setup(state_dim=3, device="cpu")
    states = [torch.full((4, 3), float(e)) for e in range(3)]
    probs = torch.full((4, 2), 0.5)
    actions = [torch.tensor([1, 0, 1, 0])] * 3
    for e in range(3):
        strat.observe(states[e], actions[e], probs, probs, e, last=e == 2)
    mem = strat.selector.memory
    assert len(mem) == 12
    # episode 0 -> next state is episode 1's state; done where skipped
    assert torch.equal(mem.state[:4], states[0]) and torch.equal(mem.next_state[:4], states[1])
    assert mem.done[:4].tolist() == [0.0, 1.0, 0.0, 1.0]
    # last episode: done everywhere
    assert mem.done[8:12].tolist() == [1.0] * 4


def test_other_strategies():
    s = torch.zeros(1000, 2)
    assert SelectAll().select(s, 0).sum().item() == 1000
    torch.manual_seed(0)
    rnd = SelectRandom(rate=[0.2, 0.8])
    assert abs(rnd.select(s, 0).float().mean().item() - 0.2) < 0.05
    rnd.on_epoch_begin(5)  # past the schedule: the last rate repeats
    assert abs(rnd.select(s, 0).float().mean().item() - 0.8) < 0.05
    with pytest.raises(ValueError, match="selection must be"):
        make_selection("best")


def test_informed_state_carries_what_the_rewards_read():
    from skrcd.selection.rewards import entropy, kl_divergence

    strat = ReinforcedSelection(hidden=8, state="informed")
    assert strat.state_size(5, n_classes=3) == 5 + 2 * 3 + 7
    feats = torch.randn(4, 5)
    student = torch.tensor([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.3, 0.3, 0.4], [0.6, 0.3, 0.1]])
    teacher = torch.tensor([[0.9, 0.05, 0.05], [0.2, 0.7, 0.1], [0.1, 0.1, 0.8], [0.5, 0.4, 0.1]])
    state = strat.make_state(feats, student, teacher)
    assert state.shape == (4, 18)
    assert torch.equal(state[:, :5], feats) and torch.equal(state[:, 5:8], student) and torch.equal(state[:, 8:11], teacher)
    kl = kl_divergence(student, teacher)
    assert torch.allclose(state[:, 13], kl)
    assert torch.allclose(state[:, 11], entropy(student)) and torch.allclose(state[:, 12], entropy(teacher))
    # KL relative to the teacher-predicted class: rows 0 and 3 share class 0, rows 1 and 2 are alone (batch mean)
    assert torch.allclose(state[[0, 3], 16], kl[[0, 3]] - kl[[0, 3]].mean())
    assert torch.allclose(state[[1, 2], 16], kl[[1, 2]] - kl.mean())
    assert torch.allclose(state[:, 17], teacher.max(1).values)
    assert torch.equal(ReinforcedSelection(hidden=8).make_state(feats, student, teacher), feats)


def test_soft_weights_are_the_sigmoid_of_the_q_advantage():
    torch.manual_seed(0)
    strat = ReinforcedSelection(hidden=8, weighting="soft")
    strat.setup(state_dim=4, device="cpu")
    s = torch.randn(6, 4)
    action = strat.select(s, 0)
    q = strat.selector.online(s)
    w = strat.weights(action)
    assert torch.allclose(w, torch.sigmoid(q[:, 1] - q[:, 0]))
    assert torch.equal(action, (w > 0.5).long())  # the greedy action is the weight's side of 1/2
    hard = ReinforcedSelection(hidden=8)
    hard.setup(state_dim=4, device="cpu")
    a = hard.select(s, 0)
    assert hard.weights(a) is a


def test_confident_selection_keeps_the_surest_share_of_every_teacher_class():
    from skrcd.selection import SelectConfident

    g = torch.Generator().manual_seed(0)
    teacher = torch.softmax(3 * torch.randn(60, 3, generator=g), dim=1)
    teacher[:3] = torch.tensor([0.1, 0.1, 0.8])  # make sure class 2 is predicted a few times
    s = SelectConfident(quantile=0.5)
    action = s.select(s.make_state(None, None, teacher), 0)
    conf, cls = teacher.max(1)
    for c in range(3):
        members = cls == c
        picked, rest = conf[members & (action == 1)], conf[members & (action == 0)]
        assert len(picked) >= 1  # no class is dropped
        assert abs(len(picked) - members.sum().item() / 2) <= 0.5
        if len(rest):
            assert picked.min() >= rest.max()


def test_bias_noise_out_explores_more_at_the_output():
    from skrcd.selection.dqn import NoisyLinear

    narrow_in, narrow_out = NoisyLinear(128, 1, 0.4, "in"), NoisyLinear(128, 1, 0.4, "out")
    assert float(narrow_out.bias_sigma) == pytest.approx(0.4) and float(narrow_in.bias_sigma) == pytest.approx(
        0.4 / 128 ** 0.5)
    with pytest.raises(ValueError, match="bias_noise"):
        NoisyLinear(4, 2, 0.4, "both")


def test_selection_defaults_agree_with_the_estimator():
    import inspect

    from skrcd import RCDKDClassifier
    from skrcd.selection import ReinforcedSelection, selection_reward
    from skrcd.selection.dqn import DQNSelector

    est = RCDKDClassifier().get_params()

    def defaults(f):
        return {k: v.default for k, v in inspect.signature(f).parameters.items() if v.default is not v.empty}

    strat, reward, dqn = defaults(ReinforcedSelection), defaults(selection_reward), defaults(DQNSelector)
    pairs = [(strat["alpha1"], est["alpha1"]), (strat["alpha2"], est["alpha2"]),
             (strat["reward_baseline"], est["reward_baseline"]), (strat["state"], est["selector_state"]),
             (strat["weighting"], est["selection_weighting"]), (strat["reward_quantile"], est["reward_quantile"]),
             (reward["alpha1"], est["alpha1"]), (reward["alpha2"], est["alpha2"]),
             (reward["baseline"], est["reward_baseline"]), (reward["quantile"], est["reward_quantile"])]
    pairs += [(dqn[k], est[e]) for k, e in [("hidden", "selector_hidden"), ("sigma0", "selector_sigma0"),
                                            ("gamma", "selector_gamma"), ("lr", "selector_lr"),
                                            ("batch_size", "selector_batch_size"),
                                            ("memory_capacity", "memory_capacity"),
                                            ("learning_starts", "learning_starts"), ("target_tau", "selector_tau"),
                                            ("bias_noise", "selector_bias_noise")]]
    for library, estimator in pairs:
        assert library == estimator
