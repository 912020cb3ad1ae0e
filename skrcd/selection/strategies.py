"""Sample-selection strategies plugged into the distillation stage.

A strategy decides, per episode, which target samples of a mini-batch are used
for distillation (action 1) and which are skipped (action 0), and may learn from
what happened. RCD-KD's reinforced selector is one strategy; the "full samples"
and "random subset" ablations are others, so every variant shares one loop.
"""

from __future__ import annotations

import torch

from .dqn import DQNSelector
from .rewards import _baseline, entropy, kl_divergence, rank_fraction, selection_reward

__all__ = ["SelectionStrategy", "SelectAll", "SelectRandom", "SelectConfident", "ReinforcedSelection",
           "make_selection", "class_balanced_weights"]


def class_balanced_weights(weight, groups, n_groups):
    """Rescale distillation weights within each group so that every group keeps its whole mass.

    In each group (the teacher's predicted class of each window of a batch) the
    weights are scaled to sum to the group's number of windows, and a group whose
    windows all have weight 0 gets weight 1 on each: a selection then decides
    which windows of a class teach the student, never whether the class is
    taught. Small classes, whose windows the student has not learned yet and so
    look least "transferable" to the rewards, cannot be starved this way.

    Parameters
    ----------
    weight : torch.Tensor of shape (n,)
        The selection's weights (0/1 actions or soft weights).
    groups : torch.Tensor of shape (n,), long
    n_groups : int

    Returns
    -------
    torch.Tensor of shape (n,), float

    Examples
    --------
    >>> import torch
    >>> w = torch.tensor([1, 0, 0, 0, 1])
    >>> g = torch.tensor([0, 0, 1, 1, 2])
    >>> class_balanced_weights(w, g, 3).tolist()  # class 0: one of two selected; class 1: none, so all
    [2.0, 0.0, 1.0, 1.0, 1.0]
    """
    w = weight.to(torch.float32)
    ones = torch.ones_like(w)
    count = torch.zeros(n_groups, dtype=w.dtype, device=w.device).index_add_(0, groups, ones)
    mass = torch.zeros(n_groups, dtype=w.dtype, device=w.device).index_add_(0, groups, w)
    scale = count / mass.clamp_min(1e-12)
    return torch.where(mass[groups] > 0, w * scale[groups], ones)


class SelectionStrategy:
    """Base class: select everything, learn nothing.

    Subclasses override :meth:`select` and, if they learn, :meth:`observe`; what a
    strategy decides on is :meth:`make_state` (the student's features by default)
    and what the distillation loss weighs each sample with is :meth:`weights` (the
    0/1 actions by default).

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

    @property
    def last_advantage(self):
        """``Q(select) - Q(skip)`` of the samples of the last :meth:`select` call, or None (no Q-values here)."""
        return None

    def setup(self, state_dim, device, generator=None):
        """Build whatever needs the state size and device (called once per fit)."""

    def state_size(self, feature_size, n_classes):
        """Size of a row of :meth:`make_state` (the state the strategy decides on)."""
        return feature_size

    def make_state(self, features, student_probs, teacher_probs):
        """The state of each target sample: here the student's detached features.

        Parameters
        ----------
        features : torch.Tensor of shape (n, d)
            The student's features (detached).
        student_probs : torch.Tensor of shape (n, n_classes)
            The student's softmax predictions.
        teacher_probs : torch.Tensor of shape (n, n_classes) or None
            The teacher's mean MC-dropout predictions (None unless
            ``needs_teacher_uncertainty``).

        Returns
        -------
        torch.Tensor of shape (n, state_size)
        """
        return features

    def weights(self, action):
        """Per-sample weights of the distillation loss for the actions just chosen (the 0/1 actions here)."""
        return action

    def on_epoch_begin(self, epoch):
        """Called at the start of each student epoch (0-based)."""

    def select(self, state, episode):
        """Return a long tensor of 0/1 actions, one per row of ``state``."""
        return torch.ones(state.shape[0], dtype=torch.long, device=state.device)

    def observe(self, state, action, student_probs, teacher_probs, episode, last):
        """Learn from one episode; return a dict of detached tensors to log.

        ``student_probs`` and ``teacher_probs`` are the student's predictions and
        the teacher's mean MC-dropout predictions on the batch; ``last`` marks the
        batch's last episode.
        """
        return {}

    def state_dict(self):
        """Learned state between epochs, for checkpoints (plain tensors and values)."""
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


class SelectConfident(SelectionStrategy):
    """Distil the most confident share of each teacher-predicted class (no learning; an ablation of the selector).

    In each batch, the samples are grouped by the class the teacher's mean
    MC-dropout prediction picks, and the ``quantile`` of each group with the highest
    teacher confidence (maximum probability) is selected, so no class is dropped.

    Parameters
    ----------
    quantile : float in (0, 1], default=0.7
        Share of each group selected.

    Examples
    --------
    >>> import torch
    >>> teacher = torch.tensor([[0.9, 0.1], [0.6, 0.4], [0.2, 0.8], [0.45, 0.55]])
    >>> s = SelectConfident(quantile=0.5)
    >>> s.select(s.make_state(None, None, teacher), episode=0).tolist()  # the surer half of each class
    [1, 0, 1, 0]
    """

    needs_teacher_uncertainty = True

    def __init__(self, quantile=0.7):
        self.quantile = quantile

    def state_size(self, feature_size, n_classes):
        return n_classes

    def make_state(self, features, student_probs, teacher_probs):
        return teacher_probs

    def select(self, state, episode):
        frac = rank_fraction(-state.max(dim=1).values, state.argmax(dim=1), state.shape[1])
        return (frac < self.quantile).long()


class ReinforcedSelection(SelectionStrategy):
    """RCD-KD's reinforced selector: a dueling double DQN with noisy layers.

    Transitions ``(s, a, r, s', done)`` link a sample's state in one episode with
    its state in the next, ``done`` at the last episode or when the sample was
    skipped; after each episode the agent makes one double-DQN update (once its
    memory is warm).

    Parameters
    ----------
    alpha1 : float, default=0.2
        Weight of the uncertainty-consistency reward.
    alpha2 : float, default=1.8
        Weight of the transferability reward.
    reward_baseline : {"batch", "class"}, default="class"
        "Below the mean" against the batch mean (the paper) or against the mean
        of the samples of the same teacher-predicted class in the batch.
    state : {"features", "informed"}, default="features"
        What the agent sees of a sample: the student's feature vector (the paper),
        or that plus what the rewards are computed from: the student's and the
        teacher's (MC-dropout mean) probabilities, both entropies, the
        student-teacher KL, the three of them relative to the sample's
        teacher-predicted class in the batch, and the teacher's confidence
        (``d + 2 k + 7`` values for ``d`` features and ``k`` classes).
    weighting : {"hard", "soft"}, default="hard"
        Distillation weight of a sample: its 0/1 action, or
        ``sigmoid((Q(s, select) - Q(s, skip)) / soft_temperature)``.
    reward_quantile : float in (0, 1) or None, default=None
        None: "low" entropy and KL mean below the group mean (the paper); a
        number: among the lowest ``reward_quantile`` of the group by rank.
    soft_temperature : float, default=1.0
        Temperature of the soft weights.
    **selector_params
        Passed to :class:`skrcd.selection.dqn.DQNSelector` (``hidden``, ``sigma0``,
        ``gamma``, ``lr``, ``batch_size``, ``memory_capacity``, ``learning_starts``,
        ``target_tau``, ``bias_noise``).

    Examples
    --------
    >>> import torch
    >>> strat = ReinforcedSelection(hidden=8, state="informed", weighting="soft")
    >>> strat.setup(strat.state_size(4, n_classes=3), device="cpu")
    >>> p = torch.softmax(torch.randn(5, 3), dim=1)
    >>> state = strat.make_state(torch.randn(5, 4), p, p)
    >>> action = strat.select(state, episode=0)
    >>> state.shape, action.shape, bool(((strat.weights(action) > 0) & (strat.weights(action) < 1)).all())
    (torch.Size([5, 17]), torch.Size([5]), True)
    """

    needs_teacher_uncertainty = True

    def __init__(self, alpha1=0.2, alpha2=1.8, reward_baseline="class", state="features", weighting="hard",
                 reward_quantile=None, soft_temperature=1.0, **selector_params):
        if state not in ("features", "informed"):
            raise ValueError(f"state must be 'features' or 'informed', got {state!r}")
        if weighting not in ("hard", "soft"):
            raise ValueError(f"weighting must be 'hard' or 'soft', got {weighting!r}")
        self.alpha1, self.alpha2, self.reward_baseline = alpha1, alpha2, reward_baseline
        self.state, self.weighting, self.reward_quantile = state, weighting, reward_quantile
        self.soft_temperature = soft_temperature
        self.selector_params = selector_params
        self.selector = None
        self._pending = None
        self._generator = None

    def setup(self, state_dim, device, generator=None):
        if self.selector is None:
            self.selector = DQNSelector(state_dim, **self.selector_params).to(device)
        self.selector.train()
        self._generator = generator

    def state_size(self, feature_size, n_classes):
        return feature_size if self.state == "features" else feature_size + 2 * n_classes + 7

    def make_state(self, features, student_probs, teacher_probs):
        if self.state == "features":
            return features
        h_s, h_t = entropy(student_probs), entropy(teacher_probs)
        kl = kl_divergence(student_probs, teacher_probs)
        groups, k = teacher_probs.argmax(dim=1), teacher_probs.shape[1]
        relative = [v - _baseline(v, groups, k) for v in (h_s, h_t, kl)]
        stats = torch.stack([h_s, h_t, kl, *relative, teacher_probs.max(dim=1).values], dim=1)
        return torch.cat([features, student_probs, teacher_probs, stats], dim=1)

    def select(self, state, episode):
        return self.selector.act(state)

    @property
    def last_advantage(self):
        return self.selector.last_advantage

    def weights(self, action):
        if self.weighting == "hard":
            return action
        return torch.sigmoid(self.selector.last_advantage / self.soft_temperature)

    def state_dict(self):
        """The selector's networks and noise, its replay memory and its optimiser."""
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
                                  self.reward_baseline, self.reward_quantile)
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
    """Build a strategy from its name (``"rl"``, ``"all"``, ``"random"``, ``"confident"``) or pass one through.

    Parameters
    ----------
    selection : str or SelectionStrategy
        Strategy name or instance.
    **params
        For ``"rl"``: the :class:`ReinforcedSelection` settings; for
        ``"random"``: ``rate``; for ``"confident"``: ``quantile``.

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
    if selection == "confident":
        return SelectConfident(**params)
    raise ValueError(
        f"selection must be 'rl', 'all', 'random', 'confident' or a SelectionStrategy, got {selection!r}"
    )
