"""Rewards of the sample selector, vectorised over the batch (torch, any device).

Both rewards are +1 when the action agrees with what the statistics suggest and -1
otherwise; the selector's reward is ``alpha1 (r_unc - 0.5) + alpha2 (r_tr - 0.5)``.
"""

from __future__ import annotations

import torch

__all__ = [
    "entropy",
    "kl_divergence",
    "uncertainty_consistency_reward",
    "transferability_reward",
    "selection_reward",
]

_EPS = 1e-8


def entropy(probs: torch.Tensor) -> torch.Tensor:
    """Shannon entropy (nats) of each row of a probability matrix.

    Parameters
    ----------
    probs : torch.Tensor of shape (n, n_classes)

    Returns
    -------
    torch.Tensor of shape (n,)

    Examples
    --------
    >>> import torch
    >>> entropy(torch.tensor([[0.5, 0.5], [1.0, 0.0]])).abs()
    tensor([0.6931, 0.0000])
    """
    return -(probs * torch.log(probs.clamp_min(_EPS))).sum(dim=1)


def kl_divergence(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """Row-wise ``KL(p || q)`` of two probability matrices.

    Parameters
    ----------
    p, q : torch.Tensor of shape (n, n_classes)

    Returns
    -------
    torch.Tensor of shape (n,)

    Examples
    --------
    >>> import torch
    >>> p = torch.tensor([[0.5, 0.5]])
    >>> kl_divergence(p, p)
    tensor([0.])
    """
    return (p * (torch.log(p.clamp_min(_EPS)) - torch.log(q.clamp_min(_EPS)))).sum(dim=1)


def _sign_reward(agree: torch.Tensor) -> torch.Tensor:
    return agree.float() * 2.0 - 1.0


def _baseline(x, groups=None, n_groups=None):
    """The mean each value is compared with: the batch mean, or the mean of the value's group."""
    if groups is None:
        return x.mean()
    sums = torch.zeros(n_groups, dtype=x.dtype, device=x.device).index_add_(0, groups, x)
    counts = torch.zeros(n_groups, dtype=x.dtype, device=x.device).index_add_(0, groups, torch.ones_like(x))
    return (sums / counts.clamp_min(1))[groups]


def uncertainty_consistency_reward(action, student_entropy, teacher_entropy, groups=None, n_groups=None):
    """+1 where (selected and both confident) or (skipped and both unsure), else -1.

    "Confident" means an entropy below its batch mean (or below the mean of its
    group, when ``groups`` is given).

    Parameters
    ----------
    action : torch.Tensor of shape (n,)
        1 = selected, 0 = skipped.
    student_entropy, teacher_entropy : torch.Tensor of shape (n,)
        Entropy of the student's prediction and of the teacher's mean MC-dropout
        prediction.
    groups : torch.Tensor of shape (n,), long, optional
        Group of each sample (e.g. the teacher's predicted class); the means are
        then taken per group.
    n_groups : int, optional
        Number of groups (required with ``groups``).

    Returns
    -------
    torch.Tensor of shape (n,)

    Examples
    --------
    >>> import torch
    >>> a = torch.tensor([1, 1, 0, 0])
    >>> hs = torch.tensor([0.1, 0.9, 0.9, 0.1])
    >>> ht = torch.tensor([0.1, 0.9, 0.9, 0.9])
    >>> uncertainty_consistency_reward(a, hs, ht)
    tensor([ 1., -1.,  1., -1.])
    """
    s_conf = student_entropy < _baseline(student_entropy, groups, n_groups)
    t_conf = teacher_entropy < _baseline(teacher_entropy, groups, n_groups)
    selected = action.bool()
    agree = (selected & s_conf & t_conf) | (~selected & ~s_conf & ~t_conf)
    return _sign_reward(agree)


def transferability_reward(action, divergence, groups=None, n_groups=None):
    """+1 where (selected and KL below the batch mean) or (skipped and at/above it), else -1.

    Parameters
    ----------
    action : torch.Tensor of shape (n,)
        1 = selected, 0 = skipped.
    divergence : torch.Tensor of shape (n,)
        ``KL(student prediction || teacher's mean MC prediction)`` per sample.
    groups : torch.Tensor of shape (n,), long, optional
        Group of each sample; the mean is then taken per group.
    n_groups : int, optional
        Number of groups (required with ``groups``).

    Returns
    -------
    torch.Tensor of shape (n,)

    Examples
    --------
    >>> import torch
    >>> transferability_reward(torch.tensor([1, 1, 0, 0]), torch.tensor([0.0, 2.0, 2.0, 0.0]))
    tensor([ 1., -1.,  1., -1.])
    """
    low = divergence < _baseline(divergence, groups, n_groups)
    selected = action.bool()
    return _sign_reward((selected & low) | (~selected & ~low))


def selection_reward(
    action,
    student_probs,
    teacher_mc_probs,
    alpha1: float = 0.2,
    alpha2: float = 1.8,
    baseline: str = "class",
):
    """Per-sample reward ``alpha1 (r_unc - 0.5) + alpha2 (r_tr - 0.5)``.

    Parameters
    ----------
    action : torch.Tensor of shape (n,)
        1 = selected, 0 = skipped.
    student_probs : torch.Tensor of shape (n, n_classes)
        Student's softmax prediction.
    teacher_mc_probs : torch.Tensor of shape (n, n_classes)
        Mean of the teacher's MC-dropout softmax predictions.
    alpha1, alpha2 : float
        Weights of the uncertainty-consistency and transferability rewards.
    baseline : {"batch", "class"}, default="class"
        What "below the mean" compares with: the mean over the batch's samples of
        the same teacher-predicted class, so that no class can be skipped as a
        whole (the default of :class:`~skrcd.RCDKDClassifier` too), or the batch
        mean (the paper).

    Returns
    -------
    torch.Tensor of shape (n,)

    Examples
    --------
    >>> import torch
    >>> student = torch.tensor([[0.9, 0.1], [0.5, 0.5]])
    >>> teacher = torch.tensor([[0.95, 0.05], [0.1, 0.9]])
    >>> selection_reward(torch.tensor([1, 0]), student, teacher, baseline="batch")  # both agree with both rewards
    tensor([1., 1.])
    """
    if baseline not in ("batch", "class"):
        raise ValueError(f"baseline must be 'batch' or 'class', got {baseline!r}")
    groups = teacher_mc_probs.argmax(dim=1) if baseline == "class" else None
    k = teacher_mc_probs.shape[1]
    r_unc = uncertainty_consistency_reward(action, entropy(student_probs), entropy(teacher_mc_probs), groups, k)
    r_tr = transferability_reward(action, kl_divergence(student_probs, teacher_mc_probs), groups, k)
    return alpha1 * (r_unc - 0.5) + alpha2 * (r_tr - 0.5)
