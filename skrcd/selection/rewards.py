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
    "is_low",
    "rank_fraction",
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


def _group_counts(groups, n_groups, like):
    return torch.zeros(n_groups, dtype=like.dtype, device=like.device).index_add_(0, groups, torch.ones_like(like))


def _baseline(x, groups=None, n_groups=None):
    """The mean each value is compared with: the batch mean, or the mean of the value's group.

    A value alone in its group is compared with the batch mean: against its own
    mean it could never be "below".
    """
    if groups is None:
        return x.mean()
    sums = torch.zeros(n_groups, dtype=x.dtype, device=x.device).index_add_(0, groups, x)
    counts = _group_counts(groups, n_groups, x)
    return torch.where(counts[groups] >= 2, (sums / counts.clamp_min(1))[groups], x.mean())


def rank_fraction(x, groups=None, n_groups=None):
    """Mid-rank of each value within its group (or the batch) as a fraction in (0, 1).

    The smallest of ``m`` values gets ``0.5 / m``, the largest ``1 - 0.5 / m``.
    Values alone in their group are ranked within the whole batch. One sort per
    call, no Python loop over groups.

    Parameters
    ----------
    x : torch.Tensor of shape (n,)
    groups : torch.Tensor of shape (n,), long, optional
    n_groups : int, optional
        Number of groups (required with ``groups``).

    Returns
    -------
    torch.Tensor of shape (n,)

    Examples
    --------
    >>> import torch
    >>> rank_fraction(torch.tensor([0.5, 0.1, 0.9, 3.0, 2.0]), torch.tensor([0, 0, 0, 1, 1]), 2)
    tensor([0.5000, 0.1667, 0.8333, 0.7500, 0.2500])
    """
    n = x.shape[0]
    order = torch.argsort(x)
    batch_rank = torch.empty_like(x)
    batch_rank[order] = torch.arange(n, dtype=x.dtype, device=x.device)
    batch_frac = (batch_rank + 0.5) / n
    if groups is None:
        return batch_frac
    order = order[torch.argsort(groups[order], stable=True)]  # by group, then by value
    counts = _group_counts(groups, n_groups, x)
    starts = torch.cumsum(counts, 0) - counts
    rank = torch.empty_like(x)
    rank[order] = torch.arange(n, dtype=x.dtype, device=x.device) - starts[groups[order]]
    return torch.where(counts[groups] >= 2, (rank + 0.5) / counts[groups].clamp_min(1), batch_frac)


def is_low(x, groups=None, n_groups=None, quantile=None):
    """Whether each value counts as "low" in the rewards.

    Below the mean of its group (or batch) when ``quantile`` is None (the paper's
    rule), else among the lowest ``quantile`` of its group by mid-rank, so that a
    fixed share of each group is "low" whatever the skew of the values.

    Parameters
    ----------
    x : torch.Tensor of shape (n,)
    groups : torch.Tensor of shape (n,), long, optional
    n_groups : int, optional
    quantile : float in (0, 1), optional

    Returns
    -------
    torch.Tensor of shape (n,), bool

    Examples
    --------
    >>> import torch
    >>> kl = torch.tensor([0.1, 0.2, 0.3, 4.0])  # skewed: 3 of 4 are below the mean
    >>> is_low(kl).tolist(), is_low(kl, quantile=0.5).tolist()
    ([True, True, True, False], [True, True, False, False])
    """
    if quantile is None:
        return x < _baseline(x, groups, n_groups)
    return rank_fraction(x, groups, n_groups) < quantile


def uncertainty_consistency_reward(action, student_entropy, teacher_entropy, groups=None, n_groups=None,
                                   quantile=None):
    """+1 where (selected and both confident) or (skipped and both unsure), else -1.

    "Confident" means an entropy below its batch mean (or below the mean of its
    group, when ``groups`` is given), or among the lowest ``quantile`` (see
    :func:`is_low`).

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
    quantile : float in (0, 1), optional
        Threshold by rank instead of the mean.

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
    s_conf = is_low(student_entropy, groups, n_groups, quantile)
    t_conf = is_low(teacher_entropy, groups, n_groups, quantile)
    selected = action.bool()
    agree = (selected & s_conf & t_conf) | (~selected & ~s_conf & ~t_conf)
    return _sign_reward(agree)


def transferability_reward(action, divergence, groups=None, n_groups=None, quantile=None):
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
    low = is_low(divergence, groups, n_groups, quantile)
    selected = action.bool()
    return _sign_reward((selected & low) | (~selected & ~low))


def selection_reward(
    action,
    student_probs,
    teacher_mc_probs,
    alpha1: float = 0.2,
    alpha2: float = 1.8,
    baseline: str = "class",
    quantile=None,
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
    quantile : float in (0, 1), optional
        None: "low" means below the mean of the group (the paper); a number: among
        the lowest ``quantile`` of the group by rank (:func:`is_low`).

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
    r_unc = uncertainty_consistency_reward(action, entropy(student_probs), entropy(teacher_mc_probs), groups, k,
                                           quantile)
    r_tr = transferability_reward(action, kl_divergence(student_probs, teacher_mc_probs), groups, k, quantile)
    return alpha1 * (r_unc - 0.5) + alpha2 * (r_tr - 0.5)
