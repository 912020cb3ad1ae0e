"""What the frozen teacher gives the distillation stage: its outputs and MC-dropout statistics, cached or recomputed."""

from __future__ import annotations

import contextlib

import torch
from torch import nn

from ..nn.networks import eval_forward

__all__ = ["TeacherOutputs", "mc_dropout_mode"]

#: torch's dropout layers (the classes MC-dropout keeps active in eval mode)
_DROPOUT = (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout, nn.FeatureAlphaDropout)


@contextlib.contextmanager
def mc_dropout_mode(module):
    """Context manager: eval mode (BatchNorm running statistics) with the dropout layers active.

    Parameters
    ----------
    module : torch.nn.Module

    Examples
    --------
    >>> from skrcd.nn import CNN1D
    >>> net = CNN1D(2, 2)
    >>> with mc_dropout_mode(net):
    ...     net.encoder[1].training, net.encoder[4].training
    (False, True)
    >>> net.encoder[4].training  # restored
    True
    """
    was_training = module.training
    module.eval()
    for m in module.modules():
        if isinstance(m, _DROPOUT):
            m.train()
    try:
        yield module
    finally:
        module.train(was_training)


class TeacherOutputs:
    """What the frozen teacher gives the distillation stage, cached or recomputed.

    The teacher is frozen while the student trains, so its eval-mode logits and
    features and its MC-dropout statistics can be computed once per fit and looked
    up by sample index (``refresh="fit"``), recomputed every epoch (``"epoch"``), once
    per mini-batch (``"batch"``) or in every episode as the research code does
    (``"episode"``). The MC passes always run as one batched forward.

    Parameters
    ----------
    teacher : torch.nn.Module
    data : skrcd.training.DomainTensors
    mc_passes : int
        Number of MC-dropout passes.
    refresh : {"fit", "epoch", "batch", "episode"}
    need_mc : bool
        Whether MC statistics are needed at all.
    chunk_size : int, default=1024
        Windows per forward when filling the cache.

    Examples
    --------
    >>> import torch
    >>> from skrcd.nn import CNN1D
    >>> from skrcd.training import DomainTensors
    >>> data = DomainTensors(torch.randn(6, 2, 16), torch.tensor([0, 1] * 3), torch.randn(5, 2, 16))
    >>> outputs = TeacherOutputs(CNN1D(2, 3, channels=(4, 4, 4)), data, mc_passes=4)
    >>> logits, src_feats, mc = outputs.batch(torch.tensor([0, 1]), torch.tensor([2, 3, 4]))
    >>> tuple(logits.shape), tuple(src_feats.shape), tuple(mc.shape)
    ((3, 3), (2, 4), (3, 3))
    """

    def __init__(self, teacher, data, mc_passes=10, refresh="fit", need_mc=True, chunk_size=1024):
        if refresh not in ("fit", "epoch", "batch", "episode"):
            raise ValueError(f"refresh must be 'fit', 'epoch', 'batch' or 'episode', got {refresh!r}")
        self.teacher, self.data, self.mc_passes = teacher, data, max(int(mc_passes), 1)
        self.refresh, self.need_mc, self.chunk_size = refresh, need_mc, chunk_size
        self.prior_shift = None
        self.teacher.eval()
        self._fill()

    def set_prior_shift(self, log_ratio):
        """Move every target output handed out from the source's class prior to the target's.

        ``log_ratio`` (``log(target_prior / source_prior)`` per class, see
        :func:`skrcd.nn.prior_log_ratio`) is added to the target logits that
        :meth:`batch` returns, and the MC probabilities are multiplied by its
        exponential and renormalised (Bayes' rule under label shift). The cached
        outputs stay as the teacher gave them; None switches the shift off.

        Parameters
        ----------
        log_ratio : torch.Tensor of shape (n_classes,) or None
        """
        self.prior_shift = None if log_ratio is None else log_ratio.to(self.tgt_logits.device, self.tgt_logits.dtype)

    def target_probs(self):
        """The teacher's probabilities of every target window: the MC mean where it is cached, else eval mode.

        With :meth:`set_prior_shift`, moved to the target's prior like every output
        handed to the student stage.

        Returns
        -------
        torch.Tensor of shape (n_target, n_classes)
        """
        if self.tgt_mc is not None:
            return self._shift_mc(self.tgt_mc)
        logits = self.tgt_logits if self.prior_shift is None else self.tgt_logits + self.prior_shift
        return logits.softmax(1)

    def _shift_mc(self, mc):
        if mc is None or self.prior_shift is None:
            return mc
        shifted = mc * self.prior_shift.exp()
        return shifted / shifted.sum(dim=1, keepdim=True).clamp_min(1e-12)

    def _eval_forward(self, X):
        return eval_forward(self.teacher, X, self.chunk_size)

    @torch.no_grad()
    def mc_probs(self, X):
        """Mean softmax of ``mc_passes`` dropout-perturbed teacher passes (one batched forward per chunk)."""
        out = []
        step = max(self.chunk_size // self.mc_passes, 1)
        with mc_dropout_mode(self.teacher):
            for i in range(0, X.shape[0], step):
                x = X[i : i + step]
                logits, _ = self.teacher(x.repeat(self.mc_passes, 1, 1))
                out.append(logits.softmax(1).view(self.mc_passes, x.shape[0], -1).mean(0))
        return torch.cat(out)

    def _fill(self):
        self.tgt_logits, _ = self._eval_forward(self.data.X_tgt)
        self.src_logits, self.src_features = self._eval_forward(self.data.X_src)
        self.tgt_mc = self.mc_probs(self.data.X_tgt) if (self.need_mc and self.refresh in ("fit", "epoch")) else None

    def state_dict(self):
        """The cached MC statistics (drawn with dropout noise, so not recomputable)."""
        return {"tgt_mc": self.tgt_mc}

    def load_state_dict(self, state):
        """Restore what :meth:`state_dict` returned."""
        mc = state["tgt_mc"]
        self.tgt_mc = None if mc is None else mc.to(self.tgt_logits.device)

    def on_epoch_begin(self, epoch):
        """Refresh the MC statistics each epoch when ``refresh="epoch"``."""
        if self.refresh == "epoch" and epoch > 0 and self.need_mc:
            self.tgt_mc = self.mc_probs(self.data.X_tgt)

    def batch(self, src_idx, tgt_idx):
        """Teacher target logits, source features and MC probabilities (or ``None``) for a batch."""
        mc = None
        if self.need_mc:
            mc = self.tgt_mc[tgt_idx] if self.tgt_mc is not None else self.mc_probs(self.data.X_tgt[tgt_idx])
        logits = self.tgt_logits[tgt_idx]
        if self.prior_shift is not None:
            logits = logits + self.prior_shift
        return logits, self.src_features[src_idx], self._shift_mc(mc)

    def episode_mc(self, tgt_idx, mc):
        """MC probabilities for one episode: fresh passes if ``refresh="episode"``."""
        if self.need_mc and self.refresh == "episode":
            return self._shift_mc(self.mc_probs(self.data.X_tgt[tgt_idx]))
        return mc


