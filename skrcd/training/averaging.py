"""Averages of a network's weights along its training (Polyak averaging, SWA, a mean teacher)."""

from __future__ import annotations

import copy
from numbers import Integral, Real

import torch

__all__ = ["WeightAverage"]


class WeightAverage:
    """A frozen copy of a network whose weights are a running average of the live network's.

    With ``decay=None`` the average is uniform over the updates (stochastic
    weight averaging, Izmailov et al., 2018); with a ``decay`` it is exponential
    (each update moves it by ``1 - decay`` towards the live weights; the mean
    teacher of Tarvainen and Valpola, 2017). Floating-point buffers (batch
    norm's running statistics) are averaged like the weights in the uniform
    case, so that they match the averaged weights over the same span, and copied
    from the live network in the exponential case, whose short horizon they
    already follow; integer buffers are copied.

    Parameters
    ----------
    live : torch.nn.Module
        The network being trained; the average starts as a copy of it.
    decay : float in [0, 1) or None, default=None
        None: uniform average (the first update replaces the copy); else the
        exponential decay per update.
    start : float in [0, 1), default=0.0
        With :meth:`on_epoch_end`: the fraction of a stage's epochs after which
        the end-of-epoch weights are averaged (0.5: the second half).

    Attributes
    ----------
    model : torch.nn.Module
        The average (eval mode, no gradients).
    n_averaged : int
        Updates so far.

    Examples
    --------
    >>> import torch
    >>> live = torch.nn.Linear(1, 1, bias=False)
    >>> average = WeightAverage(live)
    >>> for value in (1.0, 2.0, 6.0):
    ...     _ = live.weight.data.fill_(value)
    ...     average.update()
    >>> average.model.weight.item(), average.n_averaged
    (3.0, 3)
    >>> average.apply()  # the live network takes the average
    >>> live.weight.item()
    3.0
    """

    def __init__(self, live, decay=None, start=0.0):
        if decay is not None and (isinstance(decay, bool) or not isinstance(decay, Real) or not 0 <= decay < 1):
            raise ValueError(f"decay must be None or a float in [0, 1), got {decay!r}")
        if isinstance(start, bool) or not isinstance(start, Real) or not 0 <= start < 1:
            raise ValueError(f"start must be a float in [0, 1), got {start!r}")
        self.live, self.decay, self.start = live, decay, float(start)
        self.model = copy.deepcopy(live).eval().requires_grad_(False)
        self.n_averaged = 0
        # pairs built once: the exponential average is updated on every training step
        self._params = list(self.model.parameters()), list(live.parameters())
        mine, theirs = list(self.model.buffers()), list(live.buffers())
        lerp = [decay is None and b.is_floating_point() for b in mine]
        self._averaged_buffers = ([m for m, a in zip(mine, lerp) if a], [t for t, a in zip(theirs, lerp) if a])
        self._copied_buffers = ([m for m, a in zip(mine, lerp) if not a], [t for t, a in zip(theirs, lerp) if not a])

    @torch.no_grad()
    def update(self):
        """Move the average towards the live network's current weights."""
        weight = 1.0 / (self.n_averaged + 1) if self.decay is None else 1.0 - self.decay
        torch._foreach_lerp_(*self._params, weight)
        if self._averaged_buffers[0]:
            torch._foreach_lerp_(*self._averaged_buffers, weight)
        if self._copied_buffers[0]:
            torch._foreach_copy_(*self._copied_buffers)
        self.n_averaged += 1

    def on_epoch_end(self, epoch, n_epochs):
        """Average the weights at the end of the 0-based ``epoch`` of ``n_epochs`` if it is past ``start``."""
        if epoch >= int(self.start * n_epochs):
            self.update()

    def apply(self):
        """Copy the average into the live network (nothing before the first update)."""
        if self.n_averaged:
            self.live.load_state_dict(self.model.state_dict())

    def state_dict(self):
        """The average's weights and its number of updates (for checkpoints)."""
        return {"weights": self.model.state_dict(), "n_averaged": self.n_averaged}

    def load_state_dict(self, state):
        """Restore what :meth:`state_dict` returned."""
        n = state["n_averaged"]
        if isinstance(n, bool) or not isinstance(n, Integral) or n < 0:
            raise ValueError(f"n_averaged must be a non-negative int, got {n!r}")
        self.model.load_state_dict(state["weights"])
        self.n_averaged = int(n)
