"""The forward pass behind ``predict``, ``predict_proba`` and ``predict_features``: checked inputs, standardised as
the fit did, in batches of ``predict_batch_size`` on the network's device."""

from __future__ import annotations

import warnings

import torch
from sklearn.utils.validation import check_is_fitted

from ._device import torch_threads
from ._warnings import user_stacklevel
from .data import check_length, check_n_features, check_same_channels, standardized_tensor, to_panel
from .training.interrupt import FitInterruptedWarning

__all__ = ["fitted_stats", "network_of", "forward"]


def fitted_stats(est):
    """``(channel_mean_, channel_std_)`` of the fit, or None when it kept the inputs raw."""
    mean = getattr(est, "channel_mean_", None)
    return None if mean is None else (mean, est.channel_std_)


def network_of(est, network):
    """The fitted ``"student"`` or ``"teacher"`` network of ``est``.

    The teacher stands in for the student, with a :class:`~skrcd.training.FitInterruptedWarning`, when a Ctrl-C
    stopped the fit before the student stage.
    """
    check_is_fitted(est, "student_")
    if network not in ("student", "teacher"):
        raise ValueError(f"network must be 'student' or 'teacher', got {network!r}")
    net = est.student_ if network == "student" else est.teacher_
    if net is None and network == "student" and getattr(est, "interrupted_", None) and est.teacher_ is not None:
        warnings.warn(
            f"fit was interrupted in stage {est.interrupted_['stage']!r} before the student was trained: "
            "using the teacher", FitInterruptedWarning, stacklevel=user_stacklevel(),
        )
        net = est.teacher_
    if net is None:
        raise ValueError(f"this {type(est).__name__} has no {network} network")
    return net


def forward(est, X, network, output):
    """``output`` (``"proba"``, ``"features"`` or ``"logits"``) of ``network`` for the panel ``X``, as numpy."""
    est._check_params(("predict_batch_size", "n_threads", "device"))  # set_params or load may have changed them
    net = network_of(est, network)
    Xa = to_panel(X, "X")
    check_same_channels(Xa, est.n_channels_, "X", "the data seen in fit")
    fitted_on_table = est.n_channels_ == 1 and est.n_features_in_ == est.n_timepoints_
    check_n_features(X, Xa, est.n_features_in_, fitted_on_table, type(est).__name__)
    check_length(Xa, est.n_timepoints_, net, "X", network, stacklevel=4)  # -> predict* -> the caller
    device = next(net.parameters()).device
    stats, size = fitted_stats(est), est.predict_batch_size
    outs = []
    with torch_threads(est.n_threads), torch.inference_mode():
        net.eval()
        for i in range(0, Xa.shape[0], size):
            logits, feats = net(standardized_tensor(Xa[i : i + size], device, stats))
            if output == "proba":
                outs.append(torch.softmax(logits, dim=1))
            elif output == "features":
                outs.append(feats)
            else:
                outs.append(logits)
    return torch.cat(outs).cpu().numpy()
