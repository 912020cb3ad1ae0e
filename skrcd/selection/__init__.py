"""RCD-KD's sample selection: the strategies plugged into distillation, the DQN agent and its rewards.

- :mod:`skrcd.selection.strategies`: which target samples each episode distils
  (the reinforced selector, every sample, a random subset, the teacher's most
  confident share of each class, or your own
  :class:`SelectionStrategy`);
- :mod:`skrcd.selection.dqn`: the dueling double DQN with noisy layers and its
  replay memory;
- :mod:`skrcd.selection.rewards`: the uncertainty-consistency and
  transferability rewards, vectorised in torch.
"""

from .dqn import DQNSelector, DuelingQNetwork, NoisyLinear, ReplayMemory
from .rewards import selection_reward
from .strategies import (
    ReinforcedSelection,
    SelectAll,
    SelectConfident,
    SelectionStrategy,
    SelectRandom,
    class_balanced_weights,
    make_selection,
)

__all__ = [
    "SelectionStrategy",
    "SelectAll",
    "SelectRandom",
    "SelectConfident",
    "ReinforcedSelection",
    "make_selection",
    "class_balanced_weights",
    "DQNSelector",
    "DuelingQNetwork",
    "NoisyLinear",
    "ReplayMemory",
    "selection_reward",
]
