"""What the selection did to each target window during a fit (the estimator's ``selection_record_``)."""

from __future__ import annotations

import warnings

import numpy as np
import torch
from sklearn.exceptions import ConvergenceWarning

from .._warnings import user_stacklevel

__all__ = ["SelectionRecord", "SelectionCollapseWarning", "window_record", "warn_if_collapsed", "recent_share"]


class SelectionCollapseWarning(ConvergenceWarning):
    """The reinforced selection left the student (almost) without distillation, or without a class.

    Issued after ``fit`` when, over the last 10 student epochs, the mean
    distillation weight of the target windows is below 5 % (almost nothing was
    distilled), or when the windows of a class the teacher predicts (three or
    more of them) got a mean weight below 5 % (the class was not taught). Selecting
    (almost) every window is not warned about: it is plain distillation, and
    ``history_`` (``selected``) and ``selection_record_`` record it.
    """


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


def window_record(stage, outputs):
    """The selection record of a finished student stage, with the teacher's confidence and class per window."""
    record = stage.finish_record()
    confidence, predicted = outputs.target_probs().max(dim=1)
    record["teacher_confidence"] = confidence.cpu().numpy().astype(np.float32)
    record["teacher_class"] = predicted.cpu().numpy()
    return record


def recent_share(values, last_epochs):
    """Each window's mean over the last epochs of a selection record's per-epoch array.

    Parameters
    ----------
    values : numpy.ndarray of shape (n_epochs, n_windows)
        ``record["selected"]`` or ``record["weight"]`` of a selection record; NaN where
        no episode of an epoch drew the window.
    last_epochs : int
        How many of the last epochs to average.

    Returns
    -------
    numpy.ndarray of shape (n_windows,)
        NaN for a window that no episode of those epochs drew (without numpy's
        empty-slice warning).

    Examples
    --------
    >>> import numpy as np
    >>> recent_share(np.array([[1.0, np.nan], [0.0, np.nan], [1.0, 1.0]]), 2).tolist()
    [0.5, 1.0]
    >>> np.isnan(recent_share(np.array([[1.0, np.nan]]), 1)).tolist()
    [False, True]
    """
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns: windows not drawn
        return np.nanmean(values[-last_epochs:], axis=0)


def warn_if_collapsed(record, classes, window=10, low=0.05, min_windows=3):
    """Issue a :class:`SelectionCollapseWarning` when, over the last ``window`` epochs of ``record``, the mean
    distillation weight of the target windows, or of the windows the teacher assigns to one class (``min_windows``
    or more of them), was below ``low``."""
    weights = record["weight"][-window:]
    if not len(weights):
        return
    per_window = recent_share(weights, window)
    seen = np.isfinite(per_window)
    if not seen.any():
        return
    overall = float(per_window[seen].mean())
    problem = None
    if overall < low:
        problem = f"the target windows' mean distillation weight was {overall:.1%}: almost nothing was distilled"
    else:
        teacher_class = record["teacher_class"]
        starved = []
        for c in range(len(classes)):
            members = seen & (teacher_class == c)
            if members.sum() >= min_windows and per_window[members].mean() < low:
                starved.append(f"{classes[c].tolist()!r} ({int(members.sum())} windows)")
        if starved:
            problem = (f"the windows the teacher assigns to class(es) {', '.join(starved)} had a mean "
                       f"distillation weight below {low:.0%}: the student was not taught them")
    if problem is None:
        return
    warnings.warn(
        f"over the last {min(window, len(weights))} student epochs {problem}. selection_record_ holds each "
        "window's share; selection_balance='class' (the default) keeps every class the teacher predicts taught, "
        "and short training settings "
        "(few student epochs or steps before learning_starts) are the usual cause of a selector that "
        "distils nothing",
        SelectionCollapseWarning, stacklevel=user_stacklevel(),
    )
