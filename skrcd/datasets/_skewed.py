"""Small, skewed versions of the cross-domain scenarios: label shift between source and target.

Real targets are small and imbalanced, and their class shares differ from the
source's, though not at random: in activity data most subjects walk more than
they climb stairs, and some never do one activity at all. :func:`skewed_scenario`
turns a balanced scenario into such a pair: the source and target train parts are
subsampled to a fixed skewed profile laid over a seeded order of the classes; the
target's order is the source's with two classes' ranks swapped, and some seeds
leave one or two classes out of the target. The recipe depends only on the seed
and the scenario, so anyone gets the same subsets.
"""

from __future__ import annotations

import numpy as np

from ._base import Scenario

__all__ = ["SKEWED_PROFILES", "skewed_profile", "skewed_indices", "skewed_scenario", "profile_weights"]

#: Class shares of a skewed domain by number of classes, largest first: about 40 % for the largest class and
#: 3-4 % for the smallest (the spread of per-subject class shares in public activity data). The order of the
#: classes is drawn per domain and seed.
SKEWED_PROFILES = {
    6: (0.40, 0.24, 0.15, 0.10, 0.07, 0.04),
    9: (0.40, 0.16, 0.11, 0.08, 0.07, 0.06, 0.05, 0.04, 0.03),
}
#: Windows of each skewed train part at most (fewer when a class has too few windows for its share).
SKEWED_SIZE = 100


def skewed_profile(n_classes):
    """The skewed class shares for ``n_classes`` classes, largest first.

    :data:`SKEWED_PROFILES` where it has the count; otherwise geometric shares
    whose largest is ten times the smallest.

    Parameters
    ----------
    n_classes : int
        At least 2.

    Returns
    -------
    numpy.ndarray of shape (n_classes,)
        Shares summing to 1.

    Examples
    --------
    >>> skewed_profile(6).round(2).tolist()
    [0.4, 0.24, 0.15, 0.1, 0.07, 0.04]
    >>> p = skewed_profile(4)
    >>> round(float(p[0] / p[-1]), 6), round(float(p.sum()), 6)
    (10.0, 1.0)
    """
    if n_classes < 2:
        raise ValueError(f"a skewed profile needs at least 2 classes, got {n_classes}")
    if n_classes in SKEWED_PROFILES:
        return np.asarray(SKEWED_PROFILES[n_classes], dtype=float)
    shares = 10.0 ** (-np.arange(n_classes) / (n_classes - 1))
    return shares / shares.sum()


def _largest_remainders(n, shares):
    """``n`` split in proportion to ``shares`` (largest remainders; a zero share gives nothing)."""
    exact = np.asarray(shares, dtype=float) * n
    counts = np.floor(exact).astype(int)
    rest = n - counts.sum()
    counts[np.argsort(-(exact - counts), kind="stable")[:rest]] += 1
    return counts


def skewed_indices(y, shares, size=SKEWED_SIZE, random_state=None):
    """Row indices of a subsample of ``y`` whose class shares follow ``shares``.

    The subsample has ``size`` rows, or fewer when a class has fewer rows than its
    share asks for (the size then shrinks so that every share still holds). A
    class with a positive share keeps at least one row.

    Parameters
    ----------
    y : array-like of shape (n,)
        Class indices ``0..len(shares) - 1``.
    shares : array-like of shape (n_classes,)
        Target share of each class (0: left out); normalised to sum to 1.
    size : int, default=100
        Rows wanted.
    random_state : int, numpy.random.Generator or None
        Which rows of each class are drawn.

    Returns
    -------
    numpy.ndarray of int
        Sorted row indices.

    Examples
    --------
    >>> y = np.repeat(np.arange(3), 50)
    >>> idx = skewed_indices(y, [0.6, 0.3, 0.1], size=50, random_state=0)
    >>> np.bincount(y[idx]).tolist()
    [30, 15, 5]
    """
    y = np.asarray(y)
    shares = np.asarray(shares, dtype=float)
    if shares.ndim != 1 or (shares < 0).any() or shares.sum() <= 0:
        raise ValueError(f"shares must be non-negative with a positive sum, got {shares.tolist()}")
    shares = shares / shares.sum()
    available = np.bincount(y, minlength=len(shares))[: len(shares)]
    present = shares > 0
    if (available[present] == 0).any():
        missing = np.flatnonzero(present & (available == 0)).tolist()
        raise ValueError(f"classes {missing} have a positive share and no rows")
    size = int(min(size, np.floor(np.min(available[present] / shares[present]))))
    counts = np.minimum(np.maximum(_largest_remainders(size, shares), present.astype(int)), available)
    rng = np.random.default_rng(random_state)
    picked = [rng.choice(np.flatnonzero(y == c), size=k, replace=False) for c, k in enumerate(counts) if k]
    return np.sort(np.concatenate(picked))


def profile_weights(y, shares):
    """Weights of labelled rows that give their classes the shares ``shares``.

    Scoring a whole test part with these weights measures a classifier on a
    target whose classes follow ``shares`` without throwing rows away. A class
    with share 0 gets weight 0.

    Parameters
    ----------
    y : array-like of shape (n,)
        Class indices.
    shares : array-like of shape (n_classes,)

    Returns
    -------
    numpy.ndarray of shape (n,)
        Weights with mean 1 over the rows of classes with a positive share.

    Examples
    --------
    >>> w = profile_weights(np.array([0, 0, 1, 1]), [0.75, 0.25])
    >>> w.tolist()
    [1.5, 1.5, 0.5, 0.5]
    """
    y = np.asarray(y)
    shares = np.asarray(shares, dtype=float)
    shares = shares / shares.sum()
    counts = np.bincount(y, minlength=len(shares))[: len(shares)].astype(float)
    per_class = np.divide(shares, counts, out=np.zeros_like(shares), where=counts > 0)
    w = per_class[y]
    kept = w > 0
    return w * kept.sum() / w.sum() if kept.any() else w


def skewed_scenario(scenario, seed, source, target, size=SKEWED_SIZE, classes=None):
    """A balanced :class:`Scenario` turned into a small one with label shift.

    For the (``source``, ``target``, ``seed``) triple, a seeded generator draws an
    order of the classes and lays :func:`skewed_profile` over it for the source;
    the target takes the same order with the ranks of two classes drawn at random
    swapped (a label shift that may be mild or, when the largest and the smallest
    class trade places, strong), then loses its ``seed % 3`` smallest classes (0,
    1 or 2), their shares going to the others. The source and target train parts
    are subsampled to these profiles (:func:`skewed_indices`); the target's test
    part is kept whole, with ``w_test`` (:func:`profile_weights`) to score it with
    the target's profile.

    Parameters
    ----------
    scenario : Scenario
        The balanced scenario (``y_*`` class indices ``0..n_classes - 1``).
    seed : int
        The recipe's seed (the benchmark passes the run's seed).
    source, target : int
        The domains (they enter the seed, so that each scenario has its own draw).
    size : int, default=100
        Windows of each train part at most.
    classes : int, optional
        Number of classes (default: the largest label of the source plus one).

    Returns
    -------
    Scenario
        With ``source_profile`` and ``target_profile`` (shares per class) and
        ``w_test``; ``y_tgt`` holds the subsampled target's labels (evaluation only).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> y = np.repeat(np.arange(6), 40)
    >>> sc = Scenario(rng.normal(size=(240, 2, 8)), y, rng.normal(size=(240, 2, 8)), rng.normal(size=(60, 2, 8)),
    ...               np.repeat(np.arange(6), 10), None, None, y)
    >>> sk = skewed_scenario(sc, seed=1, source=2, target=11)
    >>> int((sk.target_profile == 0).sum()), len(sk.y_src) <= 100, sk.w_test.shape
    (1, True, (60,))
    """
    n_classes = int(classes if classes is not None else np.max(scenario.y_src) + 1)
    profile = skewed_profile(n_classes)
    rng = np.random.default_rng([int(seed), int(source), int(target), 0x5CE3])
    order = rng.permutation(n_classes)  # order[r]: the class of rank r (share profile[r])
    src_shares = np.empty(n_classes)
    src_shares[order] = profile
    order = order.copy()
    a, b = rng.choice(n_classes, size=2, replace=False)
    order[[a, b]] = order[[b, a]]
    tgt_shares = np.empty(n_classes)
    tgt_shares[order] = profile
    n_absent = int(seed) % 3
    if n_absent:
        tgt_shares[order[-n_absent:]] = 0.0
        tgt_shares /= tgt_shares.sum()
    src_idx = skewed_indices(scenario.y_src, src_shares, size, rng)
    tgt_labels = scenario.y_tgt
    if tgt_labels is None:
        raise ValueError("skewed_scenario needs the target train labels (Scenario.y_tgt) to subsample the target")
    tgt_idx = skewed_indices(tgt_labels, tgt_shares, size, rng)
    return Scenario(scenario.X_src[src_idx], scenario.y_src[src_idx], scenario.X_tgt[tgt_idx], scenario.X_test,
                    scenario.y_test, scenario.X_src_test, scenario.y_src_test, tgt_labels[tgt_idx],
                    w_test=profile_weights(scenario.y_test, tgt_shares), source_profile=src_shares,
                    target_profile=tgt_shares)
