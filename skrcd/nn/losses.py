"""Loss terms shared by the training stages: weighted distillation, the adversarial
domain losses (DANN's and CDAN's conditional form), CORAL, and the target terms of
VADA/DIRT-T (conditional entropy, virtual adversarial training)."""

from __future__ import annotations

import math

import torch
from torch.nn import functional as F

from .networks import grad_reverse

__all__ = [
    "distillation_loss",
    "domain_adversarial_loss",
    "conditional_adversarial_loss",
    "dann_coefficient",
    "coral_loss",
    "conditional_entropy",
    "vat_loss",
]


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


def domain_adversarial_loss(discriminator, source_features, target_features, coeff: float = 1.0,
                            source_weight=None):
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
    source_weight : torch.Tensor of shape (n_s,), optional
        Importance of each source row (normalised to mean 1 in the batch): with
        ``target_prior / source_prior`` of each row's class, the discriminator
        compares the target with the source reweighted to the target's classes
        (IW-DANN, Tachet des Combes et al., NeurIPS 2020), so that label shift
        is not mistaken for a domain difference.

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
    logits = discriminator(grad_reverse(feats, coeff))
    if source_weight is None:
        return F.cross_entropy(logits, labels)
    w_s = source_weight.to(logits.dtype)
    w = torch.cat([w_s / w_s.mean().clamp_min(1e-12), torch.ones(target_features.shape[0], dtype=logits.dtype,
                                                                   device=logits.device)])
    return (F.cross_entropy(logits, labels, reduction="none") * w).mean()


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


def conditional_adversarial_loss(discriminator, source_features, source_logits, target_features, target_logits,
                                 coeff: float = 1.0, entropy_conditioning: bool = True):
    """CDAN's domain loss: the discriminator sees features multiplied by predictions, behind gradient reversal.

    Each sample's input to the discriminator is the flattened outer product
    ``softmax(logits) x features`` (so the alignment is conditioned on the class
    predictions); with ``entropy_conditioning`` (CDAN+E) each sample is weighted by
    ``1 + exp(-H(p))``, normalised within each domain, so that confident predictions
    count more. Predictions are detached, as in the method's description: only the
    features receive the reversed gradient through the product.

    Parameters
    ----------
    discriminator : torch.nn.Module
        Maps ``n_features * n_classes`` inputs to two domain logits.
    source_features, target_features : torch.Tensor of shape (n_s, d), (n_t, d)
    source_logits, target_logits : torch.Tensor of shape (n_s, k), (n_t, k)
    coeff : float, default=1.0
        Gradient-reversal coefficient.
    entropy_conditioning : bool, default=True
        Weight samples by ``1 + exp(-entropy)``.

    Returns
    -------
    torch.Tensor
        Scalar loss (the two domains weigh equally).

    References
    ----------
    Long, M., Cao, Z., Wang, J., Jordan, M. I. "Conditional Adversarial Domain
    Adaptation", NeurIPS 2018.

    Examples
    --------
    >>> import torch
    >>> from skrcd.nn import DomainDiscriminator
    >>> disc = DomainDiscriminator(4 * 3)
    >>> f, z = torch.randn(5, 4), torch.randn(5, 3)
    >>> conditional_adversarial_loss(disc, f, z, f, z).ndim
    0
    """
    def joint(feats, logits):
        p = F.softmax(logits.detach(), dim=1)
        return (p.unsqueeze(2) * feats.unsqueeze(1)).flatten(1)

    n_s = source_features.shape[0]
    inputs = torch.cat([joint(source_features, source_logits), joint(target_features, target_logits)])
    labels = torch.cat([
        torch.zeros(n_s, dtype=torch.long, device=inputs.device),
        torch.ones(target_features.shape[0], dtype=torch.long, device=inputs.device),
    ])
    per_sample = F.cross_entropy(discriminator(grad_reverse(inputs, coeff)), labels, reduction="none")
    if not entropy_conditioning:
        return per_sample.mean()
    with torch.no_grad():
        log_p = F.log_softmax(torch.cat([source_logits, target_logits]).detach(), dim=1)
        w = 1.0 + torch.exp((log_p.exp() * log_p).sum(1))  # 1 + exp(-H)
        w_s, w_t = w[:n_s], w[n_s:]
        w = torch.cat([w_s / w_s.sum(), w_t / w_t.sum()]) / 2
    return (per_sample * w).sum()


def conditional_entropy(logits):
    """Mean Shannon entropy (nats) of the softmax predictions: low when the predictions are confident.

    Parameters
    ----------
    logits : torch.Tensor of shape (n, n_classes)

    Returns
    -------
    torch.Tensor
        Scalar.

    Examples
    --------
    >>> import torch
    >>> round(float(conditional_entropy(torch.zeros(2, 4))), 4)  # uniform over 4 classes: log 4
    1.3863
    """
    log_p = F.log_softmax(logits, dim=1)
    return -(log_p.exp() * log_p).sum(1).mean()


def _unit(d):
    return d / (d.flatten(1).norm(dim=1).view(-1, *([1] * (d.dim() - 1))) + 1e-12)


def vat_loss(model, x, logits, radius: float = 3.5, xi: float = 1.0, n_power: int = 1):
    """Virtual adversarial training: ``KL(p(x) || p(x + r_adv))`` for the most sensitive ``r_adv`` of norm ``radius``.

    ``r_adv`` is found by ``n_power`` power iterations from a random direction
    (the gradient of the KL at ``x + xi d``); its L2 norm over a whole window is
    ``radius``. The clean predictions are the target (no gradient through them),
    so the loss makes the model locally smooth around each sample.

    Parameters
    ----------
    model : torch.nn.Module
        A ``(logits, features)`` network.
    x : torch.Tensor of shape (n, channels, length)
    logits : torch.Tensor of shape (n, n_classes)
        The model's logits on ``x`` (detached inside).
    radius : float, default=3.5
        L2 norm of the adversarial perturbation of one window.
    xi : float, default=1.0
        Size of the probe perturbation of the power iteration.
    n_power : int, default=1
        Power iterations.

    Returns
    -------
    torch.Tensor
        Scalar loss (mean over the batch).

    References
    ----------
    Miyato, T., Maeda, S., Koyama, M., Ishii, S. "Virtual Adversarial Training",
    IEEE TPAMI 2019; Shu, R., Bui, H. H., Narui, H., Ermon, S. "A DIRT-T Approach
    to Unsupervised Domain Adaptation", ICLR 2018.

    Examples
    --------
    >>> import torch
    >>> from skrcd.nn import CNN1D
    >>> _ = torch.manual_seed(0)
    >>> net = CNN1D(2, 3, channels=(4, 4, 4)).eval()
    >>> x = torch.randn(6, 2, 16)
    >>> near, far = (float(vat_loss(net, x, net(x)[0], radius=r).detach()) for r in (0.01, 10.0))
    >>> near < far  # a larger adversarial step moves the prediction more
    True
    """
    p = F.softmax(logits.detach(), dim=1)
    d = torch.randn_like(x)
    for _ in range(n_power):
        d = (xi * _unit(d)).requires_grad_(True)
        probe, _ = model(x + d)
        kl = F.kl_div(F.log_softmax(probe, dim=1), p, reduction="batchmean")
        grad = torch.autograd.grad(kl, d, allow_unused=True)[0]  # None: the output ignores the input
        d = torch.zeros_like(x) if grad is None else grad.detach()
    perturbed, _ = model(x + radius * _unit(d))
    return F.kl_div(F.log_softmax(perturbed, dim=1), p, reduction="batchmean")
