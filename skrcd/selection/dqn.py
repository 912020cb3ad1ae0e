"""The reinforced sample selector: a dueling double DQN with noisy linear layers
and a preallocated replay memory, all on the model's device."""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from ..nn.networks import ConfigMixin

__all__ = ["NoisyLinear", "DuelingQNetwork", "ReplayMemory", "DQNSelector"]


class NoisyLinear(nn.Module):
    """Linear layer with factorised Gaussian parameter noise (Fortunato et al., 2018).

    In training mode the weight is ``mu + sigma * (eps_out eps_in^T)`` with the
    noise drawn by :meth:`reset_noise`; in eval mode only ``mu`` is used.

    Parameters
    ----------
    in_features, out_features : int
        Layer sizes.
    sigma0 : float, default=0.4
        Initial noise scale; the weights' sigma starts at ``sigma0 / sqrt(in_features)``.
    bias_noise : {"in", "out"}, default="in"
        Initial sigma of the bias: ``sigma0 / sqrt(in_features)`` (Fortunato et al.)
        or ``sigma0 / sqrt(out_features)`` (the research code of RCD-KD): at the
        one- and two-unit output layers of the Q-network, "out" gives about ten
        times more noise on the Q-values, i.e. more exploration.

    Examples
    --------
    >>> import torch
    >>> layer = NoisyLinear(4, 3)
    >>> layer(torch.zeros(2, 4)).shape
    torch.Size([2, 3])
    """

    def __init__(self, in_features: int, out_features: int, sigma0: float = 0.4, bias_noise: str = "in"):
        super().__init__()
        if bias_noise not in ("in", "out"):
            raise ValueError(f"bias_noise must be 'in' or 'out', got {bias_noise!r}")
        self.in_features, self.out_features = in_features, out_features
        bound = 1.0 / math.sqrt(in_features)
        bias_scale = bound if bias_noise == "in" else 1.0 / math.sqrt(out_features)
        self.weight_mu = nn.Parameter(torch.empty(out_features, in_features).uniform_(-bound, bound))
        self.bias_mu = nn.Parameter(torch.empty(out_features).uniform_(-bound, bound))
        self.weight_sigma = nn.Parameter(torch.full((out_features, in_features), sigma0 * bound))
        self.bias_sigma = nn.Parameter(torch.full((out_features,), sigma0 * bias_scale))
        self.register_buffer("eps_in", torch.zeros(in_features))
        self.register_buffer("eps_out", torch.zeros(out_features))
        self.reset_noise()

    @staticmethod
    def _scaled(x):
        return x.sign() * x.abs().sqrt()

    @torch.no_grad()
    def reset_noise(self):
        """Draw new factorised noise (on the layer's device)."""
        self.eps_in.copy_(self._scaled(torch.randn_like(self.eps_in)))
        self.eps_out.copy_(self._scaled(torch.randn_like(self.eps_out)))

    def forward(self, x):
        if not self.training:
            return F.linear(x, self.weight_mu, self.bias_mu)
        # x (mu + sigma * eps_out eps_in^T)^T == x mu^T + ((x * eps_in) sigma^T) * eps_out: never
        # materialise the noisy weight (two large element-wise passes per forward and backward)
        bias = torch.addcmul(self.bias_mu, self.bias_sigma, self.eps_out)
        return F.linear(x, self.weight_mu, bias) + F.linear(x * self.eps_in, self.weight_sigma) * self.eps_out


class DuelingQNetwork(nn.Module):
    """Dueling Q-network with noisy value and advantage streams.

    ``Linear(d, h)-ReLU``, then value ``Noisy(h, h)-ReLU-Noisy(h, 1)`` and advantage
    ``Noisy(h, h)-ReLU-Noisy(h, n_actions)``; ``Q = V + A - mean(A)``.

    Parameters
    ----------
    state_dim : int
        Size of the state (the student's feature vector).
    n_actions : int, default=2
        Number of actions (skip, select).
    hidden : int, default=128
        Width of the hidden layers.
    sigma0 : float, default=0.4
        Initial noise scale of the noisy layers.
    bias_noise : {"in", "out"}, default="in"
        Initial bias noise of the noisy layers (see :class:`NoisyLinear`).

    Examples
    --------
    >>> import torch
    >>> DuelingQNetwork(32, hidden=16)(torch.zeros(5, 32)).shape
    torch.Size([5, 2])
    """

    def __init__(self, state_dim: int, n_actions: int = 2, hidden: int = 128, sigma0: float = 0.4,
                 bias_noise: str = "in"):
        super().__init__()

        def noisy(n_in, n_out):
            return NoisyLinear(n_in, n_out, sigma0, bias_noise)

        self.trunk = nn.Sequential(nn.Linear(state_dim, hidden), nn.ReLU())
        self.value = nn.Sequential(noisy(hidden, hidden), nn.ReLU(), noisy(hidden, 1))
        self.advantage = nn.Sequential(noisy(hidden, hidden), nn.ReLU(), noisy(hidden, n_actions))

    def forward(self, state):
        h = self.trunk(state)
        adv = self.advantage(h)
        return self.value(h) + adv - adv.mean(dim=1, keepdim=True)

    def reset_noise(self):
        """Draw new noise in every noisy layer."""
        for m in self.modules():
            if isinstance(m, NoisyLinear):
                m.reset_noise()


class ReplayMemory:
    """Bounded circular replay memory of preallocated tensors on one device.

    Transitions are pushed a whole batch at a time; once full, the oldest are
    overwritten. Nothing here synchronises with the device: the fill level is a
    Python integer.

    Parameters
    ----------
    capacity : int
        Maximum number of transitions held.
    state_dim : int
        Size of a state.
    device : str or torch.device, default="cpu"
        Where the tensors live.

    Examples
    --------
    >>> import torch
    >>> mem = ReplayMemory(capacity=4, state_dim=2)
    >>> s = torch.zeros(3, 2)
    >>> a = torch.ones(3, dtype=torch.long)
    >>> mem.push(s, a, torch.ones(3), s, torch.zeros(3))
    >>> mem.push(s, a, torch.ones(3), s, torch.zeros(3))
    >>> len(mem)
    4
    """

    def __init__(self, capacity: int, state_dim: int, device="cpu"):
        if capacity < 1:
            raise ValueError(f"replay memory capacity must be >= 1, got {capacity}")
        self.capacity = int(capacity)
        self.state = torch.zeros(capacity, state_dim, device=device)
        self.next_state = torch.zeros(capacity, state_dim, device=device)
        self.action = torch.zeros(capacity, dtype=torch.long, device=device)
        self.reward = torch.zeros(capacity, device=device)
        self.done = torch.zeros(capacity, device=device)
        self.position = 0
        self.size = 0

    def __len__(self):
        return self.size

    def push(self, state, action, reward, next_state, done):
        """Append a batch of transitions (all tensors share the first dimension).

        The oldest transitions are overwritten once the memory is full.
        """
        n = state.shape[0]
        if n > self.capacity:  # only the newest `capacity` survive anyway
            state, action, reward, next_state, done = (
                t[-self.capacity :] for t in (state, action, reward, next_state, done)
            )
            n = self.capacity
        idx = (self.position + torch.arange(n, device=self.state.device)) % self.capacity
        self.state[idx] = state
        self.next_state[idx] = next_state
        self.action[idx] = action
        self.reward[idx] = reward
        self.done[idx] = done.to(self.done.dtype)
        self.position = (self.position + n) % self.capacity
        self.size = min(self.size + n, self.capacity)

    def sample(self, batch_size: int, generator=None):
        """Uniformly sample ``batch_size`` transitions (with replacement).

        Returns
        -------
        tuple of torch.Tensor
            ``state, action, reward, next_state, done``, each with ``batch_size`` rows.
        """
        idx = torch.randint(self.size, (batch_size,), device=self.state.device, generator=generator)
        return self.state[idx], self.action[idx], self.reward[idx], self.next_state[idx], self.done[idx]

    def state_dict(self):
        """Tensors and counters, for checkpoints."""
        return {
            "state": self.state,
            "next_state": self.next_state,
            "action": self.action,
            "reward": self.reward,
            "done": self.done,
            "position": self.position,
            "size": self.size,
        }

    def load_state_dict(self, sd):
        """Restore from :meth:`state_dict` (into a memory of the same capacity and state size)."""
        for k in ("state", "next_state", "action", "reward", "done"):
            getattr(self, k).copy_(sd[k])
        self.position, self.size = int(sd["position"]), int(sd["size"])


class DQNSelector(ConfigMixin, nn.Module):
    """Dueling double-DQN agent that decides, per target sample, whether to distil it.

    Action 1 means "use this sample for distillation", 0 "skip it". Acting is one
    batched forward of the online network (exploration comes from the noisy
    layers); learning is one double-DQN update on a replay batch with a smooth-L1
    loss, followed by a soft update of the target network and fresh noise.

    Parameters
    ----------
    state_dim : int
        Size of the state (the student's feature vector).
    hidden : int, default=128
        Width of the Q-network.
    sigma0 : float, default=0.4
        Initial noise scale of the noisy layers.
    gamma : float, default=0.9
        Discount factor.
    lr : float, default=1e-4
        Adam learning rate.
    batch_size : int, default=32
        Replay batch size of one update.
    memory_capacity : int, default=100_000
        Replay memory size.
    learning_starts : int, default=100
        Updates start once the memory holds more than this many transitions.
    target_tau : float, default=0.001
        Soft-update rate of the target network.
    bias_noise : {"in", "out"}, default="in"
        Initial bias noise of the noisy layers (see :class:`NoisyLinear`).

    Attributes
    ----------
    last_advantage : torch.Tensor of shape (n,) or None
        ``Q(s, select) - Q(s, skip)`` of the states of the last :meth:`act` call
        (soft selection weights and the selection record read it).

    Examples
    --------
    >>> import torch
    >>> agent = DQNSelector(state_dim=8, hidden=16, learning_starts=4)
    >>> s = torch.randn(6, 8)
    >>> a = agent.act(s)
    >>> agent.remember(s, a, torch.ones(6), s, torch.zeros(6))
    >>> loss = agent.learn()  # 6 transitions, more than learning_starts: one double-DQN step
    >>> loss.ndim, bool(torch.isfinite(loss))
    (0, True)
    """

    def __init__(
        self,
        state_dim: int,
        hidden: int = 128,
        sigma0: float = 0.4,
        gamma: float = 0.9,
        lr: float = 1e-4,
        batch_size: int = 32,
        memory_capacity: int = 100_000,
        learning_starts: int = 100,
        target_tau: float = 0.001,
        bias_noise: str = "in",
    ):
        super().__init__()
        self.online = DuelingQNetwork(state_dim, 2, hidden, sigma0, bias_noise)
        self.target = DuelingQNetwork(state_dim, 2, hidden, sigma0, bias_noise)
        self.target.load_state_dict(self.online.state_dict())
        self.target.requires_grad_(False)
        self.gamma, self.batch_size, self.learning_starts, self.target_tau = gamma, batch_size, learning_starts, target_tau
        self.lr, self.hidden, self.sigma0, self.bias_noise = lr, hidden, sigma0, bias_noise
        self.state_dim, self.memory_capacity = state_dim, memory_capacity
        self.last_advantage = None
        self.memory = None
        self.optimizer = None

    def _lazy_init(self):
        device = next(self.online.parameters()).device
        if self.memory is None or self.memory.state.device != device:
            self.memory = ReplayMemory(self.memory_capacity, self.state_dim, device)
        if self.optimizer is None:
            # fused Adam: one pass over the parameters instead of one per tensor and op
            self.optimizer = torch.optim.Adam(self.online.parameters(), lr=self.lr, fused=True)

    @torch.no_grad()
    def act(self, state: torch.Tensor) -> torch.Tensor:
        """Greedy actions of the (noisy) online network for a batch of states.

        Parameters
        ----------
        state : torch.Tensor of shape (n, state_dim)

        Returns
        -------
        torch.Tensor of shape (n,), dtype long
            1 = select for distillation, 0 = skip.
        """
        q = self.online(state)
        self.last_advantage = q[:, 1] - q[:, 0]
        return q.argmax(dim=1)

    def remember(self, state, action, reward, next_state, done):
        """Store a batch of transitions in the replay memory (created on first use, on the agent's device)."""
        self._lazy_init()
        self.memory.push(state, action, reward, next_state, done)

    def double_dqn_target(self, reward, next_state, done):
        """``r + gamma * Q_target(s', argmax_a Q_online(s', a)) * (1 - done)``."""
        with torch.no_grad():
            best = self.online(next_state).argmax(dim=1, keepdim=True)
            q_next = self.target(next_state).gather(1, best).squeeze(1)
            return reward + self.gamma * q_next * (1.0 - done)

    def learn(self, generator=None):
        """One double-DQN update, or ``None`` while the memory is still too small.

        Returns
        -------
        torch.Tensor or None
            The (detached) smooth-L1 loss of the update.
        """
        self._lazy_init()
        if len(self.memory) <= self.learning_starts:
            return None
        s, a, r, s2, d = self.memory.sample(self.batch_size, generator)
        y = self.double_dqn_target(r, s2, d)
        q = self.online(s).gather(1, a.unsqueeze(1)).squeeze(1)
        loss = F.smooth_l1_loss(q, y)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        with torch.no_grad():  # soft update of the target network
            for target, online in zip(self.target.parameters(), self.online.parameters()):
                target.lerp_(online, self.target_tau)
        self.online.reset_noise()
        self.target.reset_noise()
        return loss.detach()

    def release_training_state(self):
        """Drop the replay memory and the optimiser (training state, not model state) and switch to eval mode.

        Called at the end of a fit; :meth:`remember` and :meth:`learn` would
        create fresh ones.
        """
        self.memory, self.optimizer = None, None
        self.eval()
