"""Label shift: the target's class prior estimated without labels, and the correction it implies.

A classifier trained on a source whose class shares are ``source_prior`` carries
that prior into every probability it gives a target window. When the target's
classes come in other shares (label shift: ``p(x | y)`` the same, ``p(y)``
different), Bayes' rule says the target posterior is the source posterior times
``target_prior / source_prior``, renormalised. The target prior is unknown, but
it is the fixed point of "average the corrected posteriors over the target"
(Saerens, Latinne and Decaestecker, 2002), which :func:`em_target_prior` finds.
"""

from __future__ import annotations

import torch

__all__ = ["source_prior", "em_target_prior", "prior_log_ratio"]


def source_prior(y, n_classes, weight=None):
    """The class prior a classifier trained on labels ``y`` (with per-row ``weight``) has learned.

    Parameters
    ----------
    y : torch.Tensor of shape (n,), long
    n_classes : int
    weight : torch.Tensor of shape (n,), optional
        Row weights of the training loss (class weights times sample weights).

    Returns
    -------
    torch.Tensor of shape (n_classes,)
        Float64 shares summing to 1.

    Examples
    --------
    >>> import torch
    >>> source_prior(torch.tensor([0, 0, 0, 1]), 2).tolist()
    [0.75, 0.25]
    >>> source_prior(torch.tensor([0, 0, 0, 1]), 2, weight=torch.tensor([1.0, 1.0, 1.0, 3.0])).tolist()
    [0.5, 0.5]
    """
    w = torch.ones(y.shape[0], dtype=torch.float64, device=y.device) if weight is None else weight.double()
    mass = torch.zeros(n_classes, dtype=torch.float64, device=y.device).index_add_(0, y, w)
    return mass / mass.sum()


def em_target_prior(probs, prior, max_iter=1000, tol=1e-8):
    """Maximum-likelihood target class prior by EM on a classifier's posteriors (Saerens et al., 2002).

    Each iteration corrects every window's posterior by ``target / prior`` (the
    current estimate over the training prior), renormalises, and takes the mean
    over the windows as the new estimate. A class the windows do not support
    tends to 0; on a target with the training prior the estimate stays near it.
    The result is only as good as the posteriors' calibration.

    Parameters
    ----------
    probs : torch.Tensor of shape (n, n_classes)
        Posteriors of the target windows under the training prior.
    prior : torch.Tensor of shape (n_classes,)
        The training (source) prior the posteriors carry (:func:`source_prior`).
    max_iter : int, default=1000
    tol : float, default=1e-8
        Stop when no share moves by more than this.

    Returns
    -------
    torch.Tensor of shape (n_classes,)
        Float64 shares summing to 1.

    References
    ----------
    Saerens, M., Latinne, P., Decaestecker, C. "Adjusting the Outputs of a
    Classifier to New a Priori Probabilities: A Simple Procedure", Neural
    Computation 14(1), 2002. Alexandari, A., Kundaje, A., Shrikumar, A.
    "Maximum Likelihood with Bias-Corrected Calibration is Hard-To-Beat at Label
    Shift Adaptation", ICML 2020.

    Examples
    --------
    A calibrated classifier trained on balanced classes sees two kinds of
    windows: kind ``a`` (90 % of class 0's windows, 10 % of class 1's) and kind
    ``b``. A target with the classes 80/20 holds 74 % windows of kind ``a``:

    >>> import torch
    >>> p = torch.tensor([[0.9, 0.1]] * 74 + [[0.1, 0.9]] * 26)
    >>> [round(v, 3) for v in em_target_prior(p, torch.tensor([0.5, 0.5])).tolist()]
    [0.8, 0.2]
    """
    probs = probs.double()
    prior = prior.double().to(probs.device)
    if probs.ndim != 2 or probs.shape[1] != prior.shape[0]:
        raise ValueError(f"probs of shape {tuple(probs.shape)} do not match a prior over {prior.shape[0]} classes")
    safe = prior.clamp_min(1e-12)
    current = prior.clone()
    for _ in range(int(max_iter)):
        corrected = probs * (current / safe)
        corrected = corrected / corrected.sum(dim=1, keepdim=True).clamp_min(1e-300)
        new = corrected.mean(dim=0)
        done = (new - current).abs().max() < tol
        current = new
        if done:
            break
    return current / current.sum()


def prior_log_ratio(target, source, floor=1e-4):
    """``log(target / source)``: what to add to a classifier's logits to move them from one prior to the other.

    Shares below ``floor`` count as ``floor``, so that a class the target lacks is
    pushed far down (``log(floor / source)``) without becoming ``-inf``.

    Parameters
    ----------
    target, source : torch.Tensor of shape (n_classes,)
    floor : float, default=1e-4

    Returns
    -------
    torch.Tensor of shape (n_classes,), float32

    Examples
    --------
    >>> import torch
    >>> logits = torch.zeros(1, 2)  # undecided under a balanced source
    >>> shifted = logits + prior_log_ratio(torch.tensor([0.8, 0.2]), torch.tensor([0.5, 0.5]))
    >>> [round(v, 2) for v in shifted.softmax(dim=1)[0].tolist()]
    [0.8, 0.2]
    """
    t = target.double().clamp_min(floor)
    s = source.double().to(t.device).clamp_min(floor)
    return (t.log() - s.log()).float()
