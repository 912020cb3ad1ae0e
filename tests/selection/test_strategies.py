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
