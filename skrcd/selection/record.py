"""What the selection did to each target window during a fit (the estimator's ``selection_record_``)."""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["SelectionRecord"]


class SelectionRecord:
    """Per target window and epoch: the share of episodes it was selected in and its mean distillation weight.

    Updated on the device with one ``index_add_`` per episode and key; read back
    once per epoch.

    Parameters
    ----------
    n_samples : int
        Number of target windows of the fit.
    device : torch.device or str, default="cpu"

    Examples
    --------
    >>> import torch
    >>> rec = SelectionRecord(3)
    >>> rec.add(torch.tensor([0, 2]), torch.tensor([1, 0]), torch.tensor([1.0, 0.0]))
    >>> rec.add(torch.tensor([0, 1]), torch.tensor([1, 1]), torch.tensor([1.0, 1.0]))
    >>> rec.end_epoch()
    >>> rec.result()["selected"].tolist()  # window 0 selected in both its episodes, 2 in none
    [[1.0, 1.0, 0.0]]
    """

    def __init__(self, n_samples, device="cpu"):
        self.n_samples = int(n_samples)
        self._sums = torch.zeros(3, self.n_samples, device=device)  # selected, weight, visits
        self.advantage = torch.full((self.n_samples,), float("nan"), device=device)
        self.epochs = []

    def add(self, idx, action, weight, advantage=None):
        """Count one episode's actions and weights of the windows ``idx`` (and their last Q advantage)."""
        values = torch.stack([action.to(self._sums.dtype), weight.to(self._sums.dtype), torch.ones_like(weight,
                             dtype=self._sums.dtype)])
        self._sums.index_add_(1, idx, values)
        if advantage is not None:
            self.advantage[idx] = advantage.to(self.advantage.dtype)

    def end_epoch(self):
        """Close the epoch: store each window's selected share and mean weight (NaN if it was not seen)."""
        visits = self._sums[2]
        seen = visits > 0
        rates = torch.where(seen, self._sums[:2] / visits.clamp_min(1), torch.nan)
        self.epochs.append(rates.cpu().numpy().astype(np.float32))
        self._sums.zero_()

    def result(self):
        """The record as arrays.

        Returns
        -------
        dict
            ``selected`` and ``weight``: ``(n_epochs, n_samples)`` float32;
            ``advantage``: ``(n_samples,)`` float32, the last ``Q(select) - Q(skip)``
            of each window (NaN without a Q-network).
        """
        stacked = np.stack(self.epochs) if self.epochs else np.zeros((0, 2, self.n_samples), np.float32)
        return {"selected": stacked[:, 0], "weight": stacked[:, 1],
                "advantage": self.advantage.cpu().numpy().astype(np.float32)}

    def state_dict(self):
        """Counters and closed epochs, for checkpoints."""
        return {"sums": self._sums, "advantage": self.advantage,
                "epochs": torch.from_numpy(np.stack(self.epochs)) if self.epochs else None}

    def load_state_dict(self, state):
        """Restore what :meth:`state_dict` returned."""
        self._sums.copy_(state["sums"])
        self.advantage.copy_(state["advantage"])
        self.epochs = [] if state["epochs"] is None else list(state["epochs"].numpy())
