"""Callbacks of the training loop: the per-stage progress bar, the target entropy score, and skorch's loss columns.

All are skorch callbacks, run by :class:`skrcd.training.StageNet` once per
training stage (see :mod:`skrcd.training.loop`).
"""

from __future__ import annotations

import math

import torch
from skorch.callbacks import Callback, PassthroughScoring

from ..nn.networks import eval_forward

__all__ = ["EpochProgressBar", "TargetEntropy"]


class EpochProgressBar(Callback):
    """A tqdm progress bar over the epochs of each training stage (``verbose=1``).

    The bar's postfix shows the stage's latest logged losses.

    Parameters
    ----------
    keys : tuple of str, default=("loss", "selected", "reward")
        History keys shown in the postfix when present.
    """

    def __init__(self, keys=("loss", "selected", "reward")):
        self.keys = keys

    def on_train_begin(self, net, stage=None, n_epochs=None, **kwargs):
        from tqdm.auto import tqdm

        self.bar_ = tqdm(total=n_epochs, desc=str(stage), unit="epoch", leave=True)

    def on_epoch_end(self, net, **kwargs):
        row = net.history_[-1]
        self.bar_.set_postfix({k: f"{row[k]:.3f}" for k in self.keys if k in row}, refresh=False)
        self.bar_.update(1)

    def on_train_end(self, net, **kwargs):
        self.bar_.close()


class TargetEntropy(Callback):
    """Mean prediction entropy of the stage's network on the unlabelled target: a score without target labels.

    At the end of each epoch, the stage's network (``net.module_``: the teacher in
    the teacher stage, the student in the student stage) predicts every target
    training row in eval mode; the mean over rows of ``-sum(p * log p)`` (nats) is
    recorded as ``name``, and ``name + "_best"`` says whether it is the lowest so
    far in the stage. Lower means more confident predictions on the target (the
    criterion of skada's ``PredictionEntropyScorer``); monitor it with
    ``EarlyStopping(monitor="target_entropy")`` or
    ``Checkpoint(monitor="target_entropy_best")``. It reads no target label.

    Parameters
    ----------
    name : str, default="target_entropy"
        History column.
    batch_size : int, default=1024
        Rows per forward pass.

    Examples
    --------
    >>> from skorch.callbacks import EarlyStopping
    >>> from skrcd import RCDKDClassifier
    >>> from skrcd.datasets import make_domain_shift
    >>> X_src, y_src, X_tgt, _ = make_domain_shift(n_source=30, n_target=30, length=16, random_state=0)
    >>> clf = RCDKDClassifier(teacher_epochs=2, student_epochs=2, selector_hidden=8, random_state=0,
    ...                       callbacks=[TargetEntropy()])
    >>> history = clf.fit(X_src, y_src, X_tgt).history_
    >>> [(row["stage"], "target_entropy" in row) for row in history[-3:]]  # a column of every stage's epochs
    [('teacher_2', True), ('student', True), ('student', True)]
    """

    def __init__(self, name="target_entropy", batch_size=1024):
        self.name = name
        self.batch_size = batch_size

    def initialize(self):
        self.best_score_ = math.inf
        return self

    def on_train_begin(self, net, **kwargs):
        self.best_score_ = _best_so_far(net.history, self.name, lower_is_better=True)

    def on_epoch_end(self, net, **kwargs):
        X = net.data_.X_tgt
        logits, _ = eval_forward(net.module_, X, self.batch_size)
        score = float(torch.special.entr(torch.softmax(logits, dim=1)).sum()) / max(X.shape[0], 1)
        is_best = score < self.best_score_
        if is_best:
            self.best_score_ = score
        net.history.record(self.name, score)
        net.history.record(self.name + "_best", bool(is_best))


def _best_so_far(history, name, lower_is_better=True):
    """The best value of a column over the rows already in ``history`` (inf / -inf when none)."""
    values = [row[name] for row in history if name in row]
    if not values:
        return math.inf if lower_is_better else -math.inf
    return min(values) if lower_is_better else max(values)


class _LossColumn(PassthroughScoring):
    """skorch's ``PassthroughScoring`` (``train_loss``, ``valid_loss``) that knows the stage's earlier rows.

    A stage resumed from a checkpoint, or continued by ``warm_start``, already has
    rows; ``<name>_best`` then compares with them instead of starting afresh, so a
    resumed fit writes the same history as an uninterrupted one.
    """

    def on_train_begin(self, net, **kwargs):
        self.best_score_ = _best_so_far(net.history, self.name, self.lower_is_better)
