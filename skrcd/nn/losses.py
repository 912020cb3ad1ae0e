"""Loss terms shared by every training stage: weighted distillation and the
adversarial domain loss."""

from __future__ import annotations

import math

import torch
from torch.nn import functional as F

from .networks import grad_reverse

__all__ = ["distillation_loss", "domain_adversarial_loss", "dann_coefficient", "coral_loss"]


def distillation_loss(student_logits, teacher_logits, weight=None, temperature: float = 2.0):
    """Temperature-scaled KD loss ``tau^2 * mean_i w_i KL(softmax(t_i/tau) || softmax(s_i/tau))``.

    The mean is over the whole batch (skipped samples count as zeros), so the loss
    scale does not jump with the number of selected samples, and a sample with
    weight 0 contributes exactly zero gradient.

    Parameters
    ----------
    student_logits, teacher_logits : torch.Tensor of shape (n, n_classes)
    weight : torch.Tensor of shape (n,), optional
        Per-sample weights (the selector's 0/1 actions); all ones if omitted.
    temperature : float, default=2.0
        Softmax temperature ``tau``.

    Returns
    -------
    torch.Tensor
        Scalar loss.

    Examples
    --------
    >>> import torch
    >>> s = torch.zeros(2, 3)
    >>> distillation_loss(s, s)
    tensor(0.)
    """
    log_p_s = F.log_softmax(student_logits / temperature, dim=1)
    log_p_t = F.log_softmax(teacher_logits / temperature, dim=1)
    kl = (log_p_t.exp() * (log_p_t - log_p_s)).sum(dim=1)
    if weight is not None:
        kl = kl * weight.to(kl.dtype)
    return temperature**2 * kl.mean()


def domain_adversarial_loss(discriminator, source_features, target_features, coeff: float = 1.0):
    """Cross-entropy of the domain discriminator behind a gradient-reversal layer.

    The discriminator learns to tell source (label 0) from target (label 1); the
    reversed gradient makes whatever produced the features learn to confuse it.
    Features that must not be adapted (e.g. a frozen teacher's) are passed detached.

    Parameters
    ----------
    discriminator : torch.nn.Module
        Maps features to two domain logits.
    source_features, target_features : torch.Tensor of shape (n_s, d), (n_t, d)
    coeff : float, default=1.0
        Gradient-reversal coefficient.

    Returns
    -------
    torch.Tensor
        Scalar loss (mean over both domains).

    Examples
    --------
    >>> import torch
    >>> from skrcd.nn import DomainDiscriminator
    >>> disc = DomainDiscriminator(4)
    >>> loss = domain_adversarial_loss(disc, torch.randn(3, 4), torch.randn(5, 4))
    >>> loss.ndim
    0
    """
    feats = torch.cat([source_features, target_features], dim=0)
    labels = torch.cat(
        [
            torch.zeros(source_features.shape[0], dtype=torch.long, device=feats.device),
            torch.ones(target_features.shape[0], dtype=torch.long, device=feats.device),
        ]
    )
    return F.cross_entropy(discriminator(grad_reverse(feats, coeff)), labels)


def dann_coefficient(progress: float, gamma: float = 10.0) -> float:
    """DANN's gradient-reversal schedule ``2 / (1 + exp(-gamma p)) - 1``.

    Parameters
    ----------
    progress : float
        Training progress ``p`` in [0, 1].
    gamma : float, default=10.0
        Steepness.

    Returns
    -------
    float

    Examples
    --------
    >>> round(dann_coefficient(0.0), 3), round(dann_coefficient(1.0), 3)
    (0.0, 1.0)
    """
    return 2.0 / (1.0 + math.exp(-gamma * progress)) - 1.0


def coral_loss(source_features, target_features):
    """CORAL: squared Frobenius distance of the two feature covariances over ``4 d^2``.

    Parameters
    ----------
    source_features, target_features : torch.Tensor of shape (n_s, d), (n_t, d)

    Returns
    -------
    torch.Tensor
        Scalar loss.

    References
    ----------
    Sun, B., Saenko, K. "Deep CORAL: Correlation Alignment for Deep Domain Adaptation", ECCV 2016.

    Examples
    --------
    >>> import torch
    >>> x = torch.randn(8, 3)
    >>> coral_loss(x, x).item()
    0.0
    """
    d = source_features.shape[1]

    def cov(x):
        x = x - x.mean(0, keepdim=True)
        return x.T @ x / max(x.shape[0] - 1, 1)

    return ((cov(source_features) - cov(target_features)) ** 2).sum() / (4 * d * d)
