"""What the selection did to each target window during a fit (the estimator's ``selection_record_``)."""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["SelectionRecord"]


class SelectionRecord:
    """Per target window and epoch: the share of episodes it was selected in and its mean distillation weight.

    Updated on the device with one ``index_add_`` per episode; read back once per
    epoch. Only finite counters are kept (checkpoints refuse non-finite tensors);
    :meth:`result` turns them into shares, NaN where a window was not seen.

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
        self._advantage = torch.zeros(2, self.n_samples, device=device)  # last Q advantage, whether there is one
        self.epochs = []

    def add(self, idx, action, weight, advantage=None):
        """Count one episode's actions and weights of the windows ``idx`` (and keep their last Q advantage)."""
        dtype = self._sums.dtype
        values = torch.stack([action.to(dtype), weight.to(dtype), torch.ones(idx.shape[0], dtype=dtype,
                                                                               device=self._sums.device)])
        self._sums.index_add_(1, idx, values)
        if advantage is not None:
            self._advantage[0, idx] = advantage.to(dtype)
            self._advantage[1, idx] = 1.0

    def end_epoch(self):
        """Close the epoch (its counters are kept; the next epoch starts from zero)."""
        self.epochs.append(self._sums.cpu().numpy().astype(np.float32))
        self._sums.zero_()

    def result(self):
        """The record as arrays.

        Returns
        -------
        dict
            ``selected`` and ``weight``: ``(n_epochs, n_samples)`` float32, each
            window's share of selected episodes and its mean distillation weight in
            each epoch (NaN in an epoch that did not see it); ``advantage``:
            ``(n_samples,)`` float32, the last ``Q(select) - Q(skip)`` of each
            window (NaN without a Q-network).
        """
        sums = np.stack(self.epochs) if self.epochs else np.zeros((0, 3, self.n_samples), np.float32)
        visits = sums[:, 2:3]
        shares = np.where(visits > 0, sums[:, :2] / np.maximum(visits, 1), np.nan).astype(np.float32)
        adv = self._advantage.cpu().numpy()
        return {"selected": shares[:, 0], "weight": shares[:, 1],
                "advantage": np.where(adv[1] > 0, adv[0], np.nan).astype(np.float32)}

    def state_dict(self):
        """Counters and closed epochs, for checkpoints (all finite)."""
        return {"sums": self._sums, "advantage": self._advantage,
                "epochs": torch.from_numpy(np.stack(self.epochs)) if self.epochs else None}

    def load_state_dict(self, state):
        """Restore what :meth:`state_dict` returned."""
        self._sums.copy_(state["sums"])
        self._advantage.copy_(state["advantage"])
        self.epochs = [] if state["epochs"] is None else list(state["epochs"].numpy())
