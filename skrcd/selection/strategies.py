"""Sample-selection strategies plugged into the distillation stage.

A strategy decides, per episode, which target samples of a mini-batch are used
for distillation (action 1) and which are skipped (action 0), and may learn from
what happened. RCD-KD's reinforced selector is one strategy; the "full samples"
and "random subset" ablations are others, so every variant shares one loop.
"""

from __future__ import annotations

import torch

from .rewards import selection_reward
from .dqn import DQNSelector

__all__ = ["SelectionStrategy", "SelectAll", "SelectRandom", "ReinforcedSelection", "make_selection"]


class SelectionStrategy:
    """Base class: select everything, learn nothing.

    Subclasses override :meth:`select` and, if they learn, :meth:`observe`.

    Attributes
    ----------
    needs_teacher_uncertainty : bool
        Whether :meth:`observe` needs the teacher's MC-dropout predictions (the
        distillation stage skips computing them otherwise).

    Examples
    --------
    A strategy that distils the first half of each target batch; pass an instance
    as ``RCDKDClassifier(selection=FirstHalf())``:

    >>> import torch
    >>> class FirstHalf(SelectionStrategy):
    ...     def select(self, state, episode):
    ...         action = torch.zeros(state.shape[0], dtype=torch.long, device=state.device)
    ...         action[: state.shape[0] // 2] = 1
    ...         return action
    >>> FirstHalf().select(torch.zeros(4, 8), episode=0).tolist()
    [1, 1, 0, 0]
    >>> SelectionStrategy().select(torch.zeros(3, 8), episode=0).tolist()  # the base class selects all
    [1, 1, 1]
    """

    needs_teacher_uncertainty = False

    def setup(self, state_dim, device, generator=None):
        """Build whatever needs the state size and device (called once per fit).

        Examples
        --------
        >>> import torch
        >>> strategy = make_selection("rl", hidden=16)
        >>> strategy.setup(state_dim=8, device=torch.device("cpu"))
        >>> strategy.selector.state_dim
        8
        """

    def on_epoch_begin(self, epoch):
        """Called at the start of each student epoch (0-based).

        Examples
        --------
        >>> import torch
        >>> s = SelectRandom(rate=[1.0, 0.0])  # one rate per epoch
        >>> s.on_epoch_begin(1)
        >>> s.select(torch.zeros(3, 4), episode=0).tolist()
        [0, 0, 0]
        """

    def select(self, state, episode):
        """Return a long tensor of 0/1 actions, one per row of ``state``.

        Examples
        --------
        >>> import torch
        >>> SelectAll().select(torch.zeros(2, 4), episode=0).tolist()
        [1, 1]
        """
        return torch.ones(state.shape[0], dtype=torch.long, device=state.device)

    def observe(self, state, action, student_probs, teacher_probs, episode, last):
        """Learn from one episode; return a dict of detached tensors to log.

        ``student_probs`` and ``teacher_probs`` are the student's predictions and
        the teacher's mean MC-dropout predictions on the batch; ``last`` marks the
        batch's last episode.

        Examples
        --------
        >>> import torch
        >>> strategy = make_selection("rl", hidden=16)
        >>> strategy.setup(4, torch.device("cpu"))
        >>> s = torch.randn(6, 4)
        >>> p = torch.full((6, 3), 1 / 3)
        >>> logs = strategy.observe(s, strategy.select(s, 0), p, p, episode=0, last=False)
        >>> sorted(logs)
        ['reward']
        >>> SelectAll().observe(s, None, p, p, 0, True)  # nothing to learn
        {}
        """
        return {}

    def state_dict(self):
        """Learned state between epochs, for checkpoints (plain tensors and values).

        Examples
        --------
        >>> SelectAll().state_dict()
        {}
        """
        return {}

    def load_state_dict(self, state):
        """Restore what :meth:`state_dict` returned."""


class SelectAll(SelectionStrategy):
    """Distil every target sample (the paper's "full samples" ablation).

    Examples
    --------
    >>> import torch
    >>> SelectAll().select(torch.zeros(3, 4), episode=0)
    tensor([1, 1, 1])
    """


class SelectRandom(SelectionStrategy):
    """Distil a random subset of each batch.

    Parameters
    ----------
    rate : float or sequence of float, default=0.5
        Probability that a sample is selected; a sequence gives one rate per
        student epoch (e.g. the per-epoch rate an RL selector chose), the last
        value repeating.

    Examples
    --------
    >>> import torch
    >>> _ = torch.manual_seed(0)
    >>> s = SelectRandom(rate=1.0)
    >>> s.select(torch.zeros(3, 4), episode=0)
    tensor([1, 1, 1])
    """

    def __init__(self, rate=0.5):
        self.rate = rate
        self._epoch = 0

    def on_epoch_begin(self, epoch):
        self._epoch = epoch

    def _current_rate(self):
        if isinstance(self.rate, (int, float)):
            return float(self.rate)
        rates = list(self.rate)
        return float(rates[min(self._epoch, len(rates) - 1)])

    def select(self, state, episode):
        p = torch.full((state.shape[0],), self._current_rate(), device=state.device)
        return torch.bernoulli(p).long()


class ReinforcedSelection(SelectionStrategy):
    """RCD-KD's reinforced selector: a dueling double DQN with noisy layers.

    The state of a sample is the student's (detached) feature vector; transitions
    ``(s, a, r, s', done)`` link a sample's state in one episode with its state in
    the next, ``done`` at the last episode or when the sample was skipped; after
    each episode the agent makes one double-DQN update (once its memory is warm).

    Parameters
    ----------
    alpha1 : float, default=0.2
        Weight of the uncertainty-consistency reward.
    alpha2 : float, default=1.8
        Weight of the transferability reward.
    reward_baseline : {"batch", "class"}, default="class"
        "Below the mean" against the batch mean (the paper) or against the mean
        of the samples of the same teacher-predicted class in the batch.
    **selector_params
        Passed to :class:`skrcd.selection.dqn.DQNSelector` (``hidden``, ``sigma0``,
        ``gamma``, ``lr``, ``batch_size``, ``memory_capacity``, ``learning_starts``,
        ``target_tau``).

    Examples
    --------
    >>> import torch
    >>> strat = ReinforcedSelection(hidden=8)
    >>> strat.setup(state_dim=4, device="cpu")
    >>> a = strat.select(torch.randn(5, 4), episode=0)
    >>> a.shape
    torch.Size([5])
    """

    needs_teacher_uncertainty = True

    def __init__(self, alpha1=0.2, alpha2=1.8, reward_baseline="class", **selector_params):
        self.alpha1, self.alpha2, self.reward_baseline = alpha1, alpha2, reward_baseline
        self.selector_params = selector_params
        self.selector = None
        self._pending = None
        self._generator = None

    def setup(self, state_dim, device, generator=None):
        if self.selector is None:
            self.selector = DQNSelector(state_dim, **self.selector_params).to(device)
        self.selector.train()
        self._generator = generator

    def select(self, state, episode):
        return self.selector.act(state)

    def state_dict(self):
        """The selector's networks and noise, its replay memory and its optimiser.

        Examples
        --------
        >>> strat = ReinforcedSelection(hidden=8)
        >>> strat.setup(state_dim=4, device="cpu")
        >>> sorted(strat.state_dict())
        ['memory', 'optimizer', 'selector']
        """
        sel = self.selector
        if sel is None:
            return {}
        return {
            "selector": sel.state_dict(),
            "memory": None if sel.memory is None else sel.memory.state_dict(),
            "optimizer": None if sel.optimizer is None else sel.optimizer.state_dict(),
        }

    def load_state_dict(self, state):
        if not state:
            return
        sel = self.selector
        self._pending = None  # epochs end with the last episode: nothing pending
        sel.load_state_dict(state["selector"])
        if state["memory"] is not None or state["optimizer"] is not None:
            sel._lazy_init()
        if state["memory"] is not None:
            sel.memory.load_state_dict(state["memory"])
        if state["optimizer"] is not None:
            sel.optimizer.load_state_dict(state["optimizer"])

    def observe(self, state, action, student_probs, teacher_probs, episode, last):
        reward = selection_reward(action, student_probs, teacher_probs, self.alpha1, self.alpha2,
                                  self.reward_baseline)
        if self._pending is not None:  # the previous episode's transitions end in this state
            s, a, r, d = self._pending
            self.selector.remember(s, a, r, state, d)
        done = (action == 0).float()
        if last:
            self.selector.remember(state, action, reward, state, torch.ones_like(done))
            self._pending = None
        else:
            self._pending = (state, action, reward, done)
        logs = {"reward": reward.mean()}
        loss = self.selector.learn(self._generator)
        if loss is not None:
            logs["dqn_loss"] = loss
        return logs


def make_selection(selection, **params):
    """Build a strategy from its name (``"rl"``, ``"all"``, ``"random"``) or pass one through.

    Parameters
    ----------
    selection : str or SelectionStrategy
        Strategy name or instance.
    **params
        For ``"rl"``: ``alpha1``, ``alpha2`` and the DQN settings; for
        ``"random"``: ``rate``.

    Returns
    -------
    SelectionStrategy

    Examples
    --------
    >>> type(make_selection("all")).__name__
    'SelectAll'
    """
    if isinstance(selection, SelectionStrategy):
        return selection
    if selection == "rl":
        return ReinforcedSelection(**params)
    if selection == "all":
        return SelectAll()
    if selection == "random":
        return SelectRandom(**params)
    raise ValueError(f"selection must be 'rl', 'all', 'random' or a SelectionStrategy, got {selection!r}")
