"""Callbacks of the training loop: the per-stage progress bar (``verbose > 0``)."""

from __future__ import annotations

from skorch.callbacks import Callback

__all__ = ["EpochProgressBar"]


class EpochProgressBar(Callback):
    """A tqdm progress bar over the epochs of each training stage.

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
